"""The datasets erasure participant: versions replaced without the subject's records, and suppression."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.utils import timezone

from governance.api.serializers import DatasetVersionOut
from governance.choices import DatasetVersionStatus
from governance.models import AuditEvent, DatasetRecord, DatasetVersion, ErasureRequest, SuppressedKey
from governance.participants import ErasureScope, ParticipantNotReady, erasure_participants
from governance.pii.keys import subject_key
from governance.services import datasets, erasure_datasets, scanning
from tests.conftest import wait_for
from tests.factories import DatasetFactory

EMAIL = "Anna.Kowalska@example.com"
OTHER = "piotr.zielinski@example.com"


def _records(count: int, subject_at: tuple[int, ...]) -> list[dict[str, str]]:
    records = []
    for n in range(count):
        contact = f" Write to {EMAIL}." if n in subject_at else (f" Write to {OTHER}." if n == 1 else "")
        records.append({"input": f"Ticket {n}: my invoice is wrong.{contact}", "output": f"answer {n}"})
    return records


def _jsonl(records: list[dict[str, str]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _upload(dataset: Any, records: list[dict[str, str]], actor: Any, *, scan: bool = True) -> DatasetVersion:
    data = _jsonl(records)
    version = datasets.dataset_version_create(
        actor=actor,
        dataset=dataset,
        stream=io.BytesIO(data),
        filename="tickets.jsonl",
        size=len(data),
        holdout_fraction=0.2,
        split_seed=11,
    )
    if scan:
        assert scanning.dataset_version_claim_scan(version_id=version.pk)
        version = scanning.dataset_version_scan(version_id=version.pk)
        assert version.status == DatasetVersionStatus.READY, version.scan_error
    return DatasetVersion.objects.get(pk=version.pk)


def _scope(**extra: Any) -> ErasureScope:
    fields: dict[str, Any] = {
        "request_id": 1,
        "reference": "ER-2026-001",
        "keys": (subject_key("email", EMAIL),),
    }
    return ErasureScope(**{**fields, **extra})


@pytest.fixture(autouse=True)
def _regex_engine(settings: Any) -> None:
    settings.PII_ENGINE = "regex"


@pytest.fixture
def dataset(engineer: Any) -> Any:
    return DatasetFactory(owner=engineer)


def test_the_participant_is_registered_before_training() -> None:
    names = list(erasure_participants())
    assert names.index("datasets") < names.index("training")
    assert erasure_participants()["datasets"].count_names == ("dataset_versions_replaced", "records_removed")


@pytest.mark.django_db
def test_erase_replaces_the_version_keeps_every_split_and_runs_twice_to_zero(
    dataset: Any, engineer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    old = _upload(dataset, _records(40, subject_at=(3, 17, 30)), engineer)
    old_path = datasets.dataset_version_path(old)
    old_rows = {r.sha256: r for r in DatasetRecord.objects.filter(version=old)}
    subject_hashes = {r.sha256 for r in old_rows.values() if _scope().keys[0] in r.subject_keys}
    assert len(subject_hashes) == 3

    scope = _scope()
    assert erasure_datasets.find(scope)["counts"] == {"dataset_versions_replaced": 1, "records_removed": 3}
    with django_capture_on_commit_callbacks(execute=True):
        result = erasure_datasets.erase(scope)
    assert result["counts"] == {"dataset_versions_replaced": 1, "records_removed": 3}

    old.refresh_from_db()
    assert old.status == DatasetVersionStatus.ERASED
    assert old.erasure_reference == "ER-2026-001" and old.erased_at is not None
    assert not old_path.exists()
    assert DatasetRecord.objects.filter(version=old).count() == 40  # hashes and keys kept for lineage

    new = DatasetVersion.objects.get(parent=old)
    assert new.status == DatasetVersionStatus.READY
    assert new.reason == "erasure request ER-2026-001"
    assert (new.number, new.record_count, new.scanned_records) == (2, 37, 37)
    assert (new.holdout_fraction, new.split_seed) == (old.holdout_fraction, old.split_seed)
    content = datasets.dataset_version_path(new).read_bytes()
    assert EMAIL.lower() not in content.decode().lower()
    assert new.size_bytes == len(content)
    import hashlib

    assert new.sha256 == hashlib.sha256(content).hexdigest()
    new_rows = list(DatasetRecord.objects.filter(version=new).order_by("ordinal"))
    assert [r.ordinal for r in new_rows] == list(range(37))
    for row in new_rows:
        assert row.sha256 not in subject_hashes
        assert row.split == old_rows[row.sha256].split  # every kept record keeps its split
        assert row.subject_keys == old_rows[row.sha256].subject_keys
        line = content[row.byte_offset :].split(b"\n", 1)[0]
        assert hashlib.sha256(line).hexdigest() == row.sha256
    assert new.holdout_count == sum(1 for r in new_rows if r.split == "holdout")
    assert new.pii_summary == {"EMAIL_ADDRESS": 1} and new.contains_personal_data
    events = AuditEvent.objects.filter(object_type__icontains="datasetversion")
    assert events.filter(action="dataset_version.created", object_id=str(new.pk)).exists()
    erased = events.get(action="dataset_version.erased", object_id=str(old.pk))
    assert EMAIL.lower() not in json.dumps(erased.payload).lower()

    with django_capture_on_commit_callbacks(execute=True):
        again = erasure_datasets.erase(scope)
    assert again["counts"] == {"dataset_versions_replaced": 0, "records_removed": 0}
    assert erasure_datasets.find(scope)["counts"]["records_removed"] == 0
    old_path.write_text("left behind")  # a commit hook that never ran
    assert erasure_datasets.purge(scope, result) == {"dataset_files_deleted": 1}
    assert erasure_datasets.purge(scope, result) == {"dataset_files_deleted": 0}
    verified = erasure_datasets.verify(_scope(identifiers=(EMAIL.upper(),)))
    assert verified["ok"], verified
    assert verified["datasets_searched"] == 1


@pytest.mark.django_db
def test_verify_fails_while_the_subject_is_still_in_a_file(dataset: Any, engineer: Any) -> None:
    _upload(dataset, _records(12, subject_at=(4,)), engineer)
    verified = erasure_datasets.verify(_scope(identifiers=(EMAIL,)))
    assert not verified["ok"]
    assert verified["records_with_keys"] == 1
    assert list(verified["text_hits"].values()) == [1]


@pytest.mark.django_db
def test_name_only_records_are_reported_and_kept_unless_confirmed(
    dataset: Any, engineer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    version = _upload(dataset, _records(20, subject_at=(2,)), engineer)
    name_key = subject_key("person", "Anna Kowalska")
    named = DatasetRecord.objects.filter(version=version).exclude(ordinal=2).order_by("ordinal")[:2]
    for record in named:
        record.subject_keys = [*record.subject_keys, name_key]
        record.save()
    scope = _scope(name_keys=(name_key,))
    found = erasure_datasets.find(scope)
    assert found["counts"]["records_removed"] == 1
    assert sorted(m.object_id for m in found["name_only"]) == sorted(r.pk for r in named)
    match = next(m for m in found["name_only"] if m.object_id == named[0].pk)
    assert match.kind == "dataset_record"
    assert match.label == f"dataset '{dataset.name}' v1 record #{named[0].ordinal}"

    confirmed = _scope(name_keys=(name_key,), confirmed=frozenset({("dataset_record", named[0].pk)}))
    assert erasure_datasets.find(confirmed)["counts"]["records_removed"] == 2
    with django_capture_on_commit_callbacks(execute=True):
        result = erasure_datasets.erase(confirmed)
    assert result["counts"]["records_removed"] == 2
    new = DatasetVersion.objects.get(parent=version)
    kept = set(DatasetRecord.objects.filter(version=new).values_list("sha256", flat=True))
    assert named[1].sha256 in kept  # the unconfirmed name-only record stays
    assert named[0].sha256 not in kept
    assert new.record_count == 18


@pytest.mark.django_db
def test_a_version_still_being_scanned_makes_the_participant_not_ready(dataset: Any, engineer: Any) -> None:
    _upload(dataset, _records(10, subject_at=(1,)), engineer)
    pending = _upload(dataset, _records(10, subject_at=()), engineer, scan=False)
    with pytest.raises(ParticipantNotReady) as raised:
        erasure_datasets.find(_scope())
    assert str(pending.pk) in str(raised.value) and "@" not in str(raised.value)
    with pytest.raises(ParticipantNotReady):
        erasure_datasets.erase(_scope())
    assert DatasetVersion.objects.filter(status=DatasetVersionStatus.ERASED).count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_scan_drops_records_of_a_suppressed_subject(engineer: Any, celery_worker: Any) -> None:
    request = ErasureRequest.objects.create(
        reference="ER-2026-SUP", subject_keys=[subject_key("email", EMAIL)], due_at=timezone.now()
    )
    SuppressedKey.objects.create(key=subject_key("email", EMAIL), key_type="email", request=request)
    dataset = DatasetFactory(owner=engineer)
    records = _records(10, subject_at=(3, 7))
    version = _upload(dataset, records, engineer, scan=False)  # the commit queues the worker's scan
    version = wait_for(
        lambda: DatasetVersion.objects.filter(pk=version.pk, status=DatasetVersionStatus.READY).first(),
        timeout=180,
    )
    assert (version.record_count, version.scanned_records, version.suppressed_records) == (8, 8, 2)
    content = datasets.dataset_version_path(version).read_bytes()
    assert EMAIL.lower() not in content.decode().lower()
    assert len(content.splitlines()) == 8 and version.size_bytes == len(content)
    rows = list(DatasetRecord.objects.filter(version=version).order_by("ordinal"))
    assert [r.ordinal for r in rows] == list(range(8))
    assert version.holdout_count == sum(1 for r in rows if r.split == "holdout")
    assert all(content[r.byte_offset :].startswith(b'{"input"') for r in rows)
    scanned = AuditEvent.objects.get(action="dataset_version.scanned", object_id=str(version.pk))
    assert scanned.payload["suppressed_records"] == 2
    assert DatasetVersionOut(version).data["suppressed_records"] == 2
