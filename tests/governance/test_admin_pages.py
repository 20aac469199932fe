# ruff: noqa: F811 - the training fixtures imported below are parameters of the tests
"""The registers' pages in the admin: panels, live boxes and the buttons on a row's page.

DPIAs (risk map, four-eyes approval with a review date), dataset versions (PII summary, scan
progress), the audit chain (short hashes, links to the rows), erasure requests (each store's
progress, the deadline, the certificate) and deployments (gates as traffic lights, documentation).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from governance.choices import DatasetVersionStatus, DeploymentStatus, DPIAStatus, ErasureStatus
from governance.models import DPIA, AuditEvent, Dataset, DatasetVersion, Deployment, ErasureRequest
from governance.participants import erasure_participants
from governance.services import deployments, erasure, systems
from governance.services.dpia import dpia_submit, dpia_update
from tests.factories import DatasetFactory, DPIAFactory
from tests.training.conftest import base_model, demo_model_dir  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

EMAIL = "halina.wrobel@example.org"


@pytest.fixture(autouse=True)
def _regex_engine(settings: Any) -> None:
    settings.PII_ENGINE = "regex"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(user: Any, model: str, pk: int) -> tuple[int, str]:
    response = client_for(user).get(f"/admin/governance/{model}/{pk}/change/")
    return response.status_code, response.content.decode()


def do_url(model: str, pk: int, name: str) -> str:
    return f"/admin/governance/{model}/{pk}/do/{name}/"


def buttons(html: str) -> list[str]:
    """The names of the buttons on a row's page, in order."""
    return re.findall(r'<a class="gv-button" data-action="([a-z_]+)"', html)


def shown(response: Any) -> list[str]:
    """The messages the page shows (an error names the service's code, then its message)."""
    return [str(m) for m in response.context["messages"]]


def events(action: str, pk: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, object_id=str(pk)))


# --- DPIAs -----------------------------------------------------------------------------------------


def in_review(author: Any) -> DPIA:
    return dpia_submit(actor=author, dpia=DPIAFactory(created_by=author))


def test_a_dpia_page_shows_the_risk_map_its_status_and_the_review_buttons(
    engineer: Any, officer: Any
) -> None:
    record = in_review(engineer)

    status, html = page(officer, "dpia", record.pk)

    assert status == 200
    assert '<table class="gv-riskmap">' in html
    # limited x significant is a level-3 cell; both negligible x limited risks share a level-1 cell.
    assert (
        '<td class="gv-risk-3" data-likelihood="limited" data-severity="significant">'
        "<strong>Illegitimate access to data</strong></td>"
    ) in html
    assert (
        '<td class="gv-risk-1" data-likelihood="negligible" data-severity="limited">'
        "<strong>Unwanted modification of data</strong><br><strong>Disappearance of data</strong></td>"
    ) in html
    assert html.count('<td class="gv-risk-') == 16
    assert '<span class="gv-badge gv-wait">In review</span>' in html
    assert buttons(html) == ["approve", "reject"]


def test_a_draft_dpia_offers_submit_and_a_missing_risk_is_named(engineer: Any, officer: Any) -> None:
    record = DPIAFactory(created_by=engineer, disappearance_severity="")

    status, html = page(officer, "dpia", record.pk)

    assert status == 200
    assert buttons(html) == ["submit"]
    assert '<p class="gv-overdue">Not assessed yet: Disappearance of data</p>' in html


def test_an_officer_cannot_approve_their_own_dpia_from_its_page(officer: Any) -> None:
    record = in_review(officer)
    due = timezone.localdate() + dt.timedelta(days=90)

    response = client_for(officer).post(
        do_url("dpia", record.pk, "approve"), {"comment": "Looks fine", "review_due": due.isoformat()}
    )

    assert response.status_code == 403
    assert shown(response) == ["the author of a DPIA cannot review it (author_cannot_review)"]
    stored = DPIA.objects.get(pk=record.pk)
    assert (stored.status, stored.reviewer, stored.review_due) == (DPIAStatus.IN_REVIEW, None, None)
    assert events("dpia.approved", record.pk) == []


