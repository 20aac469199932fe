"""Adapter versions: lineage and evaluations, verified downloads, approval and retirement."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from django.db import IntegrityError

from governance.models import AuditEvent
from training.models import AdapterVersion

pytestmark = pytest.mark.django_db
URL = "/api/v1/adapters/"


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


def test_an_officer_approves_a_candidate(api, officer, adapter):
    response = api(officer).post(f"{URL}{adapter.pk}/approve/")
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert response.json()["approved_by"] == "officer"


def test_approving_twice_records_one_approval(api, officer, adapter):
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


def test_an_approved_adapter_is_retired_and_cannot_be_approved_again(api, officer, adapter):
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
