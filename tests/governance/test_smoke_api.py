from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_an_engineer_creates_an_ai_system_and_it_is_audited(api, engineer):
    response = api(engineer).post(
        "/api/v1/ai-systems/", {"name": "Helpdesk", "intended_purpose": "answers"}, format="json"
    )
    assert response.status_code == 201, response.content
    listed = api(engineer).get("/api/v1/ai-systems/").json()
    assert listed["count"] == 1
    events = api(engineer).get("/api/v1/audit-events/").json()["results"]
    assert [e["action"] for e in events] == ["ai_system.created"]
    assert api(engineer).get("/api/v1/audit-events/verify/").json()["ok"] is True