def test_another_officer_approves_with_a_comment_and_a_review_date(officer: Any, officer2: Any) -> None:
    record = in_review(officer)
    due = timezone.localdate() + dt.timedelta(days=90)

    form = client_for(officer2).get(do_url("dpia", record.pk, "approve"))
    response = client_for(officer2).post(
        do_url("dpia", record.pk, "approve"),
        {"comment": "Measures are adequate.", "review_due": due.isoformat()},
    )

    assert form.status_code == 200 and 'name="review_due"' in form.content.decode()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/governance/dpia/{record.pk}/change/"
    stored = DPIA.objects.get(pk=record.pk)
    assert (stored.status, stored.reviewer, stored.review_due, stored.review_comment) == (
        DPIAStatus.APPROVED,
        officer2,
        due,
        "Measures are adequate.",
    )
    [event] = events("dpia.approved", record.pk)
    assert (event.actor, event.payload) == ("officer2", {"review_due": due.isoformat()})


def test_a_review_date_in_the_past_is_refused_with_the_services_code(engineer: Any, officer: Any) -> None:
    record = in_review(engineer)

    response = client_for(officer).post(
        do_url("dpia", record.pk, "approve"), {"review_due": timezone.localdate().isoformat()}
    )

    assert response.status_code == 400
    assert shown(response) == ["the next review date must be in the future (invalid_review_due)"]
    assert DPIA.objects.get(pk=record.pk).status == DPIAStatus.IN_REVIEW


def test_a_rejection_needs_a_comment(engineer: Any, officer: Any) -> None:
    record = in_review(engineer)
    client = client_for(officer)

    empty = client.post(do_url("dpia", record.pk, "reject"), {"comment": "  "})
    assert empty.status_code == 400
    assert empty.context["form"].errors == {"comment": ["This field is required."]}
    assert DPIA.objects.get(pk=record.pk).status == DPIAStatus.IN_REVIEW

    done = client.post(do_url("dpia", record.pk, "reject"), {"comment": "Retention is not justified."})
    assert done.status_code == 302
    stored = DPIA.objects.get(pk=record.pk)
    assert (stored.status, stored.review_comment) == (DPIAStatus.REJECTED, "Retention is not justified.")
    assert len(events("dpia.rejected", record.pk)) == 1


def test_submit_from_the_page_sends_a_draft_to_review(engineer: Any) -> None:
    record = DPIAFactory(created_by=engineer)

    response = client_for(engineer).post(do_url("dpia", record.pk, "submit"))

    assert response.status_code == 302
    assert DPIA.objects.get(pk=record.pk).status == DPIAStatus.IN_REVIEW
    assert len(events("dpia.submitted", record.pk)) == 1


def test_an_engineer_gets_403_on_the_approve_button(engineer: Any, officer: Any) -> None:
    record = in_review(officer)

    status, html = page(engineer, "dpia", record.pk)
    response = client_for(engineer).post(do_url("dpia", record.pk, "approve"), {"comment": "x"})

    assert status == 200 and buttons(html) == []
    assert response.status_code == 403
    assert DPIA.objects.get(pk=record.pk).status == DPIAStatus.IN_REVIEW


# --- Datasets and versions -------------------------------------------------------------------------


def make_version(dataset: Dataset, **fields: Any) -> DatasetVersion:
    values: dict[str, Any] = {
        "dataset": dataset,
        "number": 1,
        "file": "datasets/tickets.jsonl",
        "sha256": "a" * 64,
        "source_sha256": "b" * 64,
        "size_bytes": 2048,
        "record_count": 40,
        "holdout_fraction": 0.1,
        "split_seed": 7,
        "holdout_count": 4,
        "record_format": "input_output",
        "status": DatasetVersionStatus.READY,
        "scanned_records": 40,
        "pii_summary": {"EMAIL_ADDRESS": 3, "PERSON": 2},
        "contains_personal_data": True,
        **fields,
    }
    return DatasetVersion.objects.create(**values)


def test_a_version_page_shows_the_pii_summary_as_a_table_and_short_hashes(
    engineer: Any, officer: Any
) -> None:
    version = make_version(DatasetFactory(owner=engineer))

    status, html = page(officer, "datasetversion", version.pk)

    assert status == 200
    assert "<tr><th scope='row'>EMAIL_ADDRESS</th><td>3</td></tr>" in html
    assert "<tr><th scope='row'>Training records</th><td>36</td></tr>" in html
    assert f'<code title="{"a" * 64}">{"a" * 12}…</code>' in html
    assert '<span class="gv-badge gv-ok">Ready</span>' in html
    assert '{"EMAIL_ADDRESS"' not in html and "{&quot;EMAIL_ADDRESS" not in html
    assert "data-poll=" not in html  # a finished scan is not polled


