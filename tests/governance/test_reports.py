"""Reports for officers and auditors: audit report (PDF, CSV, JSON), DPIA report, Art. 30 records."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from pypdf import PdfReader

from governance.choices import DatasetVersionStatus
from governance.errors import NotPermitted
from governance.models import AuditEvent, DatasetVersion
from governance.rendering import STATIC_SCHEME, render_html
from governance.services import datasets, reports
from governance.services.audit import audit_chain_head, audit_record
from tests.factories import AISystemFactory, DatasetFactory, DPIAFactory

AUDIT = "/api/v1/reports/audit/"
RECORDS = "/api/v1/reports/records-of-processing/"
TRIGGER = "governance_auditevent_append_only"
INJECTIONS = (
    "{{ settings.SECRET_KEY }}",
    "<img src=file:///etc/passwd>",
    "<link rel=attachment href=file:///etc/passwd>",
    "url(http://127.0.0.1:6379/)",
    "@import url(http://127.0.0.1:6379/x.css);",
)


@pytest.fixture(autouse=True)
def _pdf_cap(settings: Any) -> None:
    settings.REPORT_PDF_MAX_EVENTS = 500


def pdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def squeezed(text: str) -> str:
    # Text extraction breaks lines where the layout wrapped them; compare without any whitespace.
    return "".join(text.split())


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def period(days_back: int = 1, days_ahead: int = 1) -> dict[str, str]:
    today = timezone.now().date()
    return {"start": str(today - timedelta(days=days_back)), "end": str(today + timedelta(days=days_ahead))}


def record_events(count: int, *, action: str = "test.happened", object_id: str = "1", **payload: Any) -> None:
    with transaction.atomic():
        for i in range(count):
            audit_record(
                actor=None,
                action=action,
                object_type="governance.test",
                object_id=object_id,
                payload={"i": i, **payload},
            )


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def report_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="report.generated").order_by("sequence"))


# --- The period and the parameters ----------------------------------------------------------------


def test_a_period_whose_end_precedes_its_start_is_refused(api, auditor):
    response = api(auditor).get(AUDIT, {"start": "2026-03-02", "end": "2026-03-01"})

    assert response.status_code == 400
    assert error_code(response) == "period_end_before_start"
    assert report_events() == []


def test_a_period_longer_than_the_configured_limit_is_refused(api, auditor, settings):
    settings.REPORT_MAX_PERIOD_DAYS = 31

    response = api(auditor).get(AUDIT, {"start": "2026-01-01", "end": "2026-02-01"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "period_too_long"
    assert response.json()["error"]["details"] == {"days": 32, "max_days": 31}
    assert report_events() == []


def test_a_period_of_exactly_the_limit_is_accepted(api, auditor, settings):
    settings.REPORT_MAX_PERIOD_DAYS = 31

    response = api(auditor).get(AUDIT, {"start": "2026-01-01", "end": "2026-01-31"})

    assert response.status_code == 200


def test_the_default_limit_is_3660_days():
    assert settings.REPORT_MAX_PERIOD_DAYS == 3660


def test_a_period_bound_that_is_not_a_date_is_refused(api, auditor):
    response = api(auditor).get(AUDIT, {"start": "2026-02-30", "end": "2026-03-01"})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_period",
        "message": "start must be an ISO 8601 date or date and time",
        "details": {"field": "start"},
    }


def test_an_end_on_the_last_day_of_the_calendar_is_refused_not_a_server_error(api, auditor):
    response = api(auditor).get(AUDIT, {"start": "9999-12-01", "end": "9999-12-31"})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_period",
        "message": "end lies outside the calendar this platform reads (years 1 to 9999)",
        "details": {"field": "end"},
    }


def test_a_date_as_end_includes_that_whole_day_and_a_datetime_end_is_excluded():
    assert reports.report_period(start="2026-03-01", end="2026-03-31") == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    )
    assert reports.report_period(start="2026-03-01T08:00:00+02:00", end="2026-03-01T12:00:00Z") == (
        datetime(2026, 3, 1, 6, tzinfo=UTC),
        datetime(2026, 3, 1, 12, tzinfo=UTC),
    )


def test_an_offset_whose_plus_sign_a_query_string_turned_into_a_space_is_read_as_an_offset():
    assert reports.report_period(start="2026-03-01T08:00:00 02:00", end="2026-03-02") == (
        datetime(2026, 3, 1, 6, tzinfo=UTC),
        datetime(2026, 3, 3, tzinfo=UTC),
    )


def test_an_unknown_parameter_is_refused(api, auditor):
    response = api(auditor).get(AUDIT, {**period(), "actor": "officer"})

    assert response.status_code == 400
    assert error_code(response) == "unknown_field"


def test_drfs_format_parameter_is_refused_as_unknown_not_taken_as_the_output(api, auditor):
    response = api(auditor).get(AUDIT, {**period(), "format": "json"})

    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "format"


def test_an_accept_header_naming_the_file_type_gets_the_file(api, auditor):
    response = api(auditor).get(RECORDS, {"output": "pdf"}, HTTP_ACCEPT="application/pdf")

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-")


def test_an_output_the_report_does_not_offer_is_refused(api, auditor):
    response = api(auditor).get(AUDIT, {**period(), "output": "xlsx"})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"output": ['"xlsx" is not a valid choice.']}


def test_a_filter_that_could_carry_personal_data_is_refused_before_it_reaches_the_chain(api, auditor):
    response = api(auditor).get(AUDIT, {**period(), "object_id": "anna@example.org"})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "object_id": ["letters, digits and _ . : - only (an id, never a person's identifier)"]
    }
    assert error_code(response) == "validation_failed"
    assert report_events() == []


# --- Who may ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [AUDIT, RECORDS, "dpia"])
def test_an_engineer_gets_403_on_every_report(api, engineer, url):
    url = f"/api/v1/reports/dpia/{DPIAFactory().pk}/" if url == "dpia" else url

    response = api(engineer).get(url, period() if url == AUDIT else {})

    assert response.status_code == 403
    assert error_code(response) == "forbidden"
    assert report_events() == []


def test_the_report_service_itself_refuses_an_engineer(engineer):
    where = reports.report_audit_filter(**period())

    with pytest.raises(NotPermitted):
        reports.report_audit_generate(actor=engineer, where=where, output="csv")


# --- The audit report: CSV -------------------------------------------------------------------------


def test_the_audit_csv_holds_every_event_of_the_period_in_chain_order(api, auditor):
    record_events(3)

    response = api(auditor).get(AUDIT, period())

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(body(response).decode())))
    assert rows[0] == list(reports.AUDIT_COLUMNS)
    assert [row[0] for row in rows[1:]] == ["1", "2", "3"]
    first = AuditEvent.objects.get(sequence=1)
    assert rows[1] == [
        "1",
        first.timestamp.isoformat(),
        "system",
        "test.happened",
        "governance.test",
        "1",
        '{"i":0}',
        "0" * 64,
        first.hash,
    ]


def test_the_audit_csv_names_the_head_it_stops_at_and_leaves_out_its_own_event(api, auditor):
    record_events(2)
    head = AuditEvent.objects.get(sequence=2)

    response = api(auditor).get(AUDIT, period())
    rows = list(csv.reader(io.StringIO(body(response).decode())))

    assert (response["X-Audit-Chain-Head-Sequence"], response["X-Audit-Chain-Head-Hash"]) == ("2", head.hash)
    assert response["X-Report-Event"] == "3"
    assert [row[0] for row in rows[1:]] == ["1", "2"]


def test_the_report_event_is_written_before_the_response_streams(api, auditor):
    record_events(1)

    response = api(auditor).get(AUDIT, {**period(), "action": "test.happened"})

    # Nothing of the body has been read yet, and the event is there.
    [event] = report_events()
    assert event.actor == "auditor"
    assert (event.object_type, event.object_id) == ("report", "audit")
    today = timezone.now().date()
    assert event.payload == {
        "kind": "audit",
        "output": "csv",
        "period": {
            "start": f"{today - timedelta(days=1)}T00:00:00+00:00",
            "end": f"{today + timedelta(days=2)}T00:00:00+00:00",
        },
        "filters": {"action": "test.happened"},
    }
    assert len(body(response).splitlines()) == 2


def test_the_audit_report_keeps_only_the_events_of_its_object_and_action(api, auditor):
    record_events(2, object_id="7")
    record_events(1, object_id="8")
    record_events(1, action="test.other", object_id="7")

    response = api(auditor).get(
        AUDIT, {**period(), "object_type": "governance.test", "object_id": "7", "action": "test.happened"}
    )

    rows = list(csv.reader(io.StringIO(body(response).decode())))
    assert [row[0] for row in rows[1:]] == ["1", "2"]


def test_events_outside_the_period_are_left_out(api, auditor):
    record_events(2)

    response = api(auditor).get(AUDIT, {"start": "2020-01-01", "end": "2020-12-31"})

    assert body(response).decode().splitlines() == [",".join(reports.AUDIT_COLUMNS)]


def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_printed_as_text(api, auditor):
    with transaction.atomic():
        audit_record(actor=None, action="test.happened", object_type="=cmd|x", object_id="-1")

    rows = list(csv.reader(io.StringIO(body(api(auditor).get(AUDIT, period())).decode())))

    assert (rows[1][4], rows[1][5]) == ("'=cmd|x", "'-1")


# --- The audit report: JSON ------------------------------------------------------------------------


def test_the_audit_json_is_one_document_with_head_summary_every_event_and_count(api, officer):
    record_events(1001)  # three batches of the stream: 500, 500 and 1
    head = AuditEvent.objects.get(sequence=1001)

    response = api(officer).get(AUDIT, {**period(), "output": "json"})

    assert response.streaming
    document = json.loads(body(response))
    assert document["report"]["chain_head"] == {"sequence": 1001, "hash": head.hash}
    assert document["report"]["report_event"] == 1002
    assert document["report"]["requested_by"] == "officer"
    assert document["summary"]["count"] == 1001
    assert document["summary"]["by_action"] == [{"name": "test.happened", "count": 1001}]
    assert document["events_count"] == 1001
    assert [e["sequence"] for e in document["events"]] == list(range(1, 1002))
    assert document["events"][5]["payload"] == {"i": 5}


def test_the_audit_json_of_an_empty_period_is_a_valid_document(api, auditor):
    response = api(auditor).get(AUDIT, {"start": "2020-01-01", "end": "2020-01-02", "output": "json"})

    document = json.loads(body(response))
    assert (document["events"], document["events_count"], document["summary"]["count"]) == ([], 0, 0)


# --- The audit report: PDF -------------------------------------------------------------------------


def test_the_audit_pdf_states_the_summary_the_events_the_verification_and_the_head(api, auditor):
    record_events(3)
    head = AuditEvent.objects.get(sequence=3)

    response = api(auditor).get(AUDIT, {**period(), "output": "pdf"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = " ".join(" ".join(pdf_pages(response.content)).split())
    assert "Audit report" in text
    assert "Result Intact" in text
    assert "Events checked 3" in text
    assert "Events in the period 3" in text
    assert "test.happened 3" in text
    assert squeezed(head.hash) in squeezed(text)
    assert "governance.test:1" in squeezed(text)


def test_the_pdf_sha256_and_the_head_it_states_are_in_the_report_event(api, auditor):
    record_events(2)
    head = AuditEvent.objects.get(sequence=2)

    response = api(auditor).get(AUDIT, {**period(), "output": "pdf"})

    [event] = report_events()
    assert event.payload["sha256"] == hashlib.sha256(response.content).hexdigest()
    assert event.payload["chain_head"] == {"sequence": 2, "hash": head.hash}
    assert (event.payload["events"], event.payload["chain_ok"]) == (2, True)
    assert response["X-Report-Sha256"] == event.payload["sha256"]


def test_the_audit_pdf_prints_at_most_the_configured_events_and_sends_the_reader_to_the_csv(
    api, auditor, settings
):
    settings.REPORT_PDF_MAX_EVENTS = 2
    record_events(5)

    text = " ".join(
        " ".join(pdf_pages(api(auditor).get(AUDIT, {**period(), "output": "pdf"}).content)).split()
    )

    assert "This PDF prints the first 2 of the 5 events of the period" in text
    assert "Events in the period 5" in text
    assert '{"i":1}' in text
    assert '{"i":2}' not in text


def test_the_audit_pdf_states_a_broken_chain_and_its_first_broken_event(api, auditor):
    record_events(3)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE governance_auditevent DISABLE TRIGGER {TRIGGER}")
        cursor.execute("UPDATE governance_auditevent SET actor = 'mallory' WHERE sequence = 2")
        cursor.execute(f"ALTER TABLE governance_auditevent ENABLE TRIGGER {TRIGGER}")

    response = api(auditor).get(AUDIT, {**period(), "output": "pdf"})

    text = " ".join(" ".join(pdf_pages(response.content)).split())
    assert "Result Broken" in text
    assert "First broken event #2: hash does not match the event's content" in text
    assert report_events()[0].payload["chain_ok"] is False


# --- Every PDF's footer ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["audit", "dpia", "records"])
def test_every_page_footer_carries_the_generation_time_the_user_and_the_chain_head(api, officer, kind):
    record_events(40)
    for i in range(30):
        AISystemFactory(name=f"System {i}", intended_purpose="Answers questions about invoices. " * 8)
    url = {
        "audit": AUDIT,
        "records": RECORDS,
        "dpia": f"/api/v1/reports/dpia/{DPIAFactory(planned_measures='Measure. ' * 800).pk}/",
    }[kind]
    head_sequence, head_hash = audit_chain_head()
    before = timezone.now().replace(microsecond=0)

    params = {"audit": {**period(), "output": "pdf"}, "records": {"output": "pdf"}, "dpia": {}}[kind]
    response = api(officer).get(url, params)

    pages = pdf_pages(response.content)
    assert len(pages) > 1
    stamp = re.compile(r"Generated (\S+) by officer")
    for page in pages:
        flat = " ".join(page.split())
        found = stamp.search(flat)
        assert found, flat[-400:]
        generated = datetime.fromisoformat(found[1])
        assert before <= generated <= timezone.now()
        assert f"audit chain head #{head_sequence}" in flat
        assert squeezed(head_hash) in squeezed(page)


# --- The DPIA report -------------------------------------------------------------------------------


def test_the_dpia_report_follows_the_cnil_structure(api, auditor):
    record = DPIAFactory(title="Helpdesk assistant", dpo_opinion="Acceptable.")

    response = api(auditor).get(f"/api/v1/reports/dpia/{record.pk}/")

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="dpia-{record.pk}-report.pdf"'
    text = " ".join(" ".join(pdf_pages(response.content)).split())
    headings = [
        "1. Context",
        "2. Fundamental principles",
        "Necessity and proportionality",
        "Rights of the data subjects",
        "3. Risks",
        "Risk map",
        "4. Planned measures",
        "Opinion of the data protection officer",
    ]
    positions = [text.index(heading) for heading in headings]
    assert positions == sorted(positions)
    assert "Tickets are used to fine-tune an assistant." in text
    [event] = report_events()
    assert (event.object_type, event.object_id) == ("governance.dpia", str(record.pk))
    assert event.payload["sha256"] == hashlib.sha256(response.content).hexdigest()


def _risk_map_cells(html: str) -> dict[tuple[str, str], str]:
    found = re.findall(r'data-likelihood="(\w+)" data-severity="(\w+)">([^<]*)</td>', html)
    return {(likelihood, severity): codes for likelihood, severity, codes in found}


def test_the_risk_map_places_each_risk_at_its_likelihood_and_severity(db):
    record = DPIAFactory(
        illegitimate_access_likelihood="limited",
        illegitimate_access_severity="maximum",
        unwanted_modification_likelihood="limited",
        unwanted_modification_severity="maximum",
        disappearance_likelihood="significant",
        disappearance_severity="negligible",
    )
    context = {"report": {}, "dpia": record, "risks": reports.dpia_risks(record)}
    context["risk_map"] = reports.dpia_risk_map(record)

    cells = _risk_map_cells(render_html(reports.DPIA_TEMPLATE, context, title="x", created=timezone.now()))

    assert len(cells) == 16
    assert {cell: codes for cell, codes in cells.items() if codes} == {
        ("limited", "maximum"): "A M",
        ("significant", "negligible"): "D",
    }


def test_a_risk_without_likelihood_or_severity_is_not_placed(db):
    record = DPIAFactory(disappearance_likelihood="", disappearance_severity="maximum")

    placed = [
        code for row in reports.dpia_risk_map(record) for cell in row["cells"] for code in cell["codes"]
    ]

    assert sorted(placed) == ["A", "M"]


def test_an_unknown_dpia_is_404(api, auditor):
    response = api(auditor).get("/api/v1/reports/dpia/999999/")

    assert response.status_code == 404
    assert error_code(response) == "not_found"
    assert report_events() == []


# --- Records of processing (Art. 30) ----------------------------------------------------------------


def _version(
    dataset: Any, pii: dict[str, int], *, status: str = DatasetVersionStatus.READY
) -> DatasetVersion:
    content = b'{"input": "question", "output": "answer"}\n' * 1
    version = datasets.dataset_version_create(
        actor=dataset.owner,
        dataset=dataset,
        stream=io.BytesIO(content),
        filename="v.jsonl",
        size=len(content),
    )
    DatasetVersion.objects.filter(pk=version.pk).update(status=status, pii_summary=pii)
    return version


def test_the_records_of_processing_have_one_row_per_ai_system_and_dataset(api, auditor):
    helpdesk = AISystemFactory(name="Helpdesk", recipients="Support team", intended_purpose="Answers tickets")
    AISystemFactory(name="Idle system")
    tickets = DatasetFactory(name="Tickets", retention_until="2027-01-31", contains_personal_data=True)
    faq = DatasetFactory(name="FAQ", legal_basis="")
    tickets.ai_systems.add(helpdesk)
    faq.ai_systems.add(helpdesk)
    DatasetFactory(name="Orphan")

    response = api(auditor).get(RECORDS)

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["ai_system"], r["dataset"]) for r in rows] == [
        ("Helpdesk", "FAQ"),
        ("Helpdesk", "Tickets"),
        ("Idle system", ""),
        ("", "Orphan"),
    ]
    assert rows[1] == {
        "ai_system": "Helpdesk",
        "intended_purpose": "Answers tickets",
        "risk_class": "minimal",
        "dataset": "Tickets",
        "dataset_purpose": "Training",
        "legal_basis": "Art. 6(1)(f) legitimate interests",
        "contains_personal_data": "yes",
        "personal_data_categories": "",
        "categories_from_version": "",
        "retention_until": "2027-01-31",
        "recipients": "Support team",
    }
    assert rows[0]["legal_basis"] == "Not recorded"


def test_the_categories_of_personal_data_come_from_the_latest_scanned_version(api, auditor):
    dataset = DatasetFactory(name="Tickets")
    _version(dataset, {"EMAIL_ADDRESS": 4})
    _version(dataset, {"PERSON": 2, "EMAIL_ADDRESS": 1})
    _version(dataset, {"IBAN_CODE": 9}, status=DatasetVersionStatus.SCANNING)

    response = api(auditor).get(RECORDS, {"output": "json"})

    [record] = response.json()["records"]
    assert record["personal_data_categories"] == [
        {"name": "EMAIL_ADDRESS", "count": 1},
        {"name": "PERSON", "count": 2},
    ]
    assert record["categories_from_version"] == 2


def test_the_records_of_processing_pdf_lists_the_rows_and_its_source(api, officer):
    helpdesk = AISystemFactory(name="Helpdesk", recipients="Support team")
    DatasetFactory(name="Tickets").ai_systems.add(helpdesk)

    response = api(officer).get(RECORDS, {"output": "pdf"})

    text = " ".join(" ".join(pdf_pages(response.content)).split())
    assert "Records of processing activities" in text
    assert "Built from the governance registers only" in text
    assert "Helpdesk" in text and "Tickets" in text and "Support team" in text
    [event] = report_events()
    assert event.payload == {
        "kind": "records_of_processing",
        "output": "pdf",
        "chain_head": event.payload["chain_head"],
        "sha256": hashlib.sha256(response.content).hexdigest(),
        "rows": 1,
    }


# --- User text in the PDFs is inert ----------------------------------------------------------------


@pytest.mark.parametrize("injection", INJECTIONS)
def test_free_text_reaching_a_pdf_is_printed_literally_and_fetches_nothing_but_static_files(
    api, officer, fetched, injection
):
    system = AISystemFactory(name=f"System {injection}", intended_purpose=injection, recipients=injection)
    DatasetFactory(name=f"Data {injection}").ai_systems.add(system)
    text_fields = ("title", "context", "necessity_proportionality", "data_subject_rights")
    more = ("planned_measures", "dpo_opinion", "review_comment")
    record = DPIAFactory(ai_system=system, **{f: injection for f in (*text_fields, *more)})
    record_events(1, note=injection)

    pdfs = [
        api(officer).get(AUDIT, {**period(), "output": "pdf"}).content,
        api(officer).get(f"/api/v1/reports/dpia/{record.pk}/").content,
        api(officer).get(RECORDS, {"output": "pdf"}).content,
    ]

    for pdf in pdfs:
        text = " ".join(pdf_pages(pdf))
        assert squeezed(injection) in squeezed(text)
        assert squeezed(settings.SECRET_KEY) not in squeezed(text)
    assert fetched
    assert [url for url in fetched if not url.startswith(f"{STATIC_SCHEME}:")] == []
