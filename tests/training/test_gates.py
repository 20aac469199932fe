"""The gates of a job (DESIGN sections 8, 15): at creation a refusal is a 409 listing every failed gate;
when a worker claims the job they run again, and a job that fails them then ends failed, untrained."""

from __future__ import annotations

from typing import Any

import pytest

from governance.models import DPIA, AuditEvent
from tests.factories import AISystemFactory
from tests.training.helpers import ticket_records
from training.models import AdapterVersion, FineTuneEvent, FineTuneJob

pytestmark = pytest.mark.django_db
URL = "/api/v1/fine-tune-jobs/"


def _gates(response: Any) -> list[str]:
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "gates_failed"
    return [d["gate"] for d in error["details"]]


def _post(api: Any, user: Any, payload: dict[str, Any], version: Any) -> Any:
    return api(user).post(URL, {**payload, "dataset_version": version.pk}, format="json")


def test_a_dataset_version_still_scanning_is_refused(api, engineer, job_payload, make_version):
    version = make_version(scan=False)
    assert _gates(_post(api, engineer, job_payload, version)) == ["dataset_not_scanned"]
    assert not FineTuneJob.objects.exists()


def test_a_knowledge_dataset_is_refused(api, engineer, job_payload, make_version):
    version = make_version(purpose="knowledge")
    assert _gates(_post(api, engineer, job_payload, version)) == ["dataset_purpose"]


def test_a_dataset_without_a_legal_basis_is_refused(api, engineer, job_payload, make_version):
    version = make_version(legal_basis="")
    assert _gates(_post(api, engineer, job_payload, version)) == ["no_legal_basis"]


def test_personal_data_without_an_approved_dpia_is_refused(api, engineer, job_payload, make_version):
    version = make_version(ticket_records(40, email=True))
    assert version.contains_personal_data
    assert _gates(_post(api, engineer, job_payload, version)) == ["no_dpia"]


def test_personal_data_covered_by_an_approved_dpia_is_accepted(
    api, engineer, job_payload, make_version, approved_dpia
):
    version = make_version(ticket_records(40, email=True))
    approved_dpia(version.dataset)
    assert _post(api, engineer, job_payload, version).status_code == 201


def test_an_expired_dpia_does_not_cover_personal_data(
    api, engineer, job_payload, make_version, approved_dpia
):
    import datetime as dt

    from django.utils import timezone

    version = make_version(ticket_records(40, email=True))
    approved_dpia(version.dataset, review_due=timezone.localdate() - dt.timedelta(days=1))
    assert _gates(_post(api, engineer, job_payload, version)) == ["no_dpia"]


def test_a_version_without_a_holdout_is_refused(api, engineer, job_payload, make_version):
    version = make_version(ticket_records(1))
    assert version.holdout_count == 0
    assert "no_holdout" in _gates(_post(api, engineer, job_payload, version))


def test_a_tainted_base_model_is_refused(api, engineer, officer, job_payload, version, base_model):
    from training.services.base_models import base_model_taint

    base_model_taint(actor=officer, base_model=base_model, reason="licence withdrawn")
    assert _gates(_post(api, engineer, job_payload, version)) == ["tainted_base_model"]


def test_a_version_whose_adapter_was_tainted_is_refused(api, engineer, officer, job_payload, adapter):
    from training.services.adapters import adapter_version_taint

    adapter_version_taint(actor=officer, adapter=adapter, reason="erasure request 12")
    assert _gates(_post(api, engineer, job_payload, adapter.dataset_version)) == ["tainted_dataset_version"]


def test_every_failed_gate_is_listed_at_once(api, engineer, job_payload, make_version):
    version = make_version(ticket_records(40, email=True), scan=True, purpose="knowledge", legal_basis="")
    assert _gates(_post(api, engineer, job_payload, version)) == [
        "dataset_purpose",
        "no_legal_basis",
        "no_dpia",
    ]


def test_records_all_longer_than_the_max_sequence_length_are_refused_with_the_count(
    api, engineer, job_payload, make_version
):
    version = make_version()
    payload = {**job_payload, "hyperparameters": {**job_payload["hyperparameters"], "max_seq_length": 8}}
    response = _post(api, engineer, payload, version)
    assert _gates(response) == ["records_too_long"]
    detail = response.json()["error"]["details"][0]
    train = version.record_count - version.holdout_count
    assert detail["details"] == {"train_records": train, "too_long": train, "max_seq_length": 8}
    assert f"all {train} train records" in detail["message"]


def test_a_refusal_is_audited_with_the_gate_codes_and_no_job_is_stored(
    api, officer, job_payload, make_version
):
    version = make_version(purpose="knowledge", legal_basis="")
    _post(api, officer, job_payload, version)
    event = AuditEvent.objects.get(action="fine_tune_job.refused")
    assert event.payload["gates"] == ["dataset_purpose", "no_legal_basis"]
    assert event.payload["dataset_version"] == version.pk
    assert event.actor == "officer"
    assert not FineTuneJob.objects.exists()


def test_a_base_model_whose_manifest_is_pending_is_refused(api, engineer, job_payload, base_model, version):
    base_model.status, base_model.manifest_sha256 = "pending", ""
    base_model.save()
    assert _gates(_post(api, engineer, job_payload, version)) == ["base_model_not_ready"]


# --- The job's AI system --------------------------------------------------------------------------


def test_a_dataset_not_linked_to_the_jobs_ai_system_is_refused(api, engineer, job_payload, make_version):
    version = make_version()
    version.dataset.ai_systems.clear()
    response = _post(api, engineer, job_payload, version)
    assert _gates(response) == ["dataset_not_linked"]
    detail = response.json()["error"]["details"][0]["details"]
    assert detail == {"ai_system": job_payload["ai_system"], "dataset": version.dataset_id}


