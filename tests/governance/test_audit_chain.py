"""The audit chain: append-only at the database, tamper-evident on verification, PII-free, gap-free."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from governance.models import AISystem, AuditChainHead, AuditEvent, Dataset, DatasetRecord, DatasetVersion
from governance.pii import subject_key
from governance.roles import ROLES
from governance.services import datasets as dataset_services
from governance.services import scanning, systems
from governance.services.audit import GENESIS_HASH, audit_chain_head, audit_record, event_hash
from governance.services.dpia import dpia_create

TRIGGER = "governance_auditevent_append_only"
VERIFY_URL = "/api/v1/audit-events/verify/"


@pytest.fixture(autouse=True)
def _role_groups(db: None) -> None:
    # A transactional test's flush removes the groups that migration 0002 created; put them back.
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def _create_systems(actor: Any, count: int, prefix: str = "System") -> list[int]:
    """Append `count` events through a real write service; returns their sequence numbers."""
    for i in range(count):
        systems.ai_system_create(actor=actor, owner=actor, name=f"{prefix} {i}", intended_purpose="answers")
    return list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))


@pytest.fixture
def chain(engineer: Any) -> list[int]:
    """A chain of five intact events, sequences 1..5."""
    sequences = _create_systems(engineer, 5)
    assert sequences == [1, 2, 3, 4, 5]
    return sequences


@contextmanager
def _as_owner_without_trigger() -> Iterator[Any]:
    """What a database owner can do: switch the append-only trigger off, tamper, switch it on again."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE governance_auditevent DISABLE TRIGGER {TRIGGER}")
        try:
            yield cursor
        finally:
            cursor.execute(f"ALTER TABLE governance_auditevent ENABLE TRIGGER {TRIGGER}")


def _trigger_enabled() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = %s", [TRIGGER])
        return cursor.fetchone()[0] == "O"


def _body(event: AuditEvent) -> dict[str, Any]:
    """The hashed fields of an event, as DESIGN section 7 lists them."""
    return {
        "sequence": event.sequence,
        "timestamp": event.timestamp.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "payload": event.payload,
    }


def _forge_from(cursor: Any, sequence: int, payload: dict[str, Any]) -> None:
    """Rewrite one payload and recompute every later link so the rows are consistent among themselves."""
    cursor.execute(
        "UPDATE governance_auditevent SET payload = %s::jsonb WHERE sequence = %s",
        [json.dumps(payload), sequence],
    )
    prev_hash = AuditEvent.objects.get(sequence=sequence - 1).hash if sequence > 1 else GENESIS_HASH
    for event in AuditEvent.objects.filter(sequence__gte=sequence).order_by("sequence"):
        new_hash = event_hash(prev_hash, _body(event))
        cursor.execute(
            "UPDATE governance_auditevent SET prev_hash = %s, hash = %s WHERE sequence = %s",
            [prev_hash, new_hash, event.sequence],
        )
        prev_hash = new_hash


def _command(*args: str) -> tuple[dict[str, Any], str | None]:
    """Run `verify_audit_chain --json`; returns its JSON and the CommandError message, if any."""
    out = io.StringIO()
    try:
        call_command("verify_audit_chain", "--json", *args, stdout=out)
    except CommandError as exc:
        return json.loads(out.getvalue()), str(exc)
    return json.loads(out.getvalue()), None


def _assert_broken_at(client: Any, sequence: int) -> None:
    """Both the command and the API name `sequence` as the first broken link."""
    result, error = _command()
    assert result["ok"] is False
    assert result["first_broken_sequence"] == sequence, result
    assert error is not None and f"sequence {sequence}:" in error
    with pytest.raises(CommandError, match=f"broken at sequence {sequence}:"):
        call_command("verify_audit_chain", stdout=io.StringIO())
    response = client.get(VERIFY_URL)
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is False
    assert response.json()["first_broken_sequence"] == sequence


# --- Append-only at the database -----------------------------------------------------------------


def _orm_update(event: AuditEvent) -> None:
    AuditEvent.objects.filter(pk=event.pk).update(payload={"forged": True})


def _orm_save(event: AuditEvent) -> None:
    event.action = "forged"
    event.save()


