"""Risk class and status of an AI system are a compliance officer's decision (governance/policy.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from governance.errors import NotPermitted
from governance.models import AISystem, AuditEvent
from governance.services import systems
from tests.factories import AISystemFactory

pytestmark = pytest.mark.django_db


def _events(system: AISystem) -> list[tuple[str, dict[str, Any]]]:
    rows = AuditEvent.objects.filter(object_id=str(system.pk)).order_by("sequence")
    return [(e.action, e.payload) for e in rows]


def test_an_engineer_cannot_change_the_risk_class_through_the_api(api: Any, engineer: Any) -> None:
    system = AISystemFactory(risk_class="minimal", status="draft")

    response = api(engineer).patch(
        f"/api/v1/ai-systems/{system.pk}/",
        {"risk_class": "high", "human_oversight": "Four eyes."},
        format="json",
    )

    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert (error["code"], error["details"]["fields"]) == ("forbidden", ["risk_class"])
    system.refresh_from_db()
    assert (system.risk_class, system.status, system.human_oversight) == ("minimal", "draft", "")
    assert _events(system) == []


@pytest.mark.parametrize(("field", "value"), [("risk_class", "high"), ("status", "active")])
def test_the_update_service_refuses_an_engineer_a_new_risk_class_or_status(
    engineer: Any, field: str, value: str
) -> None:
    system = AISystemFactory(risk_class="minimal", status="draft")

    with pytest.raises(NotPermitted) as refused:
        systems.ai_system_update(
            actor=engineer, system=system, human_oversight="Four eyes.", **{field: value}
        )

    assert (refused.value.code, refused.value.details) == ("forbidden", {"fields": [field]})
    system.refresh_from_db()
    assert (system.risk_class, system.status, system.human_oversight) == ("minimal", "draft", "")
    assert _events(system) == []


def test_an_officer_changes_the_risk_class_and_the_event_names_old_and_new(api: Any, officer: Any) -> None:
    system = AISystemFactory(risk_class="minimal")

    response = api(officer).patch(
        f"/api/v1/ai-systems/{system.pk}/",
        {"risk_class": "high", "human_oversight": "Four eyes."},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["risk_class"] == "high"
    assert _events(system) == [
        ("ai_system.updated", {"changed": ["human_oversight"]}),
        ("ai_system.risk_class_changed", {"field": "risk_class", "old": "minimal", "new": "high"}),
    ]


def test_the_status_service_records_old_and_new_and_ignores_a_repeat(officer: Any) -> None:
    system = AISystemFactory(status="draft")

    systems.ai_system_set_status(actor=officer, system=system, status="active")
    systems.ai_system_set_status(actor=officer, system=system, status="active")

    system.refresh_from_db()
    assert system.status == "active"
    assert _events(system) == [
        ("ai_system.status_changed", {"field": "status", "old": "draft", "new": "active"})
    ]


@pytest.mark.parametrize("role", ["engineer", "auditor"])
def test_the_officer_services_refuse_anyone_else(role: str, request: pytest.FixtureRequest) -> None:
    user = request.getfixturevalue(role)
    system = AISystemFactory(risk_class="minimal")

    with pytest.raises(NotPermitted) as refused:
        systems.ai_system_set_risk_class(actor=user, system=system, risk_class="high")

    assert refused.value.code == "forbidden"
    system.refresh_from_db()
    assert system.risk_class == "minimal"


def test_an_auditor_cannot_update_an_ai_system_through_the_service(auditor: Any) -> None:
    system = AISystemFactory(human_oversight="")

    with pytest.raises(NotPermitted):
        systems.ai_system_update(actor=auditor, system=system, human_oversight="Four eyes.")


def test_the_admin_shows_an_engineer_the_risk_class_read_only(engineer: Any) -> None:
    system = AISystemFactory(risk_class="minimal")
    client = Client()
    client.force_login(engineer)

    page = client.get(f"/admin/governance/aisystem/{system.pk}/change/").content.decode()

    assert 'name="human_oversight"' in page
    assert 'name="risk_class"' not in page and 'name="status"' not in page


def test_an_officer_classifies_a_system_in_the_admin_through_the_service(officer: Any) -> None:
    system = AISystemFactory(risk_class="minimal", status="draft", approach="rag", owner=officer)
    client = Client()
    client.force_login(officer)
    form = {
        "name": system.name,
        "owner": officer.pk,
        "intended_purpose": system.intended_purpose,
        "risk_class": "high",
        "approach": "rag",
        "human_oversight": "",
        "evaluation_threshold": "" if system.evaluation_threshold is None else system.evaluation_threshold,
        "retrain_signal_threshold": system.retrain_signal_threshold,  # the fields a browser sends as shown
        "retrain_signal_window": system.retrain_signal_window,
        "status": "draft",
        "declaration_status": "not_started",  # the select a browser always sends
    }

    response = client.post(f"/admin/governance/aisystem/{system.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert _events(system) == [
        ("ai_system.risk_class_changed", {"field": "risk_class", "old": "minimal", "new": "high"})
    ]


def test_an_officer_moves_the_status_through_the_api_and_an_engineer_is_refused(
    api: Any, officer: Any, engineer: Any
) -> None:
    system = AISystemFactory(status="draft")
    url = f"/api/v1/ai-systems/{system.pk}/"

    refused = api(engineer).patch(url, {"status": "active"}, format="json")
    accepted = api(officer).patch(url, {"status": "active"}, format="json")

    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["fields"] == ["status"]
    assert (accepted.status_code, accepted.json()["status"]) == (200, "active")
    assert _events(system) == [
        ("ai_system.status_changed", {"field": "status", "old": "draft", "new": "active"}),
    ]
