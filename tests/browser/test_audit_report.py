"""The audit report exported from the admin in a real browser: the chain's page -> the report form ->
a CSV download holding every event of the period, and the export itself recorded in the chain.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from governance.models import AuditEvent
from governance.services import systems
from tests.browser.conftest import click_through, goto, shot

pytestmark = pytest.mark.slow

REPORT = "/admin/governance/auditevent/report/"


def test_an_officer_exports_the_audit_report_of_today_as_csv(
    open_page: Callable[..., Any], officer: Any, engineer: Any
) -> None:
    for name in ("Helpdesk", "Claims"):  # audited writes: two ai_system.created events at least
        systems.ai_system_create(
            actor=engineer, owner=engineer, name=name, intended_purpose="Answers questions"
        )
    before = set(AuditEvent.objects.values_list("sequence", flat=True))
    assert len(before) >= 2
    page = open_page(officer)
    goto(page, "/admin/governance/auditevent/", "audit-report-chain")

    click_through(page, page.locator(f'#content a[href="{REPORT}"]').first)
    assert page.url.endswith(REPORT), page.url
    today = timezone.now().date().isoformat()  # the report's dates are UTC days
    page.locator('#content input[name$="start"]').fill(today)
    page.locator('#content input[name$="end"]').fill(today)
    page.locator('#content select[name$="output"]').select_option("csv")
    shot(page, "audit-report-form")
    with page.expect_download() as download_info:
        page.locator('#content form[method="post"] [type="submit"]').last.click()
    download = download_info.value

    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert rows[0][:4] == ["sequence", "timestamp", "actor", "action"]
    sequences = {int(row[0]) for row in rows[1:]}
    assert before <= sequences
    created = [row for row in rows[1:] if row[3] == "ai_system.created"]
    assert len(created) == 2 and {row[2] for row in created} == {"engineer"}
    # The export is itself an event of the chain, by the officer.
    event = AuditEvent.objects.filter(action="report.generated").latest("sequence")
    assert event.actor == "officer"
