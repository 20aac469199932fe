"""The reports in the admin: the DPIA report from its page, the audit report and Art. 30 from the chain's."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from governance.models import AuditEvent
from tests.factories import AISystemFactory, DPIAFactory

REPORT = "/admin/governance/auditevent/report/"
RECORDS = "/admin/governance/auditevent/records-of-processing/"
CHANGELIST = "/admin/governance/auditevent/"


@pytest.fixture(autouse=True)
def _pdf_cap(settings: Any) -> None:
    settings.REPORT_PDF_MAX_EVENTS = 500


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def report_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="report.generated"))


def test_an_auditor_downloads_the_dpia_report_from_its_admin_page(auditor):
    record = DPIAFactory()

    page = logged_in(auditor).get(f"/admin/governance/dpia/{record.pk}/change/")
    response = logged_in(auditor).get(f"/admin/governance/dpia/{record.pk}/report/")

    assert f'href="/admin/governance/dpia/{record.pk}/report/"' in page.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    [event] = report_events()
    assert (event.actor, event.object_id) == ("auditor", str(record.pk))


def test_an_engineer_sees_no_report_link_on_the_dpia_page(engineer):
    record = DPIAFactory()

    page = logged_in(engineer).get(f"/admin/governance/dpia/{record.pk}/change/")

    assert page.status_code == 200
    assert f"/admin/governance/dpia/{record.pk}/report/" not in page.content.decode()


@pytest.mark.parametrize("url", [REPORT, RECORDS, "dpia"])
def test_an_engineer_gets_403_on_every_admin_report_page(engineer, url):
    url = f"/admin/governance/dpia/{DPIAFactory().pk}/report/" if url == "dpia" else url

    response = logged_in(engineer).get(url)

    assert response.status_code == 403
    assert report_events() == []


def test_the_chain_changelist_offers_the_reports_to_an_officer_and_not_to_an_engineer(officer, engineer):
    offered = logged_in(officer).get(CHANGELIST).content.decode()
    hidden = logged_in(engineer).get(CHANGELIST).content.decode()

    assert f'href="{REPORT}"' in offered and f'href="{RECORDS}?output=pdf"' in offered
    assert REPORT not in hidden and RECORDS not in hidden


def test_the_admin_audit_report_form_returns_the_csv_of_the_period(officer):
    AISystemFactory()  # no event: factories write rows directly
    today = timezone.now().date()
    form = {"report-start": str(today), "report-end": str(today), "report-output": "csv"}

    response = logged_in(officer).post(REPORT, form)

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "sequence"
    assert len(report_events()) == 1


def test_the_admin_audit_report_form_shows_a_refused_period_as_a_form_error(officer):
    today = timezone.now().date()
    form = {"report-start": str(today), "report-end": str(today - timedelta(days=1)), "report-output": "csv"}

    response = logged_in(officer).post(REPORT, form)

    assert response.status_code == 200
    assert "the period&#x27;s end must come after its start" in response.content.decode()
    assert report_events() == []


def test_the_admin_offers_the_records_of_processing_as_csv(auditor):
    AISystemFactory(name="Helpdesk")

    response = logged_in(auditor).get(RECORDS)

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert [row[0] for row in csv.reader(io.StringIO(response.content.decode()))] == ["ai_system", "Helpdesk"]
