"""The datasets participant's export: the subject's records as stored, in every version still holding them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from django.utils import timezone

from governance.choices import DatasetVersionStatus, LegalBasis
from governance.models import AuditEvent, Dataset, DatasetRecord, DatasetVersion
from governance.participants import ErasureScope, ParticipantNotReady, erasure_participants
from governance.pii.keys import subject_key
from governance.services import datasets, erasure_datasets
from tests.factories import AISystemFactory, DatasetFactory
from tests.governance.test_erasure_datasets import _upload

EMAIL = "Anna.Kowalska@example.com"
OTHER = "piotr.zielinski@example.com"
NAME_KEY = subject_key("person", "Anna Kowalska")


def _records(count: int, subject_at: tuple[int, ...], *, tag: str = "") -> list[dict[str, str]]:
    records = []
    for n in range(count):
        contact = f" Write to {EMAIL}." if n in subject_at else (f" Write to {OTHER}." if n == 1 else "")
        records.append({"input": f"Ticket {tag}{n}: my invoice is wrong.{contact}", "output": f"answer {n}"})
    return records


def _scope(**extra: Any) -> ErasureScope:
    fields: dict[str, Any] = {
        "request_id": 3,
        "reference": "SAR-2026-003",
        "keys": (subject_key("email", EMAIL),),
    }
    return ErasureScope(**{**fields, **extra})


def _subject_rows(version: DatasetVersion) -> list[DatasetRecord]:
    key = subject_key("email", EMAIL)
    return list(
        DatasetRecord.objects.filter(version=version, subject_keys__contains=[key]).order_by("ordinal")
    )


def _ids(exported: dict[str, Any]) -> list[int]:
    return sorted(item["id"] for item in exported["items"])


@pytest.fixture(autouse=True)
def _regex_engine(settings: Any) -> None:
    settings.PII_ENGINE = "regex"


@pytest.fixture
def retention() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=400)


@pytest.fixture
def dataset(engineer: Any, retention: dt.date) -> Any:
    made: Any = DatasetFactory(
        owner=engineer,
        name="Helpdesk tickets",
        legal_basis=LegalBasis.CONTRACT,
        retention_until=retention,
        provenance="Exported from the ticketing system",
    )
    made.ai_systems.add(
        AISystemFactory(
            name="Helpdesk", owner=engineer, intended_purpose="Answers tickets", recipients="Support team"
        )
    )
    return made


@pytest.fixture
def version(dataset: Dataset, engineer: Any) -> DatasetVersion:
    return _upload(dataset, _records(20, subject_at=(3, 12)), engineer)


def test_the_datasets_participant_registers_its_export() -> None:
    assert erasure_participants()["datasets"].export is erasure_datasets.export


@pytest.mark.django_db
def test_export_returns_exactly_the_subjects_records_with_their_content_as_stored(
    version: DatasetVersion,
) -> None:
    exported = erasure_datasets.export(_scope())
    rows = _subject_rows(version)
    assert [r.ordinal for r in rows] == [3, 12]
    stored = _records(20, subject_at=(3, 12))
    assert exported["items"] == [
        {
            "kind": "dataset_record",
            "id": row.pk,
            "portable": True,
            "dataset": "Helpdesk tickets",
            "dataset_id": version.dataset_id,
            "version": 1,
            "version_id": version.pk,
            "split": row.split,
            "ordinal": row.ordinal,
            "pii_types": ["EMAIL_ADDRESS"],
            "record": stored[row.ordinal],
        }
        for row in rows
    ]


@pytest.mark.django_db
def test_export_lists_what_erase_would_remove(version: DatasetVersion) -> None:
    counts = erasure_datasets.find(_scope())["counts"]
    assert counts == {
        "dataset_versions_replaced": 1,
        "records_removed": len(erasure_datasets.export(_scope())["items"]),
    }


@pytest.mark.django_db
def test_a_second_persons_record_never_appears(version: DatasetVersion) -> None:
    exported = erasure_datasets.export(_scope())
    other = DatasetRecord.objects.get(version=version, ordinal=1)
    assert other.subject_keys == [subject_key("email", OTHER)]
    assert other.pk not in _ids(exported) and OTHER not in json.dumps(exported)


@pytest.mark.django_db
def test_every_version_still_holding_the_record_is_exported(
    version: DatasetVersion, dataset: Dataset, engineer: Any
) -> None:
    second = _upload(dataset, _records(12, subject_at=(5,), tag="b"), engineer)
    exported = erasure_datasets.export(_scope())
    assert [(i["version"], i["ordinal"]) for i in exported["items"]] == [(1, 3), (1, 12), (2, 5)]
    assert exported["items"][2]["record"] == _records(12, subject_at=(5,), tag="b")[5]
    assert exported["items"][2]["version_id"] == second.pk
    assert len(exported["processing"]) == 1  # one dataset, named once


@pytest.mark.django_db
def test_the_processing_context_names_the_dataset_legal_basis_retention_and_recipients(
    version: DatasetVersion, dataset: Dataset, retention: dt.date
) -> None:
    assert erasure_datasets.export(_scope())["processing"] == [
        {
            "register": "dataset",
            "id": dataset.pk,
            "name": "Helpdesk tickets",
            "ai_system": "Helpdesk",
            "purpose": "Training; Helpdesk: Answers tickets",
            "legal_basis": "Art. 6(1)(b) contract",
            "retention": retention.isoformat(),
            "recipients": "Support team",
            "source": "Exported from the ticketing system",
        }
    ]


@pytest.mark.django_db
def test_a_dataset_without_legal_basis_retention_or_system_says_so(engineer: Any) -> None:
    bare = DatasetFactory(owner=engineer, legal_basis=LegalBasis.NONE, provenance="")
    _upload(bare, _records(10, subject_at=(2,)), engineer)
    context = erasure_datasets.export(_scope())["processing"][0]
    assert {k: context[k] for k in ("ai_system", "legal_basis", "retention", "recipients", "source")} == {
        "ai_system": None,
        "legal_basis": "",
        "retention": "not set",
        "recipients": "",
        "source": "",
    }


@pytest.mark.django_db
def test_a_namesakes_record_is_absent_unless_the_officer_confirmed_it(version: DatasetVersion) -> None:
    namesake = DatasetRecord.objects.get(version=version, ordinal=7)
    namesake.subject_keys = [*namesake.subject_keys, NAME_KEY]
    namesake.save()
    unconfirmed = erasure_datasets.export(_scope(name_keys=(NAME_KEY,)))
    assert [i["ordinal"] for i in unconfirmed["items"]] == [3, 12]

    confirmed = erasure_datasets.export(
        _scope(name_keys=(NAME_KEY,), confirmed=frozenset({("dataset_record", namesake.pk)}))
    )
    assert [i["ordinal"] for i in confirmed["items"]] == [3, 7, 12]
    assert confirmed["items"][1]["record"] == _records(20, subject_at=(3, 12))[7]


@pytest.mark.django_db
def test_a_key_nobody_carries_exports_nothing(version: DatasetVersion) -> None:
    assert erasure_datasets.export(_scope(keys=(subject_key("email", "nobody@example.org"),))) == {
        "items": [],
        "processing": [],
    }


@pytest.mark.django_db
def test_a_version_still_being_scanned_makes_the_export_not_ready(
    version: DatasetVersion, dataset: Dataset, engineer: Any
) -> None:
    pending = _upload(dataset, _records(10, subject_at=()), engineer, scan=False)
    with pytest.raises(ParticipantNotReady) as raised:
        erasure_datasets.export(_scope())
    assert str(pending.pk) in str(raised.value) and "@" not in str(raised.value)


@pytest.mark.django_db
def test_export_writes_nothing(version: DatasetVersion) -> None:
    path = datasets.dataset_version_path(version)
    before = (
        DatasetVersion.objects.count(),
        DatasetRecord.objects.count(),
        AuditEvent.objects.count(),
        list(DatasetVersion.objects.values("pk", "status", "number")),
        hashlib.sha256(path.read_bytes()).hexdigest(),
    )
    exported = erasure_datasets.export(_scope())
    assert json.loads(json.dumps(exported)) == exported
    assert before == (
        DatasetVersion.objects.count(),
        DatasetRecord.objects.count(),
        AuditEvent.objects.count(),
        list(DatasetVersion.objects.values("pk", "status", "number")),
        hashlib.sha256(path.read_bytes()).hexdigest(),
    )


@pytest.mark.django_db
def test_after_erasure_the_replaced_version_is_gone_and_nothing_is_exported(
    version: DatasetVersion, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        erasure_datasets.erase(_scope())
    assert DatasetVersion.objects.get(pk=version.pk).status == DatasetVersionStatus.ERASED
    assert erasure_datasets.export(_scope()) == {"items": [], "processing": []}


@pytest.mark.django_db
def test_a_line_that_no_longer_matches_its_hash_is_exported_without_content(version: DatasetVersion) -> None:
    path = datasets.dataset_version_path(version)
    row = _subject_rows(version)[0]
    content = path.read_bytes()
    line_end = content.index(b"\n", row.byte_offset)
    blank = b"{" + b" " * (line_end - row.byte_offset - 2) + b"}"  # same length: the others stay put
    path.write_bytes(content[: row.byte_offset] + blank + content[line_end:])
    items = erasure_datasets.export(_scope())["items"]
    assert [(i["ordinal"], i["record"] is None) for i in items] == [(3, True), (12, False)]