def test_a_running_scan_is_polled_until_the_version_is_ready(engineer: Any, officer: Any) -> None:
    version = make_version(
        DatasetFactory(owner=engineer),
        status=DatasetVersionStatus.SCANNING,
        scanned_records=10,
        pii_summary={},
    )
    fragment = f"/admin/governance/datasetversion/{version.pk}/fragment/scan_progress/"
    client = client_for(officer)

    _, html = page(officer, "datasetversion", version.pk)
    running = client.get(fragment).content.decode()
    DatasetVersion.objects.filter(pk=version.pk).update(status=DatasetVersionStatus.READY, scanned_records=40)
    ready = client.get(fragment).content.decode()

    assert f'data-poll="{fragment}"' in html
    assert "10 of 40 records scanned" in running and "data-poll-done" not in running
    assert "40 of 40 records scanned" in ready and "data-poll-done" in ready


def test_a_dataset_page_lists_its_versions_with_the_pii_summary_as_a_table(
    engineer: Any, officer: Any
) -> None:
    dataset = DatasetFactory(owner=engineer)
    make_version(dataset)

    status, html = page(officer, "dataset", dataset.pk)

    assert status == 200
    assert "<tr><th scope='row'>PERSON</th><td>2</td></tr>" in html
    assert '<span class="gv-badge gv-ok">Ready</span>' in html
    assert '{"EMAIL_ADDRESS"' not in html and "{&quot;EMAIL_ADDRESS" not in html


# --- The audit chain -------------------------------------------------------------------------------


def test_the_audit_list_shortens_hashes_and_links_each_event_to_its_row(engineer: Any, auditor: Any) -> None:
    record = DPIAFactory(created_by=engineer)
    dpia_submit(actor=engineer, dpia=record)
    event = AuditEvent.objects.get(action="dpia.submitted")

    html = client_for(auditor).get("/admin/governance/auditevent/").content.decode()

    assert f'<code title="{event.hash}">{event.hash[:12]}…</code>' in html
    assert f'<a href="/admin/governance/dpia/{record.pk}/change/">{record.pk}</a>' in html


def test_an_audit_events_page_shows_its_payload_as_a_table(engineer: Any, auditor: Any) -> None:
    record = DPIAFactory(created_by=engineer)
    dpia_update(actor=engineer, dpia=record, context="Tickets and chat transcripts.")
    event = AuditEvent.objects.get(action="dpia.updated", object_id=str(record.pk))

    status, html = page(auditor, "auditevent", event.pk)

    assert status == 200
    assert "<tr><th scope='row'>changed</th><td>context</td></tr>" in html
    assert f'<code title="{event.prev_hash}">{event.prev_hash[:12]}…</code>' in html
    assert f'<a href="/admin/governance/dpia/{record.pk}/change/">{record.pk}</a>' in html


# --- Erasure requests ------------------------------------------------------------------------------


@pytest.fixture
def erasure_request(officer: Any) -> ErasureRequest:
    return erasure.erasure_request_create(
        actor=officer, reference="DSR-page-1", identifiers=[{"type": "email", "value": EMAIL}]
    )


def progress_url(record: ErasureRequest) -> str:
    return f"/admin/governance/erasurerequest/{record.pk}/fragment/progress/"


def test_an_erasure_request_page_shows_each_store_the_deadline_and_the_buttons(
    officer: Any, erasure_request: ErasureRequest
) -> None:
    status, html = page(officer, "erasurerequest", erasure_request.pk)

    assert status == 200
    assert buttons(html) == ["execute", "refresh", "reject", "hold", "extend"]
    for store in erasure_participants():
        assert f"<th scope='row'>{store}</th>" in html
    assert html.count("found, not erased yet") == len(erasure_participants())
    days = (timezone.localdate(erasure_request.due_at) - timezone.localdate()).days
    assert f"{days} days left" in html
    assert "data-poll=" not in html  # nothing runs before execute
    assert EMAIL not in html


def test_an_overdue_request_shows_its_lateness_in_red(officer: Any, erasure_request: ErasureRequest) -> None:
    ErasureRequest.objects.filter(pk=erasure_request.pk).update(due_at=timezone.now() - dt.timedelta(days=3))

    _, html = page(officer, "erasurerequest", erasure_request.pk)

    assert '<span class="gv-overdue">overdue by 3 days</span>' in html


