"""Admin pages for compliance officers."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_job_list_shows_status_and_progress(officer, trained_job):
    page = _client(officer).get("/admin/training/finetunejob/").content.decode()
    assert "succeeded" in page.lower() and "<progress value='100'" in page


def test_the_job_page_shows_its_events_and_a_loss_curve_picture(officer, trained_job):
    page = _client(officer).get(f"/admin/training/finetunejob/{trained_job.pk}/change/").content.decode()
    assert "data:image/png;base64," in page


@pytest.mark.parametrize("role", ["officer", "engineer", "auditor"])
def test_the_job_page_lists_its_events_in_the_events_table(request, role, trained_job):
    from django.utils.html import escape

    from training.models import FineTuneEvent

    marker = FineTuneEvent.objects.create(
        job=trained_job, kind="progress", step=7, loss=0.4321, message="admin table marker 7f3e"
    )
    page = (
        _client(request.getfixturevalue(role))
        .get(f"/admin/training/finetunejob/{trained_job.pk}/change/")
        .content.decode()
    )

    start = page.index('id="events-group"')
    table = page[start : page.index("</table>", start)]
    assert escape(marker.message) in table
    assert '<th class="column-step' in table and '<th class="column-loss' in table
    assert table.count('<tr class="form-row') == trained_job.events.count()


def test_the_adapter_page_shows_lineage_and_evaluations_beside_the_baseline(officer, adapter):
    page = _client(officer).get(f"/admin/training/adapterversion/{adapter.pk}/change/").content.decode()
    assert "<th>adapter</th><th>baseline</th>" in page
    assert "rouge_l" in page and "manifest_sha256" in page


def test_an_officer_approves_from_the_admin_and_an_engineer_cannot(officer, engineer, adapter):
    # A passing adapter: a failed one first asks for a justification (tests/training/test_admin_override.py).
    adapter.evaluations.filter(subject="adapter").update(passed=True, score=0.9)
    data = {"action": "approve", "_selected_action": [adapter.pk]}
    _client(engineer).post("/admin/training/adapterversion/", data)
    adapter.refresh_from_db()
    assert adapter.status == "candidate"
    _client(officer).post("/admin/training/adapterversion/", data)
    adapter.refresh_from_db()
    assert adapter.status == "approved"


@pytest.mark.parametrize(
    ("url", "target"),
    [("/admin/training/basemodel/", "base_model"), ("/admin/training/adapterversion/", "adapter")],
)
def test_the_taint_action_asks_for_a_reason_then_an_officer_taints(request, officer, url, target):
    from governance.models import AuditEvent

    row = request.getfixturevalue(target)
    data = {"action": "taint", "_selected_action": [row.pk]}

    asked = _client(officer).post(url, data)

    assert asked.status_code == 200
    assert 'name="reason"' in asked.content.decode()
    row.refresh_from_db()
    assert row.taint_reason == ""

    done = _client(officer).post(url, {**data, "reason": "licence withdrawn"})

    assert done.status_code == 302
    row.refresh_from_db()
    assert row.taint_reason == "licence withdrawn"
    assert AuditEvent.objects.filter(action__endswith=".tainted", object_id=str(row.pk)).count() == 1


@pytest.mark.parametrize(
    ("url", "target"),
    [("/admin/training/basemodel/", "base_model"), ("/admin/training/adapterversion/", "adapter")],
)
def test_an_engineer_cannot_taint_from_the_admin(request, engineer, url, target):
    row = request.getfixturevalue(target)

    page = _client(engineer).get(url).content.decode()
    _client(engineer).post(
        url, {"action": "taint", "_selected_action": [row.pk], "reason": "licence withdrawn"}
    )

    assert 'value="taint"' not in page
    row.refresh_from_db()
    assert row.taint_reason == ""


def test_an_adapter_taint_from_the_admin_sets_its_status(officer, adapter):
    data = {"action": "taint", "_selected_action": [adapter.pk], "reason": "erasure request 12"}

    _client(officer).post("/admin/training/adapterversion/", data)

    adapter.refresh_from_db()
    assert (adapter.status, adapter.taint_reason) == ("tainted", "erasure request 12")