def _orm_queryset_delete(event: AuditEvent) -> None:
    AuditEvent.objects.filter(pk=event.pk).delete()


def _orm_instance_delete(event: AuditEvent) -> None:
    event.delete()


def _sql_update(event: AuditEvent) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE governance_auditevent SET actor = 'mallory' WHERE id = %s", [event.pk])


def _sql_delete(event: AuditEvent) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM governance_auditevent WHERE id = %s", [event.pk])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [_orm_update, _orm_save, _orm_queryset_delete, _orm_instance_delete, _sql_update, _sql_delete],
    ids=["orm-update", "orm-save", "orm-queryset-delete", "orm-instance-delete", "sql-update", "sql-delete"],
)
def test_the_trigger_refuses_to_change_or_delete_an_audit_event(
    chain: list[int], change: Callable[[AuditEvent], None]
) -> None:
    event = AuditEvent.objects.get(sequence=3)
    before = AuditEvent.objects.filter(pk=event.pk).values().get()
    with pytest.raises(DatabaseError, match="append-only") as raised, transaction.atomic():
        change(event)
    assert isinstance(raised.value.__cause__, psycopg.errors.InsufficientPrivilege)
    assert AuditEvent.objects.filter(pk=event.pk).values().get() == before
    assert AuditEvent.objects.count() == 5


# --- Verification ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_intact_chain_verifies_through_the_command_and_the_api(
    api: Any, auditor: Any, chain: list[int]
) -> None:
    head_sequence, head_hash = audit_chain_head()
    assert (head_sequence, head_hash) == (5, AuditEvent.objects.get(sequence=5).hash)
    result, error = _command()
    assert error is None
    assert result == {
        "ok": True,
        "events_checked": 5,
        "head_sequence": 5,
        "head_hash": head_hash,
        "first_broken_sequence": None,
        "reason": "",
    }
    out = io.StringIO()
    call_command("verify_audit_chain", stdout=out)
    assert "intact" in out.getvalue() and head_hash in out.getvalue()
    response = api(auditor).get(VERIFY_URL)
    assert response.status_code == 200
    assert response.json() == result


@pytest.mark.django_db
def test_an_empty_chain_verifies(api: Any, auditor: Any) -> None:
    result, error = _command()
    assert error is None
    assert (result["ok"], result["events_checked"], result["head_hash"]) == (True, 0, GENESIS_HASH)


@pytest.mark.django_db
def test_the_chain_links_each_event_to_the_hash_of_the_one_before(chain: list[int]) -> None:
    events = list(AuditEvent.objects.order_by("sequence"))
    assert events[0].prev_hash == GENESIS_HASH
    for previous, event in zip(events, events[1:], strict=False):
        assert event.prev_hash == previous.hash
    for event in events:
        assert event.hash == event_hash(event.prev_hash, _body(event))


@pytest.mark.django_db
def test_the_expected_head_from_an_earlier_report_passes_when_it_matches(chain: list[int]) -> None:
    _, head_hash = audit_chain_head()
    result, error = _command("--expect-head", head_hash)
    assert error is None and result["ok"] is True


@pytest.mark.django_db
def test_a_wrong_expected_head_fails_verification(chain: list[int]) -> None:
    result, error = _command("--expect-head", "f" * 64)
    assert result["ok"] is False
    assert error is not None and "expected head" in error


@pytest.mark.django_db
def test_a_changed_payload_in_the_middle_names_its_sequence(api: Any, auditor: Any, chain: list[int]) -> None:
    with _as_owner_without_trigger() as cursor:
        cursor.execute(
            "UPDATE governance_auditevent SET payload = %s::jsonb WHERE sequence = 3",
            [json.dumps({"risk_class": "minimal", "approach": "rag", "status": "active"})],
        )
    assert _trigger_enabled()
    _assert_broken_at(api(auditor), 3)
    assert "hash" in _command()[0]["reason"]


@pytest.mark.django_db
def test_a_deleted_middle_row_names_the_missing_sequence(api: Any, auditor: Any, chain: list[int]) -> None:
    with _as_owner_without_trigger() as cursor:
        cursor.execute("DELETE FROM governance_auditevent WHERE sequence = 3")
    assert _trigger_enabled()
    _assert_broken_at(api(auditor), 3)
    assert "missing" in _command()[0]["reason"]