def test_the_progress_box_polls_while_running_and_says_done_when_completed(
    officer: Any, erasure_request: ErasureRequest
) -> None:
    ErasureRequest.objects.filter(pk=erasure_request.pk).update(status=ErasureStatus.IN_PROGRESS)
    client = client_for(officer)

    _, html = page(officer, "erasurerequest", erasure_request.pk)
    running = client.get(progress_url(erasure_request))
    ErasureRequest.objects.filter(pk=erasure_request.pk).update(
        status=ErasureStatus.COMPLETED,
        completed_at=timezone.now(),
        certificate_sha256="c" * 64,
        verification={"ok": True, "stores": {name: {"ok": True} for name in erasure_participants()}},
    )
    completed = client.get(progress_url(erasure_request))
    _, done_page = page(officer, "erasurerequest", erasure_request.pk)

    assert f'data-poll="{progress_url(erasure_request)}"' in html
    assert running.status_code == 200 and "data-poll-done" not in running.content.decode()
    assert completed.status_code == 200 and "data-poll-done" in completed.content.decode()
    assert completed.content.decode().count('<span class="gv-badge gv-ok">verified</span>') == len(
        erasure_participants()
    )
    assert f'href="/api/v1/erasure-requests/{erasure_request.pk}/certificate/"' in done_page
    assert buttons(done_page) == ["certificate"]  # a completed request: only its download is left


def test_an_officer_rejects_a_request_from_its_page_with_a_ground_and_reason(
    officer: Any, erasure_request: ErasureRequest
) -> None:
    url = do_url("erasurerequest", erasure_request.pk, "reject")

    missing = client_for(officer).post(url, {"ground": "legal_claims"})
    response = client_for(officer).post(url, {"ground": "legal_claims", "reason": "Pending litigation."})

    assert missing.status_code == 400
    assert response.status_code == 302
    stored = ErasureRequest.objects.get(pk=erasure_request.pk)
    assert (stored.status, stored.rejection_ground, stored.rejection_reason) == (
        ErasureStatus.REJECTED,
        "legal_claims",
        "Pending litigation.",
    )
    assert len(events("erasure_request.rejected", erasure_request.pk)) == 1


def test_hold_release_and_extend_from_the_page(officer: Any, erasure_request: ErasureRequest) -> None:
    client = client_for(officer)
    due = erasure_request.due_at

    held = client.post(do_url("erasurerequest", erasure_request.pk, "hold"), {"reason": "Court order."})
    on_hold = ErasureRequest.objects.get(pk=erasure_request.pk).status
    _, html = page(officer, "erasurerequest", erasure_request.pk)
    released = client.post(do_url("erasurerequest", erasure_request.pk, "release"))
    extended = client.post(
        do_url("erasurerequest", erasure_request.pk, "extend"), {"months": "1", "reason": "Many stores."}
    )

    assert (held.status_code, on_hold) == (302, ErasureStatus.ON_HOLD)
    assert buttons(html) == ["refresh", "reject", "release", "extend"]
    assert released.status_code == 302 and extended.status_code == 302
    stored = ErasureRequest.objects.get(pk=erasure_request.pk)
    assert (stored.status, stored.extension_months) == (ErasureStatus.RECEIVED, 1)
    assert stored.due_at > due


def test_a_refused_erasure_action_shows_the_services_code(
    officer: Any, erasure_request: ErasureRequest
) -> None:
    response = client_for(officer).post(do_url("erasurerequest", erasure_request.pk, "release"))

    assert response.status_code == 409
    assert shown(response) == ["cannot release a request that is received (illegal_transition)"]


def test_an_engineer_sees_no_erasure_request_nor_its_progress(
    engineer: Any, erasure_request: ErasureRequest
) -> None:
    client = client_for(engineer)
    assert client.get(f"/admin/governance/erasurerequest/{erasure_request.pk}/change/").status_code == 403
    assert client.get(progress_url(erasure_request)).status_code == 403


# --- Deployments -----------------------------------------------------------------------------------


@pytest.fixture
def system(officer: Any) -> Any:
    """A minimal-risk system an officer registered (so its risk class is recorded)."""
    return systems.ai_system_create(
        actor=officer, owner=officer, name="Helpdesk", intended_purpose="Routes support tickets"
    )


@pytest.fixture
def requested(engineer: Any, system: Any, base_model: Any) -> Deployment:
    return deployments.deployment_request(
        actor=engineer, ai_system=system, base_model=base_model, environment="staging"
    )