def test_a_dpia_of_another_ai_system_does_not_cover_the_job(
    api, engineer, job_payload, make_version, approved_dpia, ai_system
):
    other = AISystemFactory(name="Other", owner=engineer)
    version = make_version(ticket_records(40, email=True))
    version.dataset.ai_systems.add(other)
    approved_dpia(version.dataset)  # assesses `ai_system`, not `other`
    response = _post(api, engineer, {**job_payload, "ai_system": other.pk}, version)
    assert _gates(response) == ["dpia_not_for_ai_system"]


def test_a_job_cannot_train_on_another_systems_data_under_that_systems_dpia(
    api, engineer, job_payload, make_version, approved_dpia, ai_system
):
    other = AISystemFactory(name="Other", owner=engineer)
    version = make_version(ticket_records(40, email=True))  # linked to `ai_system`, DPIA for it
    approved_dpia(version.dataset)
    response = _post(api, engineer, {**job_payload, "ai_system": other.pk}, version)
    assert _gates(response) == ["dataset_not_linked", "dpia_not_for_ai_system"]


# --- Again when the worker claims the job ----------------------------------------------------------


def _queued(engineer: Any, ai_system: Any, base_model: Any, version: Any, job_payload: Any) -> FineTuneJob:
    from training.services import jobs

    job, _ = jobs.fine_tune_job_create(
        actor=engineer,
        ai_system=ai_system,
        base_model=base_model,
        dataset_version=version,
        hyperparameters=job_payload["hyperparameters"],
        seed=3,
    )
    return job


def _claim_and_run(job: FineTuneJob) -> FineTuneJob:
    from training.services import jobs, runs

    assert jobs.fine_tune_job_claim(job_id=job.pk)
    runs.fine_tune_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def _assert_refused_at_claim(job: FineTuneJob, gates: list[str]) -> None:
    assert job.status == "failed"
    assert job.error.startswith(f"refused when the worker claimed it by {len(gates)} gate(s): {gates[0]}: ")
    event = AuditEvent.objects.get(action="fine_tune_job.gates_failed", object_id=str(job.pk))
    assert event.payload == {"gates": gates, "stage": "claim", "attempt": 1}
    assert event.actor == "system"
    assert not AdapterVersion.objects.filter(job=job).exists()
    kinds = set(FineTuneEvent.objects.filter(job=job).values_list("kind", flat=True))
    assert kinds == {"created", "claimed", "gates_failed"}  # never started, never trained


def _expire(dpia: Any) -> None:
    import datetime as dt

    from django.utils import timezone

    DPIA.objects.filter(pk=dpia.pk).update(review_due=timezone.localdate() - dt.timedelta(days=1))


def test_a_job_whose_dpia_expired_while_queued_fails_at_claim_without_training(
    engineer, ai_system, base_model, make_version, approved_dpia, job_payload
):
    version = make_version(ticket_records(40, email=True))
    dpia = approved_dpia(version.dataset)
    job = _queued(engineer, ai_system, base_model, version, job_payload)
    _expire(dpia)
    _assert_refused_at_claim(_claim_and_run(job), ["no_dpia"])


def test_a_job_whose_dataset_was_unlinked_while_queued_fails_at_claim(
    engineer, ai_system, base_model, version, job_payload
):
    job = _queued(engineer, ai_system, base_model, version, job_payload)
    version.dataset.ai_systems.remove(ai_system)
    _assert_refused_at_claim(_claim_and_run(job), ["dataset_not_linked"])


def test_a_job_whose_dataset_version_was_tainted_while_queued_fails_at_claim(
    engineer, officer, ai_system, base_model, adapter, job_payload
):
    from training.services.adapters import adapter_version_taint

    job = _queued(engineer, ai_system, base_model, adapter.dataset_version, job_payload)
    adapter_version_taint(actor=officer, adapter=adapter, reason="erasure request 12")
    _assert_refused_at_claim(_claim_and_run(job), ["tainted_dataset_version"])


def test_a_job_refused_at_claim_is_not_failed_again_by_a_second_delivery(
    engineer, ai_system, base_model, version, job_payload
):
    from training.services import jobs

    job = _queued(engineer, ai_system, base_model, version, job_payload)
    version.dataset.ai_systems.remove(ai_system)
    _claim_and_run(job)
    assert not jobs.fine_tune_job_claim(job_id=job.pk)
    assert AuditEvent.objects.filter(action="fine_tune_job.gates_failed").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.slow
def test_the_real_worker_fails_a_job_whose_dpia_expired_before_it_ran(
    engineer, ai_system, base_model, make_version, approved_dpia, celery_worker
):
    from django.db import transaction

    from tests.conftest import wait_for
    from training.services import jobs

    version = make_version(ticket_records(40, email=True))
    dpia = approved_dpia(version.dataset)
    hyperparameters = {"rank": 4, "alpha": 8, "epochs": 1, "batch_size": 4, "max_seq_length": 64}
    # The job is queued on commit: inside this block it passed its gates and no worker has seen it yet.
    with transaction.atomic():
        job, _ = jobs.fine_tune_job_create(
            actor=engineer,
            ai_system=ai_system,
            base_model=base_model,
            dataset_version=version,
            hyperparameters=hyperparameters,
            seed=3,
        )
        _expire(dpia)
    finished = wait_for(
        lambda: FineTuneJob.objects.filter(pk=job.pk, status__in=["failed", "succeeded"]).first(),
        timeout=240,
    )
    _assert_refused_at_claim(finished, ["no_dpia"])
