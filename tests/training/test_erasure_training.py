"""The training erasure participant: adapters trained on the subject are tainted, their files deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from governance.choices import RecordSplit
from governance.models import AuditEvent, DatasetRecord, DatasetVersion
from governance.participants import ErasureScope, erasure_participants
from governance.services import erasure_datasets
from tests.training.helpers import ticket_records
from training.choices import AdapterStatus, JobStatus
from training.models import FineTuneJob
from training.services import erasure, jobs
from training.services.runs import job_dirs

HP = {"rank": 4, "alpha": 8, "batch_size": 8, "learning_rate": 0.003, "max_seq_length": 64}


@pytest.fixture
def version(make_version: Any, approved_dpia: Any) -> Any:
    """Tickets each carrying their own e-mail address (personal data, so a DPIA covers the dataset)."""
    made = make_version(ticket_records(40, email=True))
    approved_dpia(made.dataset)
    return made


def _train_record(version: Any) -> DatasetRecord:
    record = (
        DatasetRecord.objects.filter(version=version, split=RecordSplit.TRAIN)
        .exclude(subject_keys=[])
        .order_by("ordinal")
        .first()
    )
    assert record is not None
    return record


def _scope(record: DatasetRecord | None) -> ErasureScope:
    assert record is not None
    return ErasureScope(request_id=7, reference="ER-2026-007", keys=(record.subject_keys[0],))


def _erase_all(scope: ErasureScope, capture: Any) -> dict[str, Any]:
    """What the orchestrator does: every participant in order, each committed on its own."""
    results = {}
    for name, participant in erasure_participants().items():
        if name not in ("datasets", "training"):
            continue
        with capture(execute=True):
            results[name] = participant.erase(scope)
    return results


def test_training_runs_after_datasets() -> None:
    participants = erasure_participants()
    assert participants["training"].order > participants["datasets"].order
    assert participants["training"].count_names == (
        "adapters_tainted",
        "adapter_files_deleted",
        "jobs_cancelled",
        "retrains_queued",
    )


@pytest.mark.django_db
def test_an_adapter_trained_on_the_subject_is_tainted_its_files_deleted_and_a_retrain_queued(
    adapter: Any, version: Any, engineer: Any, base_model: Any, django_capture_on_commit_callbacks: Any
) -> None:
    adapter.ai_system.retrain_on_erasure = True
    adapter.ai_system.save()
    queued, _ = jobs.fine_tune_job_create(
        actor=engineer,
        ai_system=adapter.ai_system,
        base_model=base_model,
        dataset_version=version,
        hyperparameters=HP,
        seed=9,
    )
    checkpoints, outputs = job_dirs(adapter.job_id)
    checkpoints.mkdir(parents=True, exist_ok=True)
    assert Path(adapter.path).is_dir() and any(Path(adapter.path).iterdir())
    scope = _scope(_train_record(version))

    found = erasure.find(scope)["counts"]
    assert found == {
        "adapters_tainted": 1,
        "adapter_files_deleted": 1,
        "jobs_cancelled": 1,
        "retrains_queued": 1,
    }
    results = _erase_all(scope, django_capture_on_commit_callbacks)
    assert results["datasets"]["counts"] == {"dataset_versions_replaced": 1, "records_removed": 1}
    result = results["training"]
    assert result["counts"] == {
        "adapters_tainted": 1,
        "adapter_files_deleted": 1,
        "jobs_cancelled": 1,
        "retrains_queued": 1,
    }, result

    adapter.refresh_from_db()
    assert adapter.status == AdapterStatus.TAINTED
    assert adapter.taint_reason == "erasure request ER-2026-007: trained on the data subject's records"
    assert adapter.files_deleted_at is not None and adapter.sha256 and adapter.lineage
    assert not Path(adapter.path).exists() and not checkpoints.exists() and not outputs.exists()
    assert FineTuneJob.objects.get(pk=queued.pk).status == JobStatus.CANCELLED
    assert AuditEvent.objects.filter(action="fine_tune_job.cancelled", object_id=str(queued.pk)).exists()
    assert (
        AuditEvent.objects.get(action="adapter_version.tainted", object_id=str(adapter.pk)).actor == "system"
    )

    cleaned = DatasetVersion.objects.get(parent=version, reason="erasure request ER-2026-007")
    retrain = FineTuneJob.objects.get(pk=result["retrain_jobs"][0])
    assert retrain.dataset_version == cleaned and retrain.status == JobStatus.QUEUED
    assert (retrain.hyperparameters, retrain.seed) == (adapter.job.hyperparameters, adapter.job.seed)
    assert retrain.base_model_id == adapter.base_model_id and retrain.created_by is None

    again = _erase_all(scope, django_capture_on_commit_callbacks)
    assert set(again["training"]["counts"].values()) == {0}
    assert set(again["datasets"]["counts"].values()) == {0}
    # Lineage by record hash: the adapter's version is erased now and it is still found as the subject's.
    assert erasure.find(scope)["counts"]["adapters_tainted"] == 0
    outputs.mkdir(parents=True)  # a worker that wrote late
    assert erasure.purge(scope, result)["training_paths_deleted"] == 1
    assert erasure.purge(scope, result)["training_paths_deleted"] == 0
    verified = erasure.verify(scope)
    assert verified["ok"] and verified["adapters_checked"] == 1, verified


@pytest.mark.django_db
def test_a_refused_retrain_is_recorded_with_its_gate_codes(
    adapter: Any, version: Any, django_capture_on_commit_callbacks: Any
) -> None:
    adapter.ai_system.retrain_on_erasure = True
    adapter.ai_system.save()
    version.dataset.ai_systems.clear()  # the gate dataset_not_linked now refuses any job on it
    results = _erase_all(_scope(_train_record(version)), django_capture_on_commit_callbacks)
    training = results["training"]
    assert training["counts"]["adapters_tainted"] == 1
    assert training["counts"]["retrains_queued"] == 0
    assert training["retrain_refused"] == [{"adapter": adapter.pk, "gates": ["dataset_not_linked"]}]


@pytest.mark.django_db
def test_a_holdout_only_subject_taints_nothing_and_verify_sees_an_untainted_adapter(
    adapter: Any, version: Any
) -> None:
    holdout = (
        DatasetRecord.objects.filter(version=version, split=RecordSplit.HOLDOUT)
        .exclude(subject_keys=[])
        .first()
    )
    assert erasure.find(_scope(holdout))["counts"]["adapters_tainted"] == 0
    train_scope = _scope(_train_record(version))
    verified = erasure.verify(train_scope)
    assert not verified["ok"] and verified["untainted_adapters"] == [adapter.pk]
    assert erasure_datasets.find(train_scope)["counts"]["records_removed"] == 1
