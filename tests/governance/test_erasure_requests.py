"""Erasure requests over the API: receiving, deciding, the bad inputs of issue 8, and the phases.

The phases run here in this process through the same service functions the Celery tasks call (claim,
then run); tests/training/test_erasure_end_to_end.py runs them through the real worker.
"""

from __future__ import annotations

import io
import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from django.db import connection
from django.utils import timezone
from pypdf import PdfReader

from governance.models import AuditEvent, ErasureNameMatch, ErasureRequest, SuppressedKey
from governance.pii.keys import subject_key
from governance.services import erasure
from governance.services.audit import audit_verify_chain

pytestmark = pytest.mark.django_db

URL = "/api/v1/erasure-requests/"
PESEL = "44051401359"
EMAIL = "ewa.nowakowska@example.org"
IDENTIFIERS = [{"type": "email", "value": EMAIL}, {"type": "pesel", "value": PESEL}]


@pytest.fixture(autouse=True)
def _regex_engine(settings: Any) -> None:
    settings.PII_ENGINE = "regex"


def create(api: Any, user: Any, **body: Any) -> Any:
    payload = {"reference": "DSR-2026-001", "identifiers": IDENTIFIERS, **body}
    return api(user).post(URL, payload, format="json")


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def nothing_stored(before: int) -> bool:
    return ErasureRequest.objects.count() == 0 and AuditEvent.objects.count() == before


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is sent to a broker: the test runs both phases itself (a worker would race it)."""
    monkeypatch.setattr(erasure, "enqueue_on_commit", lambda *args, **kwargs: None)


def run_phases(request: ErasureRequest) -> ErasureRequest:
    """What the two Celery tasks do, in this process (transactional tests: VACUUM needs autocommit)."""
    assert erasure.erasure_request_claim(request_id=request.pk, phase="logical")
    assert erasure.erasure_request_run_logical(request_id=request.pk).state == "done"
    assert erasure.erasure_request_claim(request_id=request.pk, phase="purge")
    erasure.erasure_request_run_purge(request_id=request.pk)
    return ErasureRequest.objects.get(pk=request.pk)


# --- Receiving ----------------------------------------------------------------------------------


def test_an_officer_receives_a_request_and_only_types_and_keys_are_stored(api: Any, officer: Any) -> None:
    response = create(api, officer)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "received"
    assert body["identifier_types"] == {"email": 1, "pesel": 1}
    assert body["subject_key_count"] == 2
    record = ErasureRequest.objects.get(pk=body["id"])
    assert record.subject_keys == sorted([subject_key("email", EMAIL), subject_key("pesel", PESEL)])
    assert record.due_at == record.received_at + relativedelta(months=1)
    # The raw values are only in the Fernet ciphertext, never in clear in any column.
    row = json.dumps(list(ErasureRequest.objects.filter(pk=record.pk).values().first().values()), default=str)
    assert EMAIL not in row and PESEL not in row and EMAIL not in response.content.decode()
    assert bytes(record.identifiers_encrypted).startswith(b"gAAAAA")
    event = AuditEvent.objects.get(action="erasure_request.received")
    assert EMAIL not in json.dumps(event.payload) and PESEL not in json.dumps(event.payload)


@pytest.mark.parametrize(
    ("identifiers", "code"),
    [
        ([], "no_identifiers"),
        ([{"type": "shoe_size", "value": "42"}], "unknown_identifier_type"),
        ([{"type": "pesel", "value": "44051401358"}], "invalid_pesel"),
        ([{"type": "nip", "value": "123-456-32-19"}], "invalid_nip"),
        ([{"type": "iban", "value": "PL61 1090 1014 0000 0712 1981 2875"}], "invalid_iban"),
        ([{"type": "phone", "value": "call me maybe"}], "invalid_phone"),
        ([{"type": "email", "value": "not-an-address"}], "invalid_email"),
    ],
)
def test_a_bad_identifier_is_refused_naming_the_item_and_nothing_is_stored(
    api: Any, officer: Any, identifiers: list[dict[str, str]], code: str
) -> None:
    before = AuditEvent.objects.count()
    items = [{"type": "email", "value": EMAIL}, *identifiers] if identifiers else []

    response = create(api, officer, identifiers=items)

    assert response.status_code == 400, response.content
    assert error_code(response) == code
    if identifiers:
        assert response.json()["error"]["details"]["index"] == 1
    assert nothing_stored(before)
    for item in identifiers:
        assert item["value"] not in response.content.decode()


def test_ten_thousand_and_one_identifiers_are_refused(api: Any, officer: Any) -> None:
    before = AuditEvent.objects.count()
    items = [{"type": "customer_id", "value": f"C-{n}"} for n in range(10_001)]

    response = create(api, officer, identifiers=items)

    assert response.status_code == 400, response.content
    assert error_code(response) == "too_many_identifiers"
    assert nothing_stored(before)


def test_identifiers_in_the_query_string_are_refused_before_anything_is_read(api: Any, officer: Any) -> None:
    before = AuditEvent.objects.count()

    response = api(officer).post(
        f"{URL}?identifiers={EMAIL}", {"reference": "DSR-q", "identifiers": IDENTIFIERS}, format="json"
    )

    assert response.status_code == 400
    assert error_code(response) == "query_parameters_not_allowed"
    assert EMAIL not in response.content.decode()
    assert nothing_stored(before)


@pytest.mark.parametrize("role", ["engineer", "auditor"])
def test_engineers_and_auditors_cannot_create_or_execute(
    api: Any, officer: Any, role: str, request: pytest.FixtureRequest
) -> None:
    user = request.getfixturevalue(role)
    assert create(api, user).status_code == 403
    record = erasure.erasure_request_create(actor=officer, reference="DSR-9", identifiers=IDENTIFIERS)

    response = api(user).post(f"{URL}{record.pk}/execute/", {}, format="json")

    assert response.status_code == 403 and error_code(response) == "forbidden"
    record.refresh_from_db()
    assert record.status == "received"


def test_engineers_get_403_on_reading_too(api: Any, engineer: Any, officer: Any) -> None:
    record = erasure.erasure_request_create(actor=officer, reference="DSR-9", identifiers=IDENTIFIERS)
    for url in (URL, f"{URL}{record.pk}/", f"{URL}{record.pk}/matches/", "/api/v1/suppressions/"):
        assert api(engineer).get(url).status_code == 403, url


def test_a_reference_with_markup_is_kept_as_text(api: Any, officer: Any) -> None:
    reference = "<link href=file:///etc/passwd>"
    response = create(api, officer, reference=reference)
    assert response.status_code == 201
    assert response.json()["reference"] == reference


def test_a_taken_reference_is_a_conflict(api: Any, officer: Any) -> None:
    assert create(api, officer).status_code == 201
    response = create(api, officer)
    assert response.status_code == 409 and error_code(response) == "reference_taken"


# --- Decisions ------------------------------------------------------------------------------------


def test_rejecting_needs_an_article_17_3_ground(api: Any, officer: Any) -> None:
    record = erasure.erasure_request_create(actor=officer, reference="DSR-r", identifiers=IDENTIFIERS)
    client = api(officer)

    missing = client.post(f"{URL}{record.pk}/reject/", {"reason": "no"}, format="json")
    wrong = client.post(f"{URL}{record.pk}/reject/", {"ground": "because", "reason": "no"}, format="json")
    assert missing.status_code == 400 and wrong.status_code == 400
    record.refresh_from_db()
    assert record.status == "received"

    done = client.post(
        f"{URL}{record.pk}/reject/", {"ground": "legal_claims", "reason": "A pending claim."}, format="json"
    )
    assert done.status_code == 200, done.content
    record.refresh_from_db()
    assert record.status == "rejected" and record.rejection_ground == "legal_claims"
    assert record.identifiers_encrypted is None  # the request ended: nothing raw is kept


@pytest.mark.parametrize("final", ["rejected", "completed"])
def test_executing_a_rejected_or_completed_request_is_a_conflict(api: Any, officer: Any, final: str) -> None:
    record = erasure.erasure_request_create(actor=officer, reference="DSR-x", identifiers=IDENTIFIERS)
    ErasureRequest.objects.filter(pk=record.pk).update(
        status=final, rejection_ground="legal_claims" if final == "rejected" else ""
    )
    before = AuditEvent.objects.count()

    response = api(officer).post(f"{URL}{record.pk}/execute/", {}, format="json")

    assert response.status_code == 409
    assert error_code(response) == f"erasure_{final}"
    assert AuditEvent.objects.count() == before


def test_executing_twice_the_second_is_a_conflict(api: Any, officer: Any) -> None:
    record = erasure.erasure_request_create(actor=officer, reference="DSR-2x", identifiers=IDENTIFIERS)
    client = api(officer)

    first = client.post(f"{URL}{record.pk}/execute/", {}, format="json")
    second = client.post(f"{URL}{record.pk}/execute/", {}, format="json")

    assert first.status_code == 200 and first.json()["status"] == "in_progress"
    assert second.status_code == 409 and error_code(second) == "erasure_running"


@pytest.mark.django_db(transaction=True)
def test_executing_twice_at_once_one_runs_and_the_other_gets_409(
    api: Any, officer: Any, in_process: None
) -> None:
    # in_process: no task is sent, so a session worker cannot still be erasing (and locking tables)
    # when this test's database is flushed.
    record = erasure.erasure_request_create(actor=officer, reference="DSR-race", identifiers=IDENTIFIERS)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def execute() -> None:
        try:
            barrier.wait()
            statuses.append(api(officer).post(f"{URL}{record.pk}/execute/", {}, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=execute) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200, 409]
    assert AuditEvent.objects.filter(action="erasure_request.executed").count() == 1


def test_hold_release_and_extend(api: Any, officer: Any) -> None:
    record = erasure.erasure_request_create(actor=officer, reference="DSR-h", identifiers=IDENTIFIERS)
    client = api(officer)
    due = record.due_at

    assert client.post(f"{URL}{record.pk}/hold/", {}, format="json").status_code == 400
    assert client.post(f"{URL}{record.pk}/hold/", {"reason": "Litigation."}, format="json").status_code == 200
    held = client.post(f"{URL}{record.pk}/execute/", {}, format="json")
    assert held.status_code == 409 and error_code(held) == "erasure_on_hold"
    assert client.post(f"{URL}{record.pk}/release/", {}, format="json").status_code == 200

    no_reason = client.post(f"{URL}{record.pk}/extend/", {"months": 1}, format="json")
    assert no_reason.status_code == 400
    extended = client.post(f"{URL}{record.pk}/extend/", {"months": 2, "reason": "Complex."}, format="json")
    assert extended.status_code == 200
    record.refresh_from_db()
    assert record.extension_months == 2 and record.due_at > due + timedelta(days=55)
    beyond = client.post(f"{URL}{record.pk}/extend/", {"months": 1, "reason": "More."}, format="json")
    assert beyond.status_code == 409 and error_code(beyond) == "extension_limit"


def test_overdue_requests_are_listed(api: Any, officer: Any, auditor: Any) -> None:
    late = erasure.erasure_request_create(
        actor=officer,
        reference="DSR-late",
        identifiers=IDENTIFIERS,
        received_at=timezone.now() - timedelta(days=40),
    )
    erasure.erasure_request_create(actor=officer, reference="DSR-fresh", identifiers=IDENTIFIERS)

    response = api(auditor).get(f"{URL}?overdue=true")

    assert response.status_code == 200
    assert [row["reference"] for row in response.json()["results"]] == [late.reference]
    assert response.json()["results"][0]["overdue"] is True


# --- Name-only matches ------------------------------------------------------------------------------


def test_a_name_only_match_blocks_execute_until_decided(api: Any, officer: Any) -> None:
    record = erasure.erasure_request_create(
        actor=officer,
        reference="DSR-n",
        identifiers=[*IDENTIFIERS, {"type": "person", "value": "Ewa Nowakowska"}],
    )
    match = ErasureNameMatch.objects.create(
        request=record, store="retrieval", kind="document", object_id=999, label="document 999 in 'KB'"
    )
    client = api(officer)

    blocked = client.post(f"{URL}{record.pk}/execute/", {}, format="json")
    assert blocked.status_code == 409 and error_code(blocked) == "unresolved_name_matches"
    listed = client.get(f"{URL}{record.pk}/matches/")
    assert [m["id"] for m in listed.json()] == [match.pk]

    unknown = client.post(f"{URL}{record.pk}/decide/", {"exclude": [match.pk + 1000]}, format="json")
    assert unknown.status_code == 400 and error_code(unknown) == "unknown_name_match"
    decided = client.post(f"{URL}{record.pk}/decide/", {"exclude": [match.pk]}, format="json")
    assert decided.status_code == 200 and decided.json()["name_matches"]["excluded"] == 1
    assert client.post(f"{URL}{record.pk}/execute/", {}, format="json").status_code == 200


# --- The phases and the certificate -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_subject_found_nowhere_completes_with_a_certificate_saying_so(
    api: Any, officer: Any, auditor: Any, in_process: None
) -> None:
    record = erasure.erasure_request_create(
        actor=officer, reference="<link href=file:///etc/passwd>", identifiers=IDENTIFIERS
    )
    erasure.erasure_request_execute(actor=officer, request=record)

    done = run_phases(record)

    assert done.status == "completed", (done.error, done.verification)
    assert done.identifiers_encrypted is None
    assert done.certificate_facts["nothing_found"] is True
    assert SuppressedKey.objects.filter(request=done).count() == 2
    pdf = api(auditor).get(f"{URL}{done.pk}/certificate/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    data = b"".join(pdf.streaming_content)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "<link href=file:///etc/passwd>" in " ".join(text.split())  # printed, not fetched
    assert done.chain_head_hash[:16] in text.replace("\n", "")
    import hashlib

    assert hashlib.sha256(data).hexdigest() == done.certificate_sha256
    completed = AuditEvent.objects.get(action="erasure_request.completed", object_id=str(done.pk))
    assert completed.payload["certificate_sha256"] == done.certificate_sha256
    facts = api(auditor).get(f"{URL}{done.pk}/certificate/facts/").json()
    assert facts == done.certificate_facts
    assert EMAIL not in json.dumps(facts) and PESEL not in json.dumps(facts)
    assert audit_verify_chain().ok


def test_the_certificate_is_not_ready_before_completion(api: Any, officer: Any) -> None:
    record = erasure.erasure_request_create(actor=officer, reference="DSR-c", identifiers=IDENTIFIERS)
    response = api(officer).get(f"{URL}{record.pk}/certificate/")
    assert response.status_code == 409 and error_code(response) == "certificate_not_ready"


@pytest.mark.django_db(transaction=True)
def test_a_lifted_suppression_is_recorded_with_its_reason(
    api: Any, officer: Any, auditor: Any, in_process: None
) -> None:
    record = erasure.erasure_request_create(actor=officer, reference="DSR-l", identifiers=IDENTIFIERS)
    erasure.erasure_request_execute(actor=officer, request=record)
    run_phases(record)
    suppression = SuppressedKey.objects.filter(request=record).first()
    assert suppression is not None

    refused = api(auditor).post(
        f"/api/v1/suppressions/{suppression.pk}/lift/", {"reason": "x"}, format="json"
    )
    assert refused.status_code == 403
    missing = api(officer).post(f"/api/v1/suppressions/{suppression.pk}/lift/", {}, format="json")
    assert missing.status_code == 400
    lifted = api(officer).post(
        f"/api/v1/suppressions/{suppression.pk}/lift/",
        {"reason": "The subject signed up again."},
        format="json",
    )
    assert lifted.status_code == 200 and lifted.json()["lifted_by"] == officer.username
    again = api(officer).post(f"/api/v1/suppressions/{suppression.pk}/lift/", {"reason": "x"}, format="json")
    assert again.status_code == 409 and error_code(again) == "already_lifted"


# --- What a new user found -------------------------------------------------------------------------


def test_an_empty_decision_is_refused_and_records_nothing(api: Any, officer: Any) -> None:
    record = erasure.erasure_request_create(actor=officer, reference="DSR-e", identifiers=IDENTIFIERS)
    before = AuditEvent.objects.count()

    response = api(officer).post(f"{URL}{record.pk}/decide/", {}, format="json")

    assert response.status_code == 400 and error_code(response) == "nothing_to_decide"
    assert AuditEvent.objects.count() == before


def test_each_extension_keeps_its_reason_and_a_release_clears_the_hold(api: Any, officer: Any) -> None:
    record = erasure.erasure_request_create(actor=officer, reference="DSR-x2", identifiers=IDENTIFIERS)
    client = api(officer)
    client.post(f"{URL}{record.pk}/extend/", {"months": 1, "reason": "Complex."}, format="json")
    client.post(f"{URL}{record.pk}/extend/", {"months": 1, "reason": "Many requests."}, format="json")
    client.post(f"{URL}{record.pk}/hold/", {"reason": "Litigation."}, format="json")
    released = client.post(f"{URL}{record.pk}/release/", {}, format="json").json()

    assert released["extension_reason"] == "+1 month: Complex.\n+1 month: Many requests."
    assert released["status"] == "received" and released["hold_reason"] == ""


def test_the_same_identifier_twice_counts_once(officer: Any) -> None:
    record = erasure.erasure_request_create(
        actor=officer,
        reference="DSR-dup",
        identifiers=[{"type": "email", "value": EMAIL}, {"type": "email", "value": EMAIL.upper()}],
    )
    assert record.identifier_types == {"email": 1} and len(record.subject_keys) == 1


def test_a_form_encoded_request_is_refused_as_unsupported(api: Any, officer: Any) -> None:
    response = api(officer).post(URL, {"reference": "DSR-f", "identifiers": f"email:{EMAIL}"})
    assert response.status_code == 415 and not ErasureRequest.objects.exists()


def test_a_suppression_cannot_be_lifted_while_its_request_runs(api: Any, officer: Any) -> None:
    record = erasure.erasure_request_create(actor=officer, reference="DSR-run", identifiers=IDENTIFIERS)
    ErasureRequest.objects.filter(pk=record.pk).update(status="erased")
    suppression = SuppressedKey.objects.create(key=record.subject_keys[0], key_type="email", request=record)

    response = api(officer).post(
        f"/api/v1/suppressions/{suppression.pk}/lift/", {"reason": "x"}, format="json"
    )

    assert response.status_code == 409 and error_code(response) == "erasure_not_completed"
    suppression.refresh_from_db()
    assert suppression.lifted_at is None


@pytest.mark.django_db(transaction=True)
def test_purge_now_and_a_lowered_purge_window_apply_to_requests_already_waiting(
    api: Any, officer: Any, in_process: None, settings: Any
) -> None:
    record = erasure.erasure_request_create(actor=officer, reference="DSR-wait", identifiers=IDENTIFIERS)
    erasure.erasure_request_execute(actor=officer, request=record)
    assert erasure.erasure_request_claim(request_id=record.pk, phase="logical")
    erasure.erasure_request_run_logical(request_id=record.pk)
    assert erasure.erasure_requests_due_for_purge() == []  # due in an hour
    settings.ERASURE_PURGE_WITHIN_S = 0
    assert erasure.erasure_requests_due_for_purge() == [record.pk]
    settings.ERASURE_PURGE_WITHIN_S = 3600

    received = erasure.erasure_request_create(actor=officer, reference="DSR-not-yet", identifiers=IDENTIFIERS)
    early = api(officer).post(f"{URL}{received.pk}/purge/", {}, format="json")
    now = api(officer).post(f"{URL}{record.pk}/purge/", {}, format="json")

    assert early.status_code == 409
    assert now.status_code == 200, now.content
    assert erasure.erasure_requests_due_for_purge() == [record.pk]
    assert AuditEvent.objects.filter(
        action="erasure_request.purge_requested", object_id=str(record.pk)
    ).exists()