@pytest.mark.django_db
def test_a_truncated_tail_is_detected_through_the_chain_head(
    api: Any, auditor: Any, chain: list[int]
) -> None:
    with _as_owner_without_trigger() as cursor:
        cursor.execute("DELETE FROM governance_auditevent WHERE sequence > 3")
    assert AuditChainHead.objects.get().sequence == 5
    _assert_broken_at(api(auditor), 4)


@pytest.mark.django_db
def test_a_truncated_table_is_detected_through_the_chain_head(
    api: Any, auditor: Any, chain: list[int]
) -> None:
    # TRUNCATE fires no row trigger (the test database's flush relies on that), so the head must catch it.
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE governance_auditevent")
    _assert_broken_at(api(auditor), 1)


@pytest.mark.django_db
def test_a_forged_consistent_suffix_is_detected_at_the_recorded_head(
    api: Any, auditor: Any, chain: list[int]
) -> None:
    with _as_owner_without_trigger() as cursor:
        _forge_from(cursor, 3, {"risk_class": "high", "approach": "rag", "status": "draft"})
    # The rows agree among themselves; only the head, which the forger left alone, still disagrees.
    events = list(AuditEvent.objects.order_by("sequence"))
    assert all(e.hash == event_hash(e.prev_hash, _body(e)) for e in events)
    # The last link is the one whose hash no longer matches the recorded head.
    _assert_broken_at(api(auditor), 5)


@pytest.mark.django_db
def test_a_forged_suffix_with_a_rewritten_head_is_caught_by_the_head_on_an_earlier_report(
    chain: list[int],
) -> None:
    _, reported_head = audit_chain_head()
    with _as_owner_without_trigger() as cursor:
        _forge_from(cursor, 3, {"risk_class": "high", "approach": "rag", "status": "draft"})
    AuditChainHead.objects.filter(id=1).update(hash=AuditEvent.objects.get(sequence=5).hash)
    assert _command()[1] is None  # internally consistent now: the chain alone cannot tell
    result, error = _command("--expect-head", reported_head)
    assert result["ok"] is False
    assert error is not None


@pytest.mark.django_db
def test_an_outsider_cannot_run_the_verification_through_the_api(api: Any, outsider: Any) -> None:
    assert api(outsider).get(VERIFY_URL).status_code == 403
    assert api(None).get(VERIFY_URL).status_code == 401


# --- One event per write, in the write's transaction ------------------------------------------------


@pytest.mark.django_db
def test_each_write_service_records_exactly_one_event(engineer: Any) -> None:
    system = systems.ai_system_create(
        actor=engineer, owner=engineer, name="Helpdesk", intended_purpose="answers"
    )
    systems.ai_system_update(actor=engineer, system=system, human_oversight="Four eyes.")
    dataset = dataset_services.dataset_create(
        actor=engineer, name="Tickets", purpose="training", owner=engineer
    )
    dpia_create(actor=engineer, ai_system=system, datasets=[dataset], title="Helpdesk DPIA")
    actions = list(AuditEvent.objects.order_by("sequence").values_list("action", "object_id"))
    assert actions == [
        ("ai_system.created", str(system.pk)),
        ("ai_system.updated", str(system.pk)),
        ("dataset.created", str(dataset.pk)),
        ("dpia.created", actions[3][1]),
    ]


@pytest.mark.django_db
def test_an_update_that_changes_nothing_records_no_event(engineer: Any) -> None:
    system = systems.ai_system_create(
        actor=engineer, owner=engineer, name="Helpdesk", intended_purpose="answers"
    )
    systems.ai_system_update(actor=engineer, system=system, name="Helpdesk")
    assert AuditEvent.objects.count() == 1


@pytest.mark.django_db
def test_a_write_that_fails_validation_leaves_neither_the_row_nor_an_event(
    engineer: Any, chain: list[int]
) -> None:
    head = audit_chain_head()
    with pytest.raises(ValidationError):
        systems.ai_system_create(actor=engineer, owner=engineer, name="x" * 201, intended_purpose="answers")
    assert not AISystem.objects.filter(name="x" * 201).exists()
    assert AuditEvent.objects.count() == 5
    assert audit_chain_head() == head


