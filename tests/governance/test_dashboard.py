"""The admin's dashboard, "verify now" and an AI system's story page, through the real admin views."""

# ruff: noqa: F811 - the matrix's `world` fixture is imported by name
from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from governance.choices import DeploymentStatus, DPIAStatus
from governance.models import DPIA, AuditEvent, Deployment, ErasureRequest
from governance.selectors.erasure import OPEN_STATUSES
from governance.services.audit import VERIFIED_ACTION
from tests.governance.test_permissions_matrix import World, _module_world, world  # noqa: F401

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _cards(html: str) -> dict[str, int]:
    found = re.findall(r'data-card="([a-z_]+)".*?data-count="(\d+)"', html, flags=re.S)
    return {key: int(n) for key, n in found}


def test_an_officer_s_dashboard_counts_are_the_database_s(officer: Any, world: World) -> None:
    response = _client(officer).get("/admin/")
    assert response.status_code == 200
    cards = _cards(response.content.decode())
    assert cards["dpias_in_review"] == DPIA.objects.filter(status=DPIAStatus.IN_REVIEW).count() == 1
    assert cards["erasure_requests"] == ErasureRequest.objects.filter(status__in=OPEN_STATUSES).count()
    assert (
        cards["deployments_requested"] == Deployment.objects.filter(status=DeploymentStatus.REQUESTED).count()
    )
    assert cards["deployments_blocked"] == 0
    html = response.content.decode()
    assert "Verify now" in html and "never verified" in html
    assert "Audit events per day, last 30 days" in html
    assert 'data-card="reports"' in html and "/admin/governance/auditevent/report/" in html
    assert "<h1>Dashboard</h1>" in html


def test_a_blocked_deployment_shows_on_the_dashboard_with_its_reason(officer: Any, world: World) -> None:
    reason = {"code": "dpia_missing", "reason": "no approved DPIA covers the system", "remedy": "approve one"}
    Deployment.objects.filter(pk=world.deployment_approved.pk).update(
        status=DeploymentStatus.BLOCKED, blocked_reasons=[reason]
    )
    html = _client(officer).get("/admin/dashboard/cards/").content.decode()
    assert _cards(html)["deployments_blocked"] == 1
    assert "no approved DPIA covers the system" in html
    assert f"/admin/governance/deployment/{world.deployment_approved.pk}/change/" in html


def test_an_engineer_sees_their_own_work_and_no_erasure_requests(engineer: Any, world: World) -> None:
    html = _client(engineer).get("/admin/").content.decode()
    cards = _cards(html)
    assert "erasure_requests" not in cards
    assert cards["dpias_in_review"] == 0  # the world's DPIAs are the author's, not this engineer's
    assert "My DPIAs in review" in html
    assert 'data-card="reports"' not in html  # reports are for officers and auditors
    author_html = _client(world.author).get("/admin/").content.decode()
    assert _cards(author_html)["dpias_in_review"] == 1


def test_verify_now_records_the_outcome_in_the_chain(auditor: Any, world: World) -> None:
    client = _client(auditor)
    before = AuditEvent.objects.count()
    response = client.post("/admin/dashboard/verify-chain/", follow=True)
    assert response.status_code == 200
    assert "The audit chain holds" in response.content.decode()
    event = AuditEvent.objects.get(action=VERIFIED_ACTION)
    assert event.payload["ok"] is True and event.payload["events_checked"] == before
    assert "intact" in client.get("/admin/").content.decode()


def test_verify_now_names_the_first_broken_sequence(officer: Any, world: World) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE governance_auditevent DISABLE TRIGGER ALL")
        cursor.execute("UPDATE governance_auditevent SET actor = 'mallory' WHERE sequence = 3")
        cursor.execute("ALTER TABLE governance_auditevent ENABLE TRIGGER ALL")
    response = _client(officer).post("/admin/dashboard/verify-chain/", follow=True)
    html = response.content.decode()
    assert "broken at sequence 3" in html
    assert "First broken sequence 3" in html
    assert AuditEvent.objects.get(action=VERIFIED_ACTION).payload["first_broken_sequence"] == 3


def test_verify_now_runs_on_a_post_only_and_a_get_goes_back_to_the_dashboard(
    officer: Any, world: World
) -> None:
    response = _client(officer).get("/admin/dashboard/verify-chain/")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert not AuditEvent.objects.filter(action=VERIFIED_ACTION).exists()


def test_the_story_page_links_the_whole_system(officer: Any, world: World) -> None:
    response = _client(officer).get(f"/admin/governance/aisystem/{world.system.pk}/story/")
    assert response.status_code == 200
    html = response.content.decode()
    for section in ("overview", "datasets", "dpias", "deployments", "audit"):
        assert f'data-section="{section}"' in html, section
    assert f"/admin/governance/datasetversion/{world.version.pk}/change/" in html
    assert f"/admin/governance/dpia/{world.dpia_review.pk}/change/" in html
    assert f"/admin/governance/deployment/{world.deployment.pk}/change/" in html
    assert "gv-badge" in html and "<pre" not in html
    # The audit trail takes in the rows that hang off the system (its DPIAs' submission, say).
    submitted = AuditEvent.objects.get(action="dpia.submitted", object_id=str(world.dpia_review.pk))
    assert f"/admin/governance/auditevent/{submitted.pk}/change/" in html
    change = _client(officer).get(f"/admin/governance/aisystem/{world.system.pk}/change/").content.decode()
    assert f"/admin/governance/aisystem/{world.system.pk}/story/" in change


def test_the_story_page_follows_the_policy(world: World, outsider: Any) -> None:
    url = f"/admin/governance/aisystem/{world.system.pk}/story/"
    assert Client().get(url).status_code == 302
    assert _client(outsider).get(url).status_code == 403  # logged in, no role
    assert _client(world.author).get("/admin/governance/aisystem/999999/story/").status_code == 404


def test_dates_follow_the_reader_s_time_zone(auditor: Any, world: World) -> None:
    client = _client(auditor)
    client.post("/admin/dashboard/verify-chain/")
    event = AuditEvent.objects.get(action=VERIFIED_ACTION)
    client.cookies["tz"] = "Asia%2FTokyo"  # as ui.js writes it (encodeURIComponent)
    html = client.get("/admin/").content.decode()
    assert event.timestamp.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")).strftime("%H:%M") in html
    client.cookies["tz"] = "../../etc/passwd"
    assert client.get("/admin/").status_code == 200


def test_the_dashboard_speaks_polish(officer: Any, world: World) -> None:
    client = _client(officer)
    response = client.post("/i18n/setlang/", {"language": "pl", "next": "/admin/"}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'lang="pl"' in html
    assert "Zweryfikuj teraz" in html  # "Verify now"
