"""The training participant's export: adapters trained on the subject's records, by name and lineage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from governance.choices import RecordSplit
from governance.models import AuditEvent, DatasetRecord
from governance.participants import ErasureScope, erasure_participants
from governance.pii.keys import subject_key
from tests.training.helpers import ticket_records
from training.models import AdapterVersion, FineTuneJob
from training.services import erasure

NAME_KEY = subject_key("person", "Anna Kowalska")


@pytest.fixture
def version(make_version: Any, approved_dpia: Any) -> Any:
    """Tickets each carrying their own e-mail address (personal data, so a DPIA covers the dataset)."""
    made = make_version(ticket_records(40, email=True), provenance="Exported from the ticketing system")
    approved_dpia(made.dataset)
    return made


def _record(version: Any, split: str) -> DatasetRecord:
    record = (
        DatasetRecord.objects.filter(version=version, split=split)
        .exclude(subject_keys=[])
        .order_by("ordinal")
        .first()
    )
    assert record is not None
    return record


def _scope(*keys: str, **extra: Any) -> ErasureScope:
    return ErasureScope(request_id=4, reference="SAR-2026-004", keys=keys, **extra)


def test_training_registers_its_export() -> None:
    assert erasure_participants()["training"].export is erasure.export


@pytest.mark.django_db
def test_an_adapter_trained_on_the_subjects_record_is_listed_by_name_and_lineage(
    adapter: Any, version: Any
) -> None:
    record = _record(version, RecordSplit.TRAIN)
    exported = erasure.export(_scope(record.subject_keys[0]))
    assert exported["items"] == [
        {
            "kind": "adapter",
            "id": adapter.pk,
            "portable": False,
            "name": adapter.name,
            "ai_system": "Helpdesk",
            "base_model": "tiny",
            "trained_on": [{"dataset": version.dataset.name, "version": 1, "version_id": version.pk}],
            "job_id": adapter.job_id,
            "status": "candidate",
            "tainted": False,
            "files_deleted": False,
            "created_at": adapter.created_at.isoformat(),
        }
    ]
    assert "path" not in exported["items"][0] and "files" not in exported["items"][0]
    assert exported["processing"] == [
        {
            "register": "dataset",
            "id": version.dataset_id,
            "name": version.dataset.name,
            "ai_system": "Helpdesk",
            "purpose": "Training; Helpdesk: Answers customer questions",
            "legal_basis": "Art. 6(1)(f) legitimate interests",
            "retention": "not set",
            "recipients": "",
            "source": "Exported from the ticketing system",
        }
    ]


@pytest.mark.django_db
def test_a_subject_only_in_the_holdout_or_unknown_has_no_adapter(adapter: Any, version: Any) -> None:
    holdout = _record(version, RecordSplit.HOLDOUT)
    assert erasure.export(_scope(holdout.subject_keys[0])) == {"items": [], "processing": []}
    unknown = subject_key("email", "nobody@example.org")
    assert erasure.export(_scope(unknown)) == {"items": [], "processing": []}


@pytest.mark.django_db
def test_a_second_persons_dataset_never_brings_its_adapter(adapter: Any, make_version: Any) -> None:
    records = [
        {"input": f"Ticket {n}: refund, write to other{n}@example.org.", "output": "billing"}
        for n in range(20)
    ]
    record = _record(make_version(records), RecordSplit.TRAIN)
    assert not DatasetRecord.objects.filter(
        version=adapter.dataset_version, subject_keys__overlap=record.subject_keys
    ).exists()
    assert erasure.export(_scope(record.subject_keys[0])) == {"items": [], "processing": []}


@pytest.mark.django_db
def test_a_name_only_record_brings_the_adapter_only_when_confirmed(adapter: Any, version: Any) -> None:
    record = _record(version, RecordSplit.TRAIN)
    DatasetRecord.objects.filter(pk=record.pk).update(subject_keys=[NAME_KEY])
    assert erasure.export(_scope(name_keys=(NAME_KEY,))) == {"items": [], "processing": []}
    confirmed = erasure.export(
        _scope(name_keys=(NAME_KEY,), confirmed=frozenset({("dataset_record", record.pk)}))
    )
    assert [item["id"] for item in confirmed["items"]] == [adapter.pk]


@pytest.mark.django_db
def test_export_agrees_with_find_and_writes_nothing(adapter: Any, version: Any) -> None:
    scope = _scope(_record(version, RecordSplit.TRAIN).subject_keys[0])
    before = (
        list(AdapterVersion.objects.values("pk", "status", "taint_reason", "files_deleted_at")),
        FineTuneJob.objects.count(),
        AuditEvent.objects.count(),
    )
    exported = erasure.export(scope)
    assert json.loads(json.dumps(exported)) == exported
    assert len(exported["items"]) == erasure.find(scope)["counts"]["adapters_tainted"] == 1
    assert before == (
        list(AdapterVersion.objects.values("pk", "status", "taint_reason", "files_deleted_at")),
        FineTuneJob.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.mark.django_db
def test_after_erasure_the_adapter_is_still_listed_tainted_with_its_files_gone(
    adapter: Any, version: Any, django_capture_on_commit_callbacks: Any
) -> None:
    scope = _scope(_record(version, RecordSplit.TRAIN).subject_keys[0])
    for name in ("datasets", "training"):
        with django_capture_on_commit_callbacks(execute=True):
            erasure_participants()[name].erase(scope)
    (item,) = erasure.export(scope)["items"]
    assert (item["id"], item["status"], item["tainted"], item["files_deleted"]) == (
        adapter.pk,
        "tainted",
        True,
        True,
    )
