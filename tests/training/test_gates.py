"""The gates a job passes at creation (DESIGN section 8): a refusal is a 409 listing every failed gate."""

from __future__ import annotations

from typing import Any

import pytest

from governance.models import AuditEvent
from tests.training.helpers import ticket_records
from training.models import FineTuneJob

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


def test_a_tainted_base_model_is_refused(api, engineer, job_payload, version, base_model):
    from training.services.base_models import base_model_taint

    base_model_taint(actor=engineer, base_model=base_model, reason="licence withdrawn")
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