def test_a_deployment_page_shows_its_gates_as_traffic_lights_and_its_buttons(
    officer: Any, requested: Deployment
) -> None:
    report = deployments.gate_report(requested)

    status, html = page(officer, "deployment", requested.pk)

    assert status == 200
    assert html.count('<td><span class="gv-badge gv-ok">pass</span></td>') == len(report)
    for gate in report:
        assert f"<td>{gate['gate']}</td>" in html
    assert "Every gate passes." in html
    assert buttons(html) == ["approve", "retire", "generate_documentation"]
    assert "No documentation has been generated yet." in html


def test_an_officer_who_did_not_request_it_approves_from_the_page(
    officer: Any, requested: Deployment
) -> None:
    response = client_for(officer).post(do_url("deployment", requested.pk, "approve"))

    assert response.status_code == 302
    stored = Deployment.objects.get(pk=requested.pk)
    assert (stored.status, stored.approved_by) == (DeploymentStatus.APPROVED, officer)
    assert len(events("deployment.approved", requested.pk)) == 1
    _, html = page(officer, "deployment", requested.pk)
    assert buttons(html) == ["activate", "retire", "generate_documentation"]
    pdf = f"/api/v1/deployments/{requested.pk}/documentation/pdf/?version=1"
    assert f'<a href="{pdf}">PDF</a>' in html
    assert f'<a href="/api/v1/deployments/{requested.pk}/documentation/?version=1">JSON</a>' in html
    assert client_for(officer).get(pdf).status_code == 200


def test_the_requester_is_refused_with_the_four_eyes_code(officer: Any, system: Any, base_model: Any) -> None:
    own = deployments.deployment_request(
        actor=officer, ai_system=system, base_model=base_model, environment="staging"
    )

    response = client_for(officer).post(do_url("deployment", own.pk, "approve"))

    assert response.status_code == 403
    assert shown(response) == [
        "four eyes: the person who requested a deployment does not approve it (requester_cannot_approve)"
    ]
    assert Deployment.objects.get(pk=own.pk).status == DeploymentStatus.REQUESTED


def test_a_blocked_deployment_shows_what_blocked_it_in_red(officer: Any, requested: Deployment) -> None:
    failure = {"code": "adapter_tainted", "message": "the adapter was tainted", "remedy": "train a new one"}
    Deployment.objects.filter(pk=requested.pk).update(
        status=DeploymentStatus.BLOCKED,
        blocked_at=timezone.now(),
        blocked_from="active",
        blocked_reasons=[failure],
    )

    _, html = page(officer, "deployment", requested.pk)

    assert '<h3 class="gv-overdue">Blocked</h3>' in html
    assert (
        '<td><span class="gv-badge gv-bad">fail</span></td><td>adapter_tainted</td><td></td>'
        "<td>the adapter was tainted</td><td>train a new one</td>"
    ) in html


def test_retire_from_the_page_takes_a_reason(officer: Any, requested: Deployment) -> None:
    response = client_for(officer).post(
        do_url("deployment", requested.pk, "retire"), {"reason": "Not needed."}
    )

    assert response.status_code == 302
    stored = Deployment.objects.get(pk=requested.pk)
    assert (stored.status, stored.retired_reason) == (DeploymentStatus.RETIRED, "Not needed.")


# --- An auditor reads every page and presses no button ---------------------------------------------


@pytest.mark.parametrize(
    ("model", "action"),
    [("dpia", "approve"), ("erasurerequest", "reject"), ("deployment", "approve"), ("datasetversion", None)],
)
def test_an_auditor_sees_the_pages_but_no_buttons_and_gets_403_on_them(
    model: str, action: str | None, auditor: Any, engineer: Any, request: pytest.FixtureRequest
) -> None:
    if model == "dpia":
        row: Any = in_review(engineer)
    elif model == "erasurerequest":
        row = request.getfixturevalue("erasure_request")
    elif model == "deployment":
        row = request.getfixturevalue("requested")
    else:
        row = make_version(DatasetFactory(owner=engineer))
    status, html = page(auditor, model, row.pk)

    assert status == 200
    assert 'class="gv-panel"' in html
    assert 'class="gv-buttons"' not in html
    if action is not None:
        client = client_for(auditor)
        assert client.get(do_url(model, row.pk, action)).status_code == 403
        assert client.post(do_url(model, row.pk, action), {"comment": "x", "reason": "x"}).status_code == 403
        assert type(row).objects.get(pk=row.pk).status == row.status
