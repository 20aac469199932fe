"""Retention (issue 13): bad inputs, notices, holds, the dataset rule, the report, erasure taking turns."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from governance.choices import DatasetVersionStatus
from governance.models import AuditEvent, Dataset, DatasetRecord, DatasetVersion, LegalHold, RetentionRun
from governance.participants import ErasureScope, erasure_participants
from governance.pii.keys import subject_key
from governance.services import retention
from tests.conftest import wait_for
from tests.factories import DatasetFactory, UserFactory
from tests.training.helpers import ticket_records, upload_version

EMAIL = "Ewa.Nowak@example.org"


@pytest.fixture(autouse=True)
def _regex_engine(settings: Any) -> None:
    settings.PII_ENGINE = "regex"
    settings.RETENTION_NOTICE_DAYS = 14


def _dataset(**fields: Any) -> Any:
    return DatasetFactory(**fields)


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    error = response.json()["error"]
    assert error["code"] == code, error
    return error


def _records() -> list[dict[str, str]]:
    """Ten anonymous tickets, three of them with a client's e-mail and two with the subject's."""
    records = ticket_records(10, seed=3)
    for n in (2, 5, 7):
        records[n] = {**records[n], "input": records[n]["input"] + f" Mail client{n}@example.com."}
    records += [
        {"input": f"Refund for {EMAIL}, ticket {n}. Category?", "output": "billing"} for n in range(2)
    ]
    return records


def _past_retention(dataset: Dataset, days: int = 1) -> Dataset:
    """The date passed (written past the service, which refuses a past date): what time does to a row."""
    Dataset.objects.filter(pk=dataset.pk).update(retention_until=timezone.localdate() - timedelta(days=days))
    return Dataset.objects.get(pk=dataset.pk)


def _live(dataset: Dataset) -> DatasetVersion:
    return dataset.versions.exclude(status=DatasetVersionStatus.ERASED).get()


# --- Bad inputs ------------------------------------------------------------------------------------


def test_a_dataset_created_with_a_retention_date_in_the_past_is_refused(api: Any, engineer: Any) -> None:
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = api(engineer).post(
        "/api/v1/datasets/",
        {"name": "Tickets", "purpose": "training", "retention_until": yesterday},
        format="json",
    )
    error = _error(response, 400, "retention_in_past")
    assert error["details"] == {"field": "retention_until"}
    assert not Dataset.objects.exists()


def test_a_dataset_updated_to_a_retention_date_in_the_past_is_refused_and_keeps_its_date(
    api: Any, engineer: Any
) -> None:
    dataset = _dataset(owner=engineer, retention_until=date(2030, 1, 31))
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = api(engineer).patch(
        f"/api/v1/datasets/{dataset.pk}/", {"retention_until": yesterday}, format="json"
    )
    _error(response, 400, "retention_in_past")
    assert Dataset.objects.get(pk=dataset.pk).retention_until == date(2030, 1, 31)


def test_today_is_a_valid_retention_date(api: Any, engineer: Any) -> None:
    today = timezone.localdate().isoformat()
    response = api(engineer).post(
        "/api/v1/datasets/",
        {"name": "Tickets", "purpose": "training", "retention_until": today},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["retention_until"] == today


def test_the_dataset_admin_form_refuses_a_retention_date_in_the_past(officer: Any) -> None:
    client = Client()
    client.force_login(officer)
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = client.post(
        "/admin/governance/dataset/add/",
        {
            "name": "Tickets",
            "purpose": "training",
            "legal_basis": "",
            "provenance": "",
            "retention_until": yesterday,
            "owner": officer.pk,
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 400, response.status_code
    assert "(retention_in_past)" in response.content.decode()
    assert not Dataset.objects.exists()


def test_a_legal_hold_without_a_reason_is_refused(api: Any, officer: Any) -> None:
    dataset = _dataset()
    for reason in ("", "   "):
        response = api(officer).post(
            "/api/v1/legal-holds/", {"dataset": dataset.pk, "reason": reason}, format="json"
        )
        _error(response, 400, "hold_reason_required")
    assert not LegalHold.objects.exists()


def test_the_admin_refuses_a_legal_hold_without_a_reason(officer: Any) -> None:
    dataset = _dataset()
    client = Client()
    client.force_login(officer)
    response = client.post(
        "/admin/governance/legalhold/add/", {"dataset": dataset.pk, "collection": "", "reason": " "}
    )
    assert response.status_code == 400, response.status_code
    assert "(hold_reason_required)" in response.content.decode()
    assert not LegalHold.objects.exists()


def test_a_legal_hold_names_exactly_one_target(api: Any, officer: Any) -> None:
    response = api(officer).post("/api/v1/legal-holds/", {"reason": "litigation 2026/17"}, format="json")
    _error(response, 400, "hold_target_required")
    assert not LegalHold.objects.exists()


def test_only_officers_record_legal_holds_and_auditors_read_them(
    api: Any, officer: Any, engineer: Any, auditor: Any
) -> None:
    dataset = _dataset()
    body = {"dataset": dataset.pk, "reason": "Tax audit 2026: keep invoices"}
    _error(api(engineer).post("/api/v1/legal-holds/", body, format="json"), 403, "forbidden")
    _error(api(auditor).post("/api/v1/legal-holds/", body, format="json"), 403, "forbidden")
    created = api(officer).post("/api/v1/legal-holds/", body, format="json")
    assert created.status_code == 201, created.content
    hold = created.json()
    assert (hold["dataset"], hold["active"], hold["reason"]) == (dataset.pk, True, body["reason"])
    listed = api(auditor).get("/api/v1/legal-holds/")
    assert [row["id"] for row in listed.json()["results"]] == [hold["id"]]
    _error(api(engineer).get("/api/v1/legal-holds/"), 403, "forbidden")
    event = AuditEvent.objects.get(action="legal_hold.created")
    assert event.payload == {"dataset": dataset.pk, "collection": None}


def test_an_officer_lifts_a_hold_once_and_who_and_when_are_kept(
    api: Any, officer: Any, engineer: Any
) -> None:
    hold = retention.legal_hold_create(actor=officer, dataset=_dataset(), reason="inquiry")
    _error(api(engineer).post(f"/api/v1/legal-holds/{hold.pk}/lift/", {}, format="json"), 403, "forbidden")
    lifted = api(officer).post(f"/api/v1/legal-holds/{hold.pk}/lift/", {"reason": "closed"}, format="json")
    assert lifted.status_code == 200, lifted.content
    assert (lifted.json()["active"], lifted.json()["lifted_by"], lifted.json()["lift_reason"]) == (
        False,
        officer.pk,
        "closed",
    )
    again = api(officer).post(f"/api/v1/legal-holds/{hold.pk}/lift/", {}, format="json")
    _error(again, 409, "already_lifted")


# --- Notices ---------------------------------------------------------------------------------------


def test_officers_with_an_address_are_emailed_once_per_dataset_and_due_date(
    engineer: Any, officer: Any
) -> None:
    dpo: Any = UserFactory(username="dpo", email="dpo@example.org", role="compliance_officer")
    UserFactory(username="eng-mail", email="eng@example.org", role="engineer")
    dataset = _dataset(
        owner=engineer, name="Tickets 2025", retention_until=timezone.localdate() + timedelta(days=10)
    )
    upload_version(dataset, _records(), actor=engineer)
    mail.outbox.clear()

    first = retention.retention_sweep()
    second = retention.retention_sweep()

    assert len(first.notified) == 1 and second.notified == [] and first.enforced == []
    assert [message.to for message in mail.outbox] == [["dpo@example.org"]]
    message = mail.outbox[0]
    due = (timezone.localdate() + timedelta(days=11)).isoformat()
    assert due in message.subject and "Tickets 2025" in message.subject
    assert EMAIL.lower() not in message.body.lower() and "5 item(s)" in message.body
    run = RetentionRun.objects.get()
    assert (run.outcome, run.rule, run.target_id, run.due_on.isoformat()) == (
        "notified",
        "dataset_retention_until",
        dataset.pk,
        due,
    )
    assert run.counts == {"due": 5} and run.notified == [dpo.pk]
    event = AuditEvent.objects.get(action="retention.notified")
    assert event.payload["due_on"] == due and event.payload["officers"] == 1


def test_a_notice_the_mail_server_refuses_is_not_recorded_and_the_next_sweep_sends_it(
    engineer: Any, officer: Any, settings: Any
) -> None:
    UserFactory(username="dpo", email="dpo@example.org", role="compliance_officer")
    dataset = _dataset(owner=engineer, retention_until=timezone.localdate() + timedelta(days=3))
    upload_version(dataset, _records(), actor=engineer)
    # Nothing listens on port 1: the SMTP backend's connection is refused.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 5

    assert retention.retention_sweep().notified == []
    assert not RetentionRun.objects.exists()
    assert not AuditEvent.objects.filter(action="retention.notified").exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox.clear()
    assert len(retention.retention_sweep().notified) == 1
    assert [message.to for message in mail.outbox] == [["dpo@example.org"]]


def test_a_dataset_due_beyond_the_notice_window_is_not_announced_yet(engineer: Any, officer: Any) -> None:
    dataset = _dataset(owner=engineer, retention_until=timezone.localdate() + timedelta(days=30))
    upload_version(dataset, _records(), actor=engineer)
    mail.outbox.clear()
    assert retention.retention_sweep().notified == []
    assert mail.outbox == []


# --- The dataset rule ------------------------------------------------------------------------------


def test_a_dataset_past_retention_loses_its_personal_records_into_a_new_version(
    engineer: Any, officer: Any
) -> None:
    dataset = _dataset(owner=engineer, retention_until=date(2030, 1, 1))
    old = upload_version(dataset, _records(), actor=engineer)
    anonymous = set(
        DatasetRecord.objects.filter(version=old, subject_keys__len=0).values_list("sha256", flat=True)
    )
    dataset = _past_retention(dataset)

    result = retention.retention_sweep()

    run = RetentionRun.objects.get(outcome="enforced")
    assert result.enforced == [run.pk]
    new = _live(dataset)
    assert new.parent_id == old.pk and new.record_count == 7
    assert set(DatasetRecord.objects.filter(version=new).values_list("sha256", flat=True)) == anonymous
    assert not DatasetRecord.objects.filter(version=new, subject_keys__len__gt=0).exists()
    old.refresh_from_db()
    assert old.status == DatasetVersionStatus.ERASED
    assert (run.rule, run.target_id, run.due_on) == (
        "dataset_retention_until",
        dataset.pk,
        timezone.localdate(),
    )
    assert run.counts["records_removed"] == 5 and run.counts["dataset_versions_replaced"] == 1
    assert run.ids["versions_replaced"] == [old.pk] and run.ids["versions_created"] == [new.pk]
    assert run.purged_at is not None
    assert EMAIL.lower() not in json.dumps([run.counts, run.ids, run.purge]).lower()
    assert AuditEvent.objects.filter(action="retention.enforced", object_id=str(run.pk)).count() == 1
    # Run again: nothing personal is left, nothing more is recorded.
    assert retention.retention_sweep().enforced == []


def test_a_held_dataset_is_left_alone_and_the_hold_recorded_once(engineer: Any, officer: Any) -> None:
    dataset = _dataset(owner=engineer, retention_until=date(2030, 1, 1))
    version = upload_version(dataset, _records(), actor=engineer)
    hold = retention.legal_hold_create(actor=officer, dataset=dataset, reason="Court order 12/2026")
    _past_retention(dataset)

    retention.retention_sweep()
    retention.retention_sweep()

    assert _live(dataset).pk == version.pk
    run = RetentionRun.objects.get()
    assert (run.outcome, run.hold_id) == ("held", hold.pk)
    # Lifted: the next sweep removes what fell due.
    retention.legal_hold_lift(actor=officer, hold=hold)
    assert len(retention.retention_sweep().enforced) == 1
    assert _live(dataset).record_count == 7


# --- The report ------------------------------------------------------------------------------------


def test_the_report_lists_what_was_deleted_for_officers_and_auditors_only(
    api: Any, engineer: Any, officer: Any, auditor: Any
) -> None:
    dataset = _dataset(owner=engineer, name="CRM export", retention_until=date(2030, 1, 1))
    upload_version(dataset, _records(), actor=engineer)
    _past_retention(dataset)
    retention.retention_sweep()
    run = RetentionRun.objects.get(outcome="enforced")

    as_json = api(auditor).get("/api/v1/retention/report/", {"output": "json"})
    assert as_json.status_code == 200, as_json.content
    rows = as_json.json()
    assert [(r["id"], r["outcome"], r["rule"], r["target_name"]) for r in rows] == [
        (run.pk, "enforced", "dataset_retention_until", "CRM export")
    ]
    assert rows[0]["counts"]["records_removed"] == 5
    as_csv = api(officer).get("/api/v1/retention/report/", {"output": "csv"})
    assert as_csv.status_code == 200 and as_csv["Content-Type"].startswith("text/csv")
    lines = as_csv.content.decode().splitlines()
    assert lines[0] == ",".join(retention.REPORT_COLUMNS)
    assert len(lines) == 2 and f"{run.pk}," in lines[1] and "CRM export" in lines[1]
    _error(api(engineer).get("/api/v1/retention/report/"), 403, "forbidden")
    _error(api(officer).get("/api/v1/retention/report/", {"output": "pdf"}), 400, "validation_failed")


def test_the_admin_offers_the_csv_report_to_auditors_and_refuses_engineers(
    engineer: Any, auditor: Any
) -> None:
    dataset = _dataset(owner=engineer, name="CRM export", retention_until=date(2030, 1, 1))
    upload_version(dataset, _records(), actor=engineer)
    _past_retention(dataset)
    retention.retention_sweep()
    run = RetentionRun.objects.get(outcome="enforced")
    client = Client()
    client.force_login(auditor)
    listed = client.get("/admin/governance/retentionrun/")
    assert listed.status_code == 200 and "/admin/governance/retentionrun/report/" in listed.content.decode()
    response = client.get("/admin/governance/retentionrun/report/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response.content.decode().splitlines()[1].startswith(f"{run.pk},")
    event = AuditEvent.objects.get(action="retention.report_exported")
    assert event.payload == {"output": "csv", "runs": 1}
    client.force_login(engineer)
    assert client.get("/admin/governance/retentionrun/report/").status_code == 403


# --- Retention and erasure on the same dataset -----------------------------------------------------


def _erase_subject() -> None:
    """The erasure machinery's logical phase for the subject's e-mail, datasets then training."""
    scope = ErasureScope(request_id=1, reference="ER-77", keys=(subject_key("email", EMAIL),))
    for participant in erasure_participants().values():
        if participant.name in ("datasets", "training"):
            participant.erase(scope)


def _ordered_hashes(version: DatasetVersion) -> list[tuple[str, str]]:
    return list(
        DatasetRecord.objects.filter(version=version).order_by("ordinal").values_list("sha256", "split")
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "erasure_first", [True, False], ids=["erasure-then-retention", "retention-then-erasure"]
)
def test_retention_and_erasure_end_in_the_same_state_whichever_runs_first(
    engineer: Any, officer: Any, erasure_first: bool
) -> None:
    dataset = _dataset(owner=engineer, retention_until=date(2030, 1, 1))
    first = upload_version(dataset, _records(), actor=engineer)
    anonymous = [
        (sha, split)
        for sha, split, keys in DatasetRecord.objects.filter(version=first)
        .order_by("ordinal")
        .values_list("sha256", "split", "subject_keys")
        if not keys
    ]
    _past_retention(dataset)
    if erasure_first:
        _erase_subject()
        retention.retention_sweep()
    else:
        retention.retention_sweep()
        _erase_subject()
    # Either way the live version holds exactly the anonymous records, in order, each in its split.
    assert _ordered_hashes(_live(dataset)) == anonymous
    assert len(anonymous) == 7


@pytest.mark.django_db(transaction=True)
def test_retention_waits_for_an_erasure_holding_the_dataset_then_finishes_its_work(
    engineer: Any, officer: Any
) -> None:
    dataset = _dataset(owner=engineer, retention_until=date(2030, 1, 1))
    upload_version(dataset, _records(), actor=engineer)
    _past_retention(dataset)
    erased = threading.Event()
    release = threading.Event()
    outcome: dict[str, Any] = {}

    def erasure_in_a_transaction() -> None:
        from django.db import transaction

        try:
            with transaction.atomic():
                _erase_subject()  # takes the dataset's row lock
                erased.set()
                release.wait(timeout=120)
        finally:
            connections.close_all()

    def sweep() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                outcome["pid"] = cursor.fetchone()[0]
            outcome["result"] = retention.retention_sweep()
        finally:
            connections.close_all()

    holder = threading.Thread(target=erasure_in_a_transaction)
    holder.start()
    assert erased.wait(timeout=120)
    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    # The sweep blocks on the dataset's row lock while the erasure's transaction is open.
    wait_for(lambda: "pid" in outcome and _waits_for_a_lock(outcome["pid"]))
    assert not RetentionRun.objects.filter(outcome="enforced").exists()
    release.set()
    holder.join(timeout=120)
    sweeper.join(timeout=120)

    run = RetentionRun.objects.get(outcome="enforced")
    # The erasure took the subject's two records; retention found the three other personal ones.
    assert run.counts["records_removed"] == 3
    assert _live(dataset).record_count == 7
    assert dataset.versions.count() == 3


def _waits_for_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row and row[0] == "Lock")
