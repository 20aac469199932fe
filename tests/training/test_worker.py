"""Jobs run end to end through the API, the real broker and the real Celery worker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from governance.models import AuditEvent, DatasetRecord
from tests.conftest import wait_for
from training.models import AdapterVersion, Evaluation, FineTuneJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.slow]


def _finished(job_id: int) -> FineTuneJob | None:
    job = FineTuneJob.objects.get(pk=job_id)
    return job if job.status in ("succeeded", "failed", "cancelled") else None


def _run(api: Any, user: Any, payload: dict[str, Any], timeout: float = 240) -> FineTuneJob:
    response = api(user).post("/api/v1/fine-tune-jobs/", payload, format="json")
    assert response.status_code == 201, response.content
    return wait_for(lambda: _finished(response.json()["id"]), timeout=timeout)


def test_a_job_trains_on_the_real_worker_and_writes_exactly_one_adapter(
    api, engineer, job_payload, celery_worker
):
    job = _run(api, engineer, job_payload)
    assert job.status == "succeeded", job.error
    adapter = AdapterVersion.objects.get(job=job)
    assert adapter.status == "candidate"
    assert {"adapter_model.safetensors", "adapter_config.json", "training_manifest.json"} <= set(
        adapter.files
    )
    assert adapter.size_bytes == sum(f["size"] for f in adapter.files.values())
    assert adapter.lora_config["r"] == 4
    assert 0 < adapter.trainable_parameters < adapter.total_parameters
    assert job.attempts == 1
    assert job.progress == 1.0


def test_the_adapter_lineage_names_base_model_dataset_hyperparameters_code_and_hardware(
    api, engineer, job_payload, celery_worker
):
    job = _run(api, engineer, job_payload)
    lineage = AdapterVersion.objects.get(job=job).lineage
    assert lineage["base_model"]["manifest_sha256"] == job.base_model.manifest_sha256
    assert lineage["dataset_version"]["sha256"] == job.dataset_version.sha256
    assert lineage["hyperparameters"]["rank"] == 4
    assert lineage["seed"] == 3
    assert "git_commit" in lineage["code_version"] or "package_version" in lineage["code_version"]
    assert lineage["hardware"]["device"] == "cpu"
    assert lineage["hardware"]["torch"]
    job.refresh_from_db()
    assert job.device == "cpu"


def test_the_job_writes_progress_events_with_loss_learning_rate_and_throughput(
    api, engineer, job_payload, celery_worker
):
    job = _run(api, engineer, job_payload)
    events = api(engineer).get(f"/api/v1/fine-tune-jobs/{job.pk}/events/?page_size=100").json()["results"]
    progress = [e for e in events if e["kind"] == "progress"]
    assert progress and all(
        e["loss"] > 0 and e["learning_rate"] >= 0 and e["tokens_per_s"] > 0 for e in progress
    )
    assert any(e["kind"] == "checkpoint" for e in events)
    assert events[-1]["kind"] == "succeeded"


def test_no_holdout_record_was_used_in_training(api, engineer, job_payload, celery_worker):
    job = _run(api, engineer, job_payload)
    adapter = AdapterVersion.objects.get(job=job)
    manifest = json.loads((Path(adapter.path) / "training_manifest.json").read_text())
    trained = set(manifest["trained_record_sha256"])
    records = DatasetRecord.objects.filter(version=job.dataset_version)
    holdout = set(records.filter(split="holdout").values_list("sha256", flat=True))
    train = set(records.filter(split="train").values_list("sha256", flat=True))
    assert holdout and trained
    assert trained.isdisjoint(holdout)
    assert trained == train


def test_the_adapter_and_the_baseline_are_evaluated_on_the_holdout(api, engineer, job_payload, celery_worker):
    job = _run(api, engineer, job_payload)
    rows = {e.subject: e for e in Evaluation.objects.filter(job=job)}
    assert set(rows) == {"adapter", "baseline"}
    adapter, baseline = rows["adapter"], rows["baseline"]
    assert adapter.adapter_version == job.adapter and baseline.adapter_version is None
    for row in rows.values():
        assert row.sample_count == job.dataset_version.holdout_count
        assert {"exact_match", "token_f1", "rouge_l", "accuracy", "macro_f1"} <= set(row.metrics)
        assert row.primary_metric == "accuracy"
        assert row.threshold == 0.5
        assert row.passed == (row.score >= 0.5)


def test_a_finished_job_is_audited_from_creation_to_success(api, engineer, job_payload, celery_worker):
    job = _run(api, engineer, job_payload)
    actions = list(
        AuditEvent.objects.filter(object_id=str(job.pk), object_type="training.finetunejob").values_list(
            "action", flat=True
        )
    )
    assert actions == ["fine_tune_job.created", "fine_tune_job.started", "fine_tune_job.succeeded"]
    assert api(engineer).get("/api/v1/audit-events/verify/").json()["ok"] is True
