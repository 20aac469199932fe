"""An erasure request run from its page with the real Celery worker, then its certificate downloaded.

The officer presses execute (the logical phase runs on the worker), then purge (the purge and the
verification run on the worker and write the certificate); the page refreshes itself while the work
runs, and once it is completed the certificate is downloaded: a PDF naming the request's reference.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from pypdf import PdfReader

from governance.models import AuditEvent, ErasureRequest
from governance.services import erasure
from tests.browser.conftest import (
    action_button,
    click_through,
    fill_action_form,
    goto,
    messages_of,
    shot,
    submit_action,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.slow]

REFERENCE = "DSR-BROWSER-7"
EMAIL = "zofia.kowalczyk@example.org"


def press(page: Any, record: ErasureRequest, name: str) -> Any:
    """Press the row's `name` button and confirm on its page; the response after the redirect."""
    button = action_button(page, name)
    status = ErasureRequest.objects.get(pk=record.pk).status
    assert button.count() == 1, f'no a[data-action="{name}"] on the erasure request page ({status})'
    click_through(page, button)
    assert page.url.endswith(f"/admin/governance/erasurerequest/{record.pk}/do/{name}/"), page.url
    shot(page, f"erasure-{name}-confirm")
    fill_action_form(page)
    response = submit_action(page)
    shot(page, f"erasure-{name}-done")
    assert response.status == 200, messages_of(page, "error")
    assert not messages_of(page, "error")
    return response


def wait_on_page(
    page: Any, url: str, name: str, shows: Callable[[Any], bool], *, timeout: float = 240
) -> None:
    """Wait for the page to show something: its live box refreshes itself, and a reload makes sure."""
    deadline = time.monotonic() + timeout
    while not shows(page):
        assert time.monotonic() < deadline, f"{url} did not show the expected state within {timeout} s"
        page.wait_for_timeout(2000)
        if not shows(page):
            page.goto(url)
    shot(page, name)


def status_of(record: ErasureRequest) -> str:
    return ErasureRequest.objects.get(pk=record.pk).status


def test_an_officer_executes_an_erasure_request_and_downloads_its_certificate(
    open_page: Callable[..., Any], officer: Any, celery_worker: Any
) -> None:
    record = erasure.erasure_request_create(
        actor=officer, reference=REFERENCE, identifiers=[{"type": "email", "value": EMAIL}]
    )
    url = f"/admin/governance/erasurerequest/{record.pk}/change/"
    page = open_page(officer)
    goto(page, url, "erasure-received")
    assert REFERENCE in page.locator("#content").inner_text()
    assert EMAIL not in page.content()  # types and keys only, never the value

    press(page, record, "execute")
    # The logical phase ends: the page offers the purge (or, if the worker was quicker, it is done).
    purge = 'a[data-action="purge"]'
    wait_on_page(
        page,
        url,
        "erasure-erased",
        lambda p: p.locator(purge).count() > 0 or status_of(record) in ("completed", "failed"),
    )
    assert status_of(record) != "failed", ErasureRequest.objects.get(pk=record.pk).error
    if status_of(record) == "erased":
        assert "Erased, purge pending" in page.locator("#content").inner_text()
        press(page, record, "purge")
    certificate = '#content a[href*="certificate"]'
    wait_on_page(
        page,
        url,
        "erasure-completed",
        lambda p: status_of(record) == "failed" or p.locator(certificate).count() > 0,
        timeout=300,
    )
    done = ErasureRequest.objects.get(pk=record.pk)
    assert done.status == "completed", (done.error, done.verification)
    assert "Completed" in page.locator("#content").inner_text()

    with page.expect_download() as download_info:
        page.locator(certificate).first.click()
    download = download_info.value
    data = open(download.path(), "rb").read()
    assert data.startswith(b"%PDF-")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert REFERENCE in text
    assert EMAIL not in text
    actions = set(AuditEvent.objects.filter(object_id=str(record.pk)).values_list("action", flat=True))
    assert {"erasure_request.executed", "erasure_request.erased", "erasure_request.completed"} <= actions
    executed = AuditEvent.objects.get(action="erasure_request.executed", object_id=str(record.pk))
    assert executed.actor == "officer"
