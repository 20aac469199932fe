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
    assert "checkpoint saved at step" in page or "progress" in page


def test_the_adapter_page_shows_lineage_and_evaluations_beside_the_baseline(officer, adapter):
    page = _client(officer).get(f"/admin/training/adapterversion/{adapter.pk}/change/").content.decode()
    assert "<th>adapter</th><th>baseline</th>" in page
    assert "rouge_l" in page and "manifest_sha256" in page


def test_an_officer_approves_from_the_admin_and_an_engineer_cannot(officer, engineer, adapter):
    data = {"action": "approve", "_selected_action": [adapter.pk]}
    _client(engineer).post("/admin/training/adapterversion/", data)
    adapter.refresh_from_db()
    assert adapter.status == "candidate"
    _client(officer).post("/admin/training/adapterversion/", data)
    adapter.refresh_from_db()
    assert adapter.status == "approved"
