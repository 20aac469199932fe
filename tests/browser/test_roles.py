"""What each role reaches in a real browser: an engineer gets 403 on officer actions and the query log;
an auditor reads every page (200) without a single action button, and a POSTed action is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from governance.models import DPIA, AuditEvent, ErasureRequest
from governance.services import erasure
from tests.browser.conftest import action_button, goto, shot
from tests.factories import AISystemFactory, DPIAFactory

pytestmark = pytest.mark.slow


@pytest.fixture
def dpia(officer: Any) -> DPIA:
    """A DPIA in review that an officer (not its author) could approve."""
    return DPIAFactory(ai_system=AISystemFactory(), status="in_review", submitted_at=timezone.now())


@pytest.fixture
def erasure_request(officer: Any) -> ErasureRequest:
    return erasure.erasure_request_create(
        actor=officer, reference="DSR-roles-1", identifiers=[{"type": "email", "value": "x.y@example.org"}]
    )


def post_form(page: Any, path: str, data: dict[str, str] | None = None) -> Any:
    """POST like the confirmation page's form would: the session's cookies and its CSRF token."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.post(
        path,
        form={"csrfmiddlewaretoken": token, **(data or {})},
        headers={"X-CSRFToken": token, "Referer": page.url},
        max_redirects=0,
    )


def test_an_engineer_reaches_neither_officer_actions_nor_the_query_log(
    open_page: Callable[..., Any], engineer: Any, dpia: DPIA, erasure_request: ErasureRequest
) -> None:
    page = open_page(engineer)

    goto(page, f"/admin/governance/dpia/{dpia.pk}/change/", "roles-engineer-dpia")
    assert action_button(page, "approve").count() == 0
    assert action_button(page, "reject").count() == 0
    goto(page, f"/admin/governance/dpia/{dpia.pk}/do/approve/", "roles-engineer-dpia-approve", status=403)
    goto(page, "/admin/retrieval/querylog/", "roles-engineer-query-log", status=403)
    goto(page, "/admin/governance/erasurerequest/", "roles-engineer-erasure-list", status=403)
    goto(page, f"/admin/governance/erasurerequest/{erasure_request.pk}/change/", status=403)
    goto(page, f"/admin/governance/erasurerequest/{erasure_request.pk}/do/execute/", status=403)
    goto(page, "/admin/governance/auditevent/report/", "roles-engineer-audit-report", status=403)
    # Nor does the home page point there.
    goto(page, "/admin/", "roles-engineer-home")
    assert page.locator('a[href^="/admin/retrieval/querylog/"]').count() == 0
    assert page.locator('a[href^="/admin/governance/erasurerequest/"]').count() == 0
    # A POST to the action (with a valid CSRF token) is refused too, and nothing changes.
    goto(page, f"/admin/governance/dpia/{dpia.pk}/change/")
    before = AuditEvent.objects.count()
    refused = post_form(page, f"/admin/governance/dpia/{dpia.pk}/do/approve/", {"comment": "ok"})
    assert refused.status == 403 and "CSRF" not in refused.text()
    assert DPIA.objects.get(pk=dpia.pk).status == "in_review"
    assert AuditEvent.objects.count() == before


def test_an_auditor_reads_every_page_has_no_buttons_and_a_posted_action_is_refused(
    open_page: Callable[..., Any], auditor: Any, dpia: DPIA, erasure_request: ErasureRequest
) -> None:
    page = open_page(auditor)
    pages = {
        "/admin/": "roles-auditor-home",
        "/admin/governance/dpia/": "roles-auditor-dpias",
        f"/admin/governance/dpia/{dpia.pk}/change/": "roles-auditor-dpia",
        "/admin/governance/erasurerequest/": "roles-auditor-erasure-list",
        f"/admin/governance/erasurerequest/{erasure_request.pk}/change/": "roles-auditor-erasure",
        "/admin/governance/auditevent/": "roles-auditor-audit-events",
        "/admin/governance/auditevent/report/": "roles-auditor-audit-report",
        "/admin/retrieval/querylog/": "roles-auditor-query-log",
        f"/admin/governance/aisystem/{dpia.ai_system_id}/change/": "roles-auditor-ai-system",
    }
    for path, name in pages.items():
        goto(page, path, name)
        if "/change/" in path:
            buttons = page.locator("#content a[data-action]").evaluate_all(
                "a => a.map(b => b.dataset.action)"
            )
            assert buttons == [], f"{path} offers an auditor {buttons}"

    goto(page, f"/admin/governance/dpia/{dpia.pk}/do/approve/", "roles-auditor-dpia-approve", status=403)
    goto(page, f"/admin/governance/erasurerequest/{erasure_request.pk}/do/execute/", status=403)
    goto(page, f"/admin/governance/dpia/{dpia.pk}/change/")
    before = AuditEvent.objects.count()
    refused = post_form(page, f"/admin/governance/dpia/{dpia.pk}/do/approve/", {"comment": "looks fine"})
    assert refused.status == 403
    assert "CSRF" not in refused.text()  # refused by the policy, not by a missing token
    executed = post_form(page, f"/admin/governance/erasurerequest/{erasure_request.pk}/do/execute/")
    assert executed.status == 403 and "CSRF" not in executed.text()
    assert DPIA.objects.get(pk=dpia.pk).status == "in_review"
    assert ErasureRequest.objects.get(pk=erasure_request.pk).status == "received"
    assert AuditEvent.objects.count() == before
    shot(page, "roles-auditor-after-refusals")
