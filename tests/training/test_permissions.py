"""The permission matrix of the training API, endpoint by endpoint and role by role.

read (list, retrieve, events): officer, engineer, auditor
register base models, create / cancel jobs, record evaluations: officer, engineer
approve / retire / taint adapters, taint base models: officer
download adapter weights: officer, engineer (auditors see lineage and hashes, not weights)
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db
ALL = ("officer", "engineer", "auditor")
WRITERS = ("officer", "engineer")
OFFICERS = ("officer",)


def _users(request: Any) -> dict[str, Any]:
    return {name: request.getfixturevalue(name) for name in (*ALL, "outsider")}


READS = [
    "/api/v1/base-models/",
    "/api/v1/base-models/{base_model}/",
    "/api/v1/fine-tune-jobs/",
    "/api/v1/fine-tune-jobs/{job}/",
    "/api/v1/fine-tune-jobs/{job}/events/",
    "/api/v1/adapters/",
    "/api/v1/adapters/{adapter}/",
    "/api/v1/evaluations/",
    "/api/v1/evaluations/{evaluation}/",
]
# Status changes only an officer makes, with the body each needs.
OFFICER_ACTIONS = [
    ("/api/v1/adapters/{adapter}/approve/", {}),
    ("/api/v1/adapters/{adapter}/retire/", {}),
    ("/api/v1/adapters/{adapter}/taint/", {"reason": "erasure request 3"}),
    ("/api/v1/base-models/{base_model}/taint/", {"reason": "licence withdrawn"}),
]
# The (route, method) pairs the tests below check one by one, beyond READS and OFFICER_ACTIONS.
OTHER_LINES = {
    ("adapter-download", "GET"),
    ("fine-tune-job-list", "POST"),
    ("fine-tune-job-cancel", "POST"),
    ("base-model-list", "POST"),
    ("evaluation-list", "POST"),
}


def _ids(adapter: Any) -> dict[str, int]:
    return {
        "base_model": adapter.base_model_id,
        "job": adapter.job_id,
        "adapter": adapter.pk,
        "evaluation": adapter.evaluations.first().pk,
    }


@pytest.mark.parametrize("path", READS)
def test_every_role_reads_and_an_outsider_or_anonymous_user_does_not(request, api, adapter, path):
    users = _users(request)
    url = path.format(**_ids(adapter))
    for name in ALL:
        assert api(users[name]).get(url).status_code == 200, (name, url)
    assert api(users["outsider"]).get(url).status_code == 403
    assert api(None).get(url).status_code == 401


def test_downloads_are_for_officers_and_engineers(request, api, adapter):
    users = _users(request)
    url = f"/api/v1/adapters/{adapter.pk}/download/"
    assert {n: api(users[n]).get(url).status_code for n in (*ALL, "outsider")} == {
        "officer": 200,
        "engineer": 200,
        "auditor": 403,
        "outsider": 403,
    }


@pytest.mark.parametrize(("path", "body"), OFFICER_ACTIONS)
def test_only_officers_change_an_adapters_or_base_models_status(request, api, adapter, path, body):
    users = _users(request)
    url = path.format(**_ids(adapter))
    adapter.evaluations.filter(subject="adapter").update(passed=True)  # a failed one needs an override
    for name in ("engineer", "auditor", "outsider"):
        assert api(users[name]).post(url, body, format="json").status_code == 403, name
    assert api(None).post(url, body, format="json").status_code == 401
    assert api(users["officer"]).post(url, body, format="json").status_code == 200


def test_every_training_route_and_method_has_a_line_here() -> None:
    from django.urls import URLPattern, URLResolver, get_resolver, resolve

    def walk(patterns: list[Any]) -> Any:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns)
            elif isinstance(entry, URLPattern) and entry.callback.__module__.startswith("training."):
                methods = {m.upper() for m in getattr(entry.callback, "actions", {})} - {"HEAD", "OPTIONS"}
                yield from ((entry.name, method) for method in methods)

    ids = dict.fromkeys(("base_model", "job", "adapter", "evaluation"), 1)
    lines = {(resolve(path.format(**ids)).url_name, "GET") for path in READS}
    lines |= {(resolve(path.format(**ids)).url_name, "POST") for path, _ in OFFICER_ACTIONS}
    assert set(walk(get_resolver().url_patterns)) == lines | OTHER_LINES


def test_auditors_and_outsiders_cannot_create_or_cancel_jobs(request, api, job_payload):
    users = _users(request)
    for name in ("auditor", "outsider"):
        assert api(users[name]).post("/api/v1/fine-tune-jobs/", job_payload, format="json").status_code == 403
    job = api(users["engineer"]).post("/api/v1/fine-tune-jobs/", job_payload, format="json").json()
    for name in ("auditor", "outsider"):
        assert api(users[name]).post(f"/api/v1/fine-tune-jobs/{job['id']}/cancel/").status_code == 403
    assert api(users["officer"]).post(f"/api/v1/fine-tune-jobs/{job['id']}/cancel/").status_code == 200


def test_auditors_cannot_register_base_models_or_record_evaluations(request, api, adapter, demo_model_dir):
    users = _users(request)
    model = {"name": "other", "path": str(demo_model_dir)}
    evaluation = {
        "adapter_version": adapter.pk,
        "dataset_version": adapter.dataset_version_id,
        "metrics": {"rouge_l": 0.5},
        "sample_count": 1,
    }
    for name in ("auditor", "outsider"):
        assert api(users[name]).post("/api/v1/base-models/", model, format="json").status_code == 403
        assert api(users[name]).post("/api/v1/evaluations/", evaluation, format="json").status_code == 403
    assert api(users["engineer"]).post("/api/v1/base-models/", model, format="json").status_code == 201
    assert api(users["officer"]).post("/api/v1/evaluations/", evaluation, format="json").status_code == 201


# --- The services ask the same policy, whoever calls them ----------------------------------------


@pytest.mark.parametrize("name", ["engineer", "auditor"])
def test_an_engineer_or_auditor_calling_the_adapter_taint_service_is_refused(request, adapter, name):
    from governance.errors import NotPermitted
    from training.services import adapters

    with pytest.raises(NotPermitted) as refused:
        adapters.adapter_version_taint(
            actor=request.getfixturevalue(name), adapter=adapter, reason="erasure 3"
        )

    assert refused.value.code == "forbidden"
    adapter.refresh_from_db()
    assert adapter.status == "candidate"


def test_the_platform_itself_may_taint_an_adapter(adapter):
    from training.services import adapters

    assert adapters.adapter_version_taint(actor=None, adapter=adapter, reason="erasure 3").status == "tainted"


def test_an_engineer_calling_the_base_model_taint_service_is_refused(engineer, base_model):
    from governance.errors import NotPermitted
    from training.services import base_models

    with pytest.raises(NotPermitted):
        base_models.base_model_taint(actor=engineer, base_model=base_model, reason="licence withdrawn")

    base_model.refresh_from_db()
    assert base_model.taint_reason == ""


def test_an_auditor_calling_the_cancel_service_is_refused(request, api, job_payload, auditor):
    from governance.errors import NotPermitted
    from training.models import FineTuneJob
    from training.services import jobs

    created = api(request.getfixturevalue("engineer")).post(
        "/api/v1/fine-tune-jobs/", job_payload, format="json"
    )
    job = FineTuneJob.objects.get(pk=created.json()["id"])

    with pytest.raises(NotPermitted):
        jobs.fine_tune_job_cancel(actor=auditor, job=job)

    job.refresh_from_db()
    assert job.status == "queued"


def test_an_auditor_downloading_through_the_service_is_refused(auditor, adapter):
    from governance.errors import NotPermitted
    from training.services import adapters

    with pytest.raises(NotPermitted):
        adapters.adapter_version_download(actor=auditor, adapter=adapter)
