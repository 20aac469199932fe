"""Adapter versions: lineage and evaluations, verified downloads, approval and retirement."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from django.db import IntegrityError

from governance.models import AuditEvent
from training.models import AdapterVersion, Evaluation

pytestmark = pytest.mark.django_db
URL = "/api/v1/adapters/"
REASON = "The baseline fails too; the domain team accepts 0.45 for the pilot."


def _scored(adapter: AdapterVersion, *, passed: bool) -> AdapterVersion:
    """Set the adapter's own hold-out evaluation to pass or fail (a tiny model's score is not stable)."""
    rows = Evaluation.objects.filter(adapter_version=adapter, subject="adapter")
    assert rows.update(passed=passed, score=0.9 if passed else 0.1) == 1
    return adapter


@pytest.fixture
def passing(adapter: AdapterVersion) -> AdapterVersion:
    return _scored(adapter, passed=True)


@pytest.fixture
def failing(adapter: AdapterVersion) -> AdapterVersion:
    return _scored(adapter, passed=False)


def test_the_detail_shows_lineage_and_the_evaluations_beside_the_baseline(api, auditor, adapter):
    body = api(auditor).get(f"{URL}{adapter.pk}/").json()
    assert body["lineage"]["dataset_version"]["id"] == adapter.dataset_version_id
    assert body["lineage"]["base_model"]["id"] == adapter.base_model_id
    assert sorted(e["subject"] for e in body["evaluations"]) == ["adapter", "baseline"]
    assert body["files"]["adapter_model.safetensors"]["sha256"]


def test_adapters_are_listed_with_filters(api, auditor, adapter):
    assert [a["id"] for a in api(auditor).get(f"{URL}?status=candidate").json()["results"]] == [adapter.pk]
    assert api(auditor).get(f"{URL}?status=approved").json()["results"] == []


def test_an_engineer_downloads_the_files_with_their_recorded_hashes(api, engineer, adapter):
    response = api(engineer).get(f"{URL}{adapter.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    weights = archive.read("adapter_model.safetensors")
    assert hashlib.sha256(weights).hexdigest() == adapter.files["adapter_model.safetensors"]["sha256"]
    assert "SHA256SUMS" in archive.namelist()
    assert AuditEvent.objects.filter(action="adapter_version.downloaded", actor="engineer").count() == 1


def test_an_auditor_may_not_download_adapter_weights(api, auditor, adapter):
    response = api(auditor).get(f"{URL}{adapter.pk}/download/")
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="adapter_version.downloaded").exists()


def test_files_changed_on_disk_are_not_served(api, engineer, adapter):
    (Path(adapter.path) / "adapter_config.json").write_text("{}")
    response = api(engineer).get(f"{URL}{adapter.pk}/download/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "adapter_files_modified"
    assert response.json()["error"]["details"]["missing_or_changed"] == ["adapter_config.json"]


def test_an_officer_approves_a_candidate(api, officer, passing):
    adapter = passing
    response = api(officer).post(f"{URL}{adapter.pk}/approve/")
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert response.json()["approved_by"] == "officer"
    assert (response.json()["override_justification"], response.json()["override_by"]) == ("", None)


def test_approving_twice_records_one_approval(api, officer, passing):
    adapter = passing
    api(officer).post(f"{URL}{adapter.pk}/approve/")
    assert api(officer).post(f"{URL}{adapter.pk}/approve/").status_code == 200
    assert AuditEvent.objects.filter(action="adapter_version.approved").count() == 1


def test_an_engineer_cannot_approve(api, engineer, adapter):
    assert api(engineer).post(f"{URL}{adapter.pk}/approve/").status_code == 403
    adapter.refresh_from_db()
    assert adapter.status == "candidate"


def test_a_tainted_adapter_cannot_be_approved(api, officer, adapter):
    taint = api(officer).post(f"{URL}{adapter.pk}/taint/", {"reason": "erasure request 12"}, format="json")
    assert taint.json()["status"] == "tainted"
    response = api(officer).post(f"{URL}{adapter.pk}/approve/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "adapter_tainted"


def test_an_approved_adapter_is_retired_and_cannot_be_approved_again(api, officer, passing):
    adapter = passing
    api(officer).post(f"{URL}{adapter.pk}/approve/")
    assert api(officer).post(f"{URL}{adapter.pk}/retire/").json()["status"] == "retired"
    response = api(officer).post(f"{URL}{adapter.pk}/approve/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "illegal_transition"


def test_a_job_can_hold_only_one_adapter_version(adapter):
    from django.db import transaction

    fields = {f.name: getattr(adapter, f.name) for f in AdapterVersion._meta.fields if f.name not in ("id",)}
    fields["name"] = "another"
    with pytest.raises(IntegrityError), transaction.atomic():
        AdapterVersion.objects.create(**fields)


def test_recording_the_adapter_again_returns_the_first_one(trained_job, adapter):
    from training.services import adapters, runs

    again = adapters.adapter_version_create_for_job(
        job_id=trained_job.pk, output_dir=runs.job_dirs(trained_job.pk)[1], manifest={}, lineage={}
    )
    assert again == adapter
    assert AdapterVersion.objects.count() == 1


def test_an_adapter_that_failed_its_evaluation_is_not_approved_without_a_justification(api, officer, failing):
    response = api(officer).post(f"{URL}{failing.pk}/approve/")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "evaluation_failed"
    evaluation = Evaluation.objects.get(adapter_version=failing, subject="adapter")
    assert error["details"] == [
        {"evaluation": evaluation.pk, "metric": "accuracy", "score": 0.1, "threshold": 0.5}
    ]
    failing.refresh_from_db()
    assert failing.status == "candidate"
    assert not AuditEvent.objects.filter(action="adapter_version.approved").exists()


def test_an_override_with_a_justification_approves_it_and_shows_who_why_and_when(api, officer, failing):
    response = api(officer).post(
        f"{URL}{failing.pk}/approve/", {"override_justification": f"  {REASON} "}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["override_justification"], body["override_by"]) == (
        "approved",
        REASON,
        "officer",
    )
    assert body["override_at"] == body["approved_at"]
    detail = api(officer).get(f"{URL}{failing.pk}/").json()
    assert detail["override_justification"] == REASON
    event = AuditEvent.objects.get(action="adapter_version.approved")
    evaluation = Evaluation.objects.get(adapter_version=failing, subject="adapter")
    assert event.payload["override"] == {"justification": REASON, "failed_evaluations": [evaluation.pk]}


@pytest.mark.parametrize("text", ["", "because I said so", "x" * 4001])
def test_a_justification_blank_shorter_than_20_or_longer_than_4000_characters_is_refused(
    api, officer, failing, text
):
    response = api(officer).post(
        f"{URL}{failing.pk}/approve/", {"override_justification": text}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"
    assert list(response.json()["error"]["details"]) == ["override_justification"]
    failing.refresh_from_db()
    assert failing.status == "candidate"


def test_the_service_refuses_a_justification_of_only_blanks_and_few_characters(officer, failing):
    from governance.errors import ValidationFailed
    from training.services.adapters import adapter_version_approve

    with pytest.raises(ValidationFailed) as raised:
        adapter_version_approve(actor=officer, adapter=failing, override_justification="   too short     ")
    assert raised.value.code == "invalid_override_justification"


def test_a_justification_for_an_adapter_that_passed_is_not_recorded_as_an_override(api, officer, passing):
    response = api(officer).post(
        f"{URL}{passing.pk}/approve/", {"override_justification": REASON}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["override_justification"], response.json()["override_at"]) == ("", None)
    assert "override" not in AuditEvent.objects.get(action="adapter_version.approved").payload


def test_a_tainted_adapter_cannot_be_downloaded(api, engineer, officer, adapter):
    from training.services.adapters import adapter_version_taint

    adapter_version_taint(actor=officer, adapter=adapter, reason="erasure request 12")
    response = api(engineer).get(f"{URL}{adapter.pk}/download/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "adapter_tainted"
    assert not AuditEvent.objects.filter(action="adapter_version.downloaded").exists()
