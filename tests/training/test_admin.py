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
