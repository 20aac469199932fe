"""A DPIA's review in a real browser: an officer approves someone else's through the page's button, and
is refused (four eyes, `author_cannot_review`) on their own, which stays in review.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from governance.models import DPIA, AuditEvent
from tests.browser.conftest import (
    action_button,
    click_through,
    fill_action_form,
    goto,
    messages_of,
    shot,
    submit_action,
)
from tests.factories import AISystemFactory, DPIAFactory

pytestmark = pytest.mark.slow


def in_review(author: Any, title: str) -> DPIA:
    return DPIAFactory(
        title=title,
        ai_system=AISystemFactory(),
        created_by=author,
        status="in_review",
        submitted_at=timezone.now(),
    )


def open_approve(page: Any, record: DPIA, name: str) -> None:
    """From the DPIA's page, the approve button; the page it opens is the confirmation with its form."""
    goto(page, f"/admin/governance/dpia/{record.pk}/change/", f"{name}-page")
    button = action_button(page, "approve")
    assert button.count() == 1, 'no a[data-action="approve"] on the DPIA page'
    click_through(page, button)
    assert page.url.endswith(f"/admin/governance/dpia/{record.pk}/do/approve/"), page.url
    shot(page, f"{name}-confirm")


def test_an_officer_approves_a_dpia_someone_else_wrote(
    open_page: Callable[..., Any], officer: Any, engineer: Any
) -> None:
    record = in_review(engineer, "Ticket routing DPIA")
    page = open_page(officer)

    open_approve(page, record, "dpia-approve")
    fill_action_form(page, {"comment": "Measures are proportionate; review in six months."})
    response = submit_action(page)
    shot(page, "dpia-approve-done")

    assert response.status == 200
    assert page.url.endswith(f"/admin/governance/dpia/{record.pk}/change/"), page.url
    assert messages_of(page, "success"), page.locator("#content").inner_text()[:1000]
    assert not messages_of(page, "error")
    record.refresh_from_db()
    assert (record.status, record.reviewer) == ("approved", officer)
    assert record.review_due is not None and record.review_due > timezone.localdate()
    assert AuditEvent.objects.filter(
        action="dpia.approved", object_id=str(record.pk), actor="officer"
    ).exists()
    # Approved: the page no longer offers the button.
    assert action_button(page, "approve").count() == 0


def test_an_officer_cannot_approve_their_own_dpia(open_page: Callable[..., Any], officer: Any) -> None:
    record = in_review(officer, "My own DPIA")
    before = AuditEvent.objects.count()
    page = open_page(officer)

    goto(page, f"/admin/governance/dpia/{record.pk}/change/", "dpia-own-page")
    button = action_button(page, "approve")
    if button.count():  # offered (the service decides): press it
        click_through(page, button)
    else:  # hidden for the author: the confirmation page is still the place the refusal is shown
        goto(page, f"/admin/governance/dpia/{record.pk}/do/approve/")
    fill_action_form(page, {"comment": "Approving my own work."})
    response = submit_action(page)
    shot(page, "dpia-own-refused")

    assert response.status == 403
    # Django's admin shows a message `capfirst`: the code's first letter comes out upper case.
    errors = " ".join(messages_of(page, "error")).lower()
    assert "author_cannot_review" in errors, page.locator("#content").inner_text()[:1000]
    record.refresh_from_db()
    assert (record.status, record.reviewer) == ("in_review", None)
    assert AuditEvent.objects.count() == before
