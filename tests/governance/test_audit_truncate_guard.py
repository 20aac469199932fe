"""TRUNCATE of the audit chain's tables is refused; an emptied chain whose head remembers events is broken."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from governance.models import AuditChainHead, AuditEvent
from governance.services import systems
from governance.services.audit import audit_verify_chain
from tests.conftest import AUDIT_TRUNCATE_TRIGGERS

pytestmark = pytest.mark.django_db


@pytest.fixture
def guarded() -> Iterator[None]:
    """The TRUNCATE guard as production has it (the test database runs with it disabled for flushes)."""
    with connection.cursor() as cursor:
        for table, trigger in AUDIT_TRUNCATE_TRIGGERS.items():
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
    yield
    with connection.cursor() as cursor:
        for table, trigger in AUDIT_TRUNCATE_TRIGGERS.items():
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")


@pytest.fixture
def recorded(engineer: Any) -> None:
    for i in range(3):
        systems.ai_system_create(actor=engineer, owner=engineer, name=f"S{i}", intended_purpose="answers")


@pytest.mark.parametrize("table", ["governance_auditevent", "governance_auditchainhead"])
def test_truncating_an_audit_table_is_refused_by_the_database(
    guarded: None, recorded: None, table: str
) -> None:
    with pytest.raises(DatabaseError, match="TRUNCATE refused"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table}")

    assert AuditEvent.objects.count() == 3
    assert AuditChainHead.objects.get().sequence == 3


def test_truncating_both_audit_tables_at_once_is_refused(guarded: None, recorded: None) -> None:
    with pytest.raises(DatabaseError, match="TRUNCATE refused"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE governance_auditevent, governance_auditchainhead")

    assert audit_verify_chain().ok


def test_an_empty_chain_whose_head_records_events_is_reported_broken(recorded: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE governance_auditevent")  # the guard is off in the test database

    result = audit_verify_chain()

    assert not result.ok
    assert result.first_broken_sequence == 1
    assert result.reason == "the chain is empty but its head records 3 events"
    with pytest.raises(CommandError, match="broken at sequence 1: the chain is empty"):
        call_command("verify_audit_chain")