@pytest.mark.django_db
def test_a_rejected_api_write_leaves_neither_the_row_nor_an_event(
    api: Any, engineer: Any, chain: list[int]
) -> None:
    response = api(engineer).post(
        "/api/v1/ai-systems/", {"name": "System 0", "intended_purpose": "a duplicate"}, format="json"
    )
    assert response.status_code == 400
    assert AISystem.objects.count() == 5
    assert AuditEvent.objects.count() == 5


@transaction.atomic
def _system_create_with_leaky_audit(*, actor: Any, name: str) -> AISystem:
    """Shaped like a write service whose audit payload carries an e-mail address by mistake."""
    system = AISystem(name=name, owner=actor, intended_purpose="answers", created_by=actor)
    system.full_clean()
    system.save()
    audit_record(
        actor=actor, action="ai_system.created", obj=system, payload={"notes": ["jan.kowalski@example.com"]}
    )
    return system


@pytest.mark.django_db
def test_a_failing_audit_rolls_the_write_back(engineer: Any, chain: list[int]) -> None:
    head = audit_chain_head()
    with pytest.raises(ValueError, match="personal data") as raised:
        _system_create_with_leaky_audit(actor=engineer, name="Leaky")
    assert "jan.kowalski" not in str(raised.value)  # the refusal must not quote what it refused
    assert not AISystem.objects.filter(name="Leaky").exists()
    assert AuditEvent.objects.count() == 5
    assert audit_chain_head() == head


@pytest.mark.django_db(transaction=True)
def test_recording_an_event_outside_a_transaction_is_refused(engineer: Any) -> None:
    with pytest.raises(RuntimeError, match="inside the write's transaction"):
        audit_record(
            actor=engineer, action="ai_system.noted", object_type="governance.aisystem", object_id="1"
        )
    assert AuditEvent.objects.count() == 0


# --- Concurrency -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_append_a_gap_free_chain_that_verifies(engineer: Any) -> None:
    threads_count, per_thread = 4, 6
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []
    start = audit_chain_head()[0]

    def writer(number: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(per_thread):
                systems.ai_system_create(
                    actor=engineer,
                    owner=engineer,
                    name=f"Writer {number} system {i}",
                    intended_purpose="load",
                )
        except BaseException as exc:  # reported below; a thread's exception would otherwise vanish
            errors.append(exc)
        finally:
            connection.close()  # each thread opened its own connection

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    total = threads_count * per_thread
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, start + total + 1))
    assert AISystem.objects.filter(name__startswith="Writer ").count() == total
    assert audit_chain_head()[0] == start + total
    result, error = _command()
    assert error is None and result["events_checked"] == start + total


# --- No raw personal data in the chain -------------------------------------------------------------

FIRST_NAMES = [
    "Anna", "Piotr", "Maria", "John", "Emily", "Tomasz", "Sarah", "David", "Katarzyna", "Michael",
    "Laura", "James", "Agnieszka", "Robert", "Olivia", "Marek", "Sophie", "Daniel", "Ewa", "Thomas",
]  # fmt: skip
LAST_NAMES = [
    "Kowalska", "Nowak", "Garcia", "Smith", "Johnson", "Wisniewski", "Brown", "Miller", "Lewandowska",
    "Davis", "Wilson", "Taylor", "Zielinska", "Anderson", "Clark", "Wojcik", "Martin", "Walker", "Kaminska",
    "Moore",
]  # fmt: skip


