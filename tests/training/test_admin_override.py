"""The admin's approve action asks for a written justification before approving a failed adapter."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from governance.models import AuditEvent
from training.models import Evaluation

pytestmark = pytest.mark.django_db
URL = "/admin/training/adapterversion/"
REASON = "The baseline fails too; the domain team accepts 0.45 for the pilot."


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _fail(adapter: Any) -> Any:
    Evaluation.objects.filter(adapter_version=adapter, subject="adapter").update(passed=False, score=0.1)
    return adapter


def test_approving_a_failed_adapter_shows_a_justification_form_and_approves_nothing(officer, adapter):
    _fail(adapter)
    response = _client(officer).post(URL, {"action": "approve", "_selected_action": [adapter.pk]})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="override_justification"' in page
    assert "accuracy 0.100" in page and "below threshold 0.50" in page
    adapter.refresh_from_db()
    assert adapter.status == "candidate"


def test_a_justification_too_short_shows_the_form_again(officer, adapter):
    _fail(adapter)
    data = {"action": "approve", "_selected_action": [adapter.pk], "override_justification": "ok"}
    response = _client(officer).post(URL, data)
    assert response.status_code == 200
    assert "at least 20 characters" in response.content.decode()
    adapter.refresh_from_db()
    assert adapter.status == "candidate"


def test_a_justification_approves_the_failed_adapter_and_is_kept_and_audited(officer, adapter):
    _fail(adapter)
    data = {"action": "approve", "_selected_action": [adapter.pk], "override_justification": REASON}
    response = _client(officer).post(URL, data)
    assert response.status_code == 302
    adapter.refresh_from_db()
    assert (adapter.status, adapter.override_justification, adapter.override_by) == (
        "approved",
        REASON,
        officer,
    )
    assert (
        AuditEvent.objects.get(action="adapter_version.approved").payload["override"]["justification"]
        == REASON
    )
    page = _client(officer).get(f"{URL}{adapter.pk}/change/").content.decode()
    assert REASON.replace("'", "&#x27;") in page


def test_an_adapter_that_passed_is_approved_without_a_form(officer, adapter):
    Evaluation.objects.filter(adapter_version=adapter, subject="adapter").update(passed=True, score=0.9)
    response = _client(officer).post(URL, {"action": "approve", "_selected_action": [adapter.pk]})
    assert response.status_code == 302
    adapter.refresh_from_db()
    assert (adapter.status, adapter.override_justification) == ("approved", "")
