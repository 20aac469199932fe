"""The dashboard in a real browser: each card's number is what the database holds, per role.

Cards are found by `data-card="<key>"` and their number by `[data-count]` (governance/dashboard.py);
the expected numbers are counted here with the ORM, independently of the card sources.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from governance.models import DPIA, Deployment, ErasureRequest
from governance.services import erasure
from retrieval.models import Document
from tests.browser.conftest import click_through, count_of, goto
from tests.factories import AISystemFactory, DPIAFactory
from training.models import AdapterVersion, BaseModel, FineTuneJob

pytestmark = pytest.mark.slow

OPEN_ERASURE = ("received", "in_progress", "erased", "failed", "on_hold")


def make_base_model() -> BaseModel:
    """A registered base model row (its weights are never read: these deployments are never served)."""
    return BaseModel.objects.create(
        name="tiny-dashboard",
        path="/nonexistent/tiny",
        architecture="GPT2LMHeadModel",
        model_type="gpt2",
        parameter_count=1000,
        max_sequence_length=64,
        config_sha256="0" * 64,
    )


@pytest.fixture
def registers(officer: Any, engineer: Any) -> dict[str, Any]:
    """Two DPIAs in review by an engineer, one by someone else, one expiring, deployments in two states."""
    now = timezone.now()
    system = AISystemFactory(name="Helpdesk", owner=engineer)
    other = AISystemFactory(name="Claims")
    mine = [
        DPIAFactory(ai_system=system, created_by=engineer, status="in_review", submitted_at=now)
        for _ in range(2)
    ]
    theirs = DPIAFactory(ai_system=other, status="in_review", submitted_at=now)
    DPIAFactory(ai_system=system, created_by=engineer)  # a draft: on no card
    DPIAFactory(
        ai_system=other,
        status="approved",
        reviewer=officer,
        approved_at=now,
        review_due=timezone.localdate() + dt.timedelta(days=10),
    )
    base = make_base_model()
    blocked = Deployment.objects.create(
        ai_system=system,
        base_model=base,
        environment="production",
        status="blocked",
        requested_by=engineer,
        blocked_at=now,
        blocked_from="active",
        blocked_reasons=[{"code": "dpia_expired", "reason": "the DPIA expired"}],
    )
    requested = Deployment.objects.create(
        ai_system=other, base_model=base, environment="staging", status="requested", requested_by=officer
    )
    request = erasure.erasure_request_create(
        actor=officer, reference="DSR-dash-1", identifiers=[{"type": "email", "value": "a.b@example.org"}]
    )
    return {"mine": mine, "theirs": theirs, "blocked": blocked, "requested": requested, "erasure": request}


def expected_counts(user: Any, *, oversees: bool) -> dict[str, int]:
    """What each known card should say, counted with the ORM."""
    dpias = DPIA.objects.all() if oversees else DPIA.objects.filter(created_by=user)
    deployments = Deployment.objects.all() if oversees else Deployment.objects.filter(requested_by=user)
    horizon = timezone.localdate() + dt.timedelta(days=30)
    counts = {
        "dpias_in_review": dpias.filter(status="in_review").count(),
        "dpias_expiring": dpias.filter(status="approved", review_due__lte=horizon).count(),
        "deployments_blocked": deployments.filter(status="blocked").count(),
        "deployments_requested": deployments.filter(status="requested").count(),
    }
    if oversees:
        counts["erasure_requests"] = ErasureRequest.objects.filter(status__in=OPEN_ERASURE).count()
    else:
        counts["dpias_rejected"] = dpias.filter(status="rejected").count()
    return counts


def shown_counts(page: Any) -> dict[str, int]:
    keys = page.locator("#gv-cards [data-card]").evaluate_all("cards => cards.map(c => c.dataset.card)")
    return {key: count_of(page, key) for key in keys}


def test_an_officers_dashboard_counts_what_the_database_holds(
    open_page: Callable[..., Any], officer: Any, registers: dict[str, Any]
) -> None:
    page = open_page(officer)
    goto(page, "/admin/", "dashboard-officer")

    shown = shown_counts(page)
    expected = expected_counts(officer, oversees=True)
    assert expected == {"dpias_in_review": 3, "dpias_expiring": 1, "deployments_blocked": 1,
                        "deployments_requested": 1, "erasure_requests": 1}  # fmt: skip
    missing = sorted(set(expected) - set(shown))
    assert not missing, f"cards missing from the officer's dashboard: {missing} (shown: {sorted(shown)})"
    assert {key: shown[key] for key in expected} == expected
    # The retrieval and training cards: nothing of theirs exists here, so each says 0.
    assert not (Document.objects.exists() or FineTuneJob.objects.exists() or AdapterVersion.objects.exists())
    others = {key: n for key, n in shown.items() if key not in expected}
    assert others == dict.fromkeys(others, 0), others
    # The chain's own card is there for an officer, and a card's link leads to its filtered register.
    assert page.locator('[data-card="audit_chain"]').count() == 1
    click_through(page, page.locator('[data-card="dpias_in_review"] h2 a'))
    assert "/admin/governance/dpia/" in page.url and "status__exact=in_review" in page.url
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3
    goto(page, page.url, "dashboard-officer-dpias-in-review")


def test_an_engineers_dashboard_shows_their_own_work_and_no_officer_cards(
    open_page: Callable[..., Any], engineer: Any, registers: dict[str, Any]
) -> None:
    page = open_page(engineer)
    goto(page, "/admin/", "dashboard-engineer")

    shown = shown_counts(page)
    expected = expected_counts(engineer, oversees=False)
    assert expected["dpias_in_review"] == 2 and expected["deployments_blocked"] == 1
    assert expected["deployments_requested"] == 0  # the officer's request is not the engineer's
    missing = sorted(set(expected) - set(shown))
    assert not missing, f"cards missing from the engineer's dashboard: {missing} (shown: {sorted(shown)})"
    assert {key: shown[key] for key in expected} == expected
    # Officer-only: the open erasure requests (engineers may not read them at all).
    assert "erasure_requests" not in shown
    body = page.locator("#content").inner_text()
    assert "DSR-dash-1" not in body
    # The engineer's card names their own DPIAs, not the one someone else wrote.
    card = page.locator('[data-card="dpias_in_review"]').inner_text()
    assert registers["theirs"].title not in card
    assert all(d.title in card for d in registers["mine"])