def _people(count: int) -> list[dict[str, str]]:
    people = []
    for i in range(count):
        first, last = FIRST_NAMES[i % 20], LAST_NAMES[(3 * i + i // 20) % 20]
        people.append(
            {
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}{i}@example.com",
                "phone": f"+48 601 {200 + i:03d} {400 + i:03d}",
            }
        )
    return people


def _records(people: list[dict[str, str]]) -> bytes:
    lines = [
        json.dumps(
            {
                "input": f"Hello, my name is {p['name']}. Write to {p['email']} or call me on {p['phone']}.",
                "output": f"Thanks {p['name']}, we will contact you at {p['email']}.",
            }
        )
        for p in people
    ]
    return ("\n".join(lines) + "\n").encode()


def _upload_and_scan(api: Any, engineer: Any, people: list[dict[str, str]]) -> DatasetVersion:
    client = api(engineer)
    created = client.post(
        "/api/v1/datasets/",
        {"name": "Support tickets", "purpose": "training", "legal_basis": "contract"},
        format="json",
    )
    assert created.status_code == 201, created.content
    file = SimpleUploadedFile("tickets.jsonl", _records(people), content_type="application/jsonl")
    response = client.post(
        f"/api/v1/datasets/{created.json()['id']}/versions/", {"file": file}, format="multipart"
    )
    assert response.status_code == 201, response.content
    version_id = response.json()["id"]
    # The worker's path (claim, then scan) run in-process; the real worker is exercised elsewhere.
    assert scanning.dataset_version_claim_scan(version_id=version_id)
    scanning.dataset_version_scan(version_id=version_id)
    return DatasetVersion.objects.get(pk=version_id)


def _raw_values(people: list[dict[str, str]]) -> list[str]:
    values = []
    for person in people:
        digits = "".join(ch for ch in person["phone"] if ch.isdigit())
        values += [person["email"], person["name"], person["phone"], digits, digits[2:]]
        values += person["name"].split()
    return values


@pytest.mark.django_db
def test_no_raw_personal_data_from_a_dataset_reaches_the_audit_chain(api: Any, engineer: Any) -> None:
    people = _people(30)
    version = _upload_and_scan(api, engineer, people)
    assert version.status == "ready"
    events = list(AuditEvent.objects.order_by("sequence"))
    assert [e.action for e in events] == [
        "dataset.created",
        "dataset_version.created",
        "dataset_version.scanned",
    ]
    stored = json.dumps(
        [[e.payload, e.actor, e.action, e.object_type, e.object_id] for e in events], ensure_ascii=False
    ).lower()
    leaked = [value for value in _raw_values(people) if value.lower() in stored]
    assert leaked == []
    assert "@" not in stored


@pytest.mark.django_db
def test_the_scanned_event_carries_the_pii_counts(api: Any, engineer: Any) -> None:
    version = _upload_and_scan(api, engineer, _people(30))
    event = AuditEvent.objects.get(action="dataset_version.scanned", object_id=str(version.pk))
    assert event.payload["pii_summary"] == version.pii_summary
    assert event.payload["pii_summary"]["EMAIL_ADDRESS"] == 60  # each record names its address twice
    assert event.payload["pii_summary"]["PHONE_NUMBER"] == 30
    assert event.payload["records"] == 30
    assert event.payload["contains_personal_data"] is True
    assert Dataset.objects.get(pk=version.dataset_id).contains_personal_data is True


@pytest.mark.django_db
def test_dataset_records_store_subject_keys_but_no_raw_values(api: Any, engineer: Any) -> None:
    people = _people(30)
    version = _upload_and_scan(api, engineer, people)
    records = list(DatasetRecord.objects.filter(version=version).order_by("ordinal"))
    assert len(records) == 30
    all_keys = {key for record in records for key in record.subject_keys}
    for person in people:
        assert subject_key("email", person["email"]) in all_keys
        assert subject_key("phone", person["phone"]) in all_keys
    stored = json.dumps(
        [[r.sha256, r.split, r.subject_keys, r.pii_summary] for r in records], ensure_ascii=False
    ).lower()
    assert [value for value in _raw_values(people) if value.lower() in stored] == []


@pytest.mark.django_db
def test_an_actor_whose_username_is_an_email_is_recorded_by_id() -> None:
    from governance.services.systems import ai_system_create
    from tests.factories import UserFactory

    user = UserFactory(username="jan.kowalski@example.com")
    system = ai_system_create(actor=user, owner=user, name="Mailbox", intended_purpose="sorts mail")
    event = AuditEvent.objects.get(action="ai_system.created", object_id=str(system.pk))
    assert event.actor == f"user#{user.pk}"
