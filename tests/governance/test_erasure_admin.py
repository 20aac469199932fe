"""The erasure workbench in the admin: the add form, its errors, and what it never shows back."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from governance.models import AuditEvent, ErasureRequest

pytestmark = pytest.mark.django_db

ADD = "/admin/governance/erasurerequest/add/"
EMAIL = "jadwiga.mazur@example.org"


@pytest.fixture(autouse=True)
def _regex_engine(settings: Any) -> None:
    settings.PII_ENGINE = "regex"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def add(user: Any, identifiers: str, reference: str = "DSR-admin-1") -> Any:
    return client_for(user).post(
        ADD,
        {
            "reference": reference,
            "received_at_0": "2026-11-30",
            "received_at_1": "09:00:00",
            "identifiers": identifiers,
        },
    )


def test_an_officer_adds_a_request_with_one_identifier_per_line(officer: Any) -> None:
    response = add(officer, f"email: {EMAIL}\n\npesel: 44051401359\n")

    assert response.status_code == 302, response.content[:2000]
    record = ErasureRequest.objects.get(reference="DSR-admin-1")
    assert record.identifier_types == {"email": 1, "pesel": 1}
    assert record.received_at.date().isoformat() == "2026-11-30"
    assert AuditEvent.objects.filter(action="erasure_request.received", object_id=str(record.pk)).exists()
    page = client_for(officer).get(f"/admin/governance/erasurerequest/{record.pk}/change/")
    assert page.status_code == 200
    assert EMAIL not in page.content.decode()  # the change page shows types and keys, never values


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("\npesel: 44051401358", "line 2: not a valid pesel"),
        ("shoe_size: 42", "line 1: unknown identifier type"),
        (f"{EMAIL}", "line 1: write it as type: value"),
        ("", "This field is required."),
    ],
)
def test_a_bad_identifier_line_is_shown_on_the_form_and_nothing_is_stored(
    officer: Any, lines: str, message: str
) -> None:
    before = AuditEvent.objects.count()

    response = add(officer, lines)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"identifiers": [message]}
    assert ErasureRequest.objects.count() == 0 and AuditEvent.objects.count() == before


def test_a_future_receipt_date_is_refused_on_the_form(officer: Any) -> None:
    response = client_for(officer).post(
        ADD,
        {
            "reference": "DSR-future",
            "received_at_0": "2999-01-01",
            "received_at_1": "09:00:00",
            "identifiers": f"email: {EMAIL}",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "received_at": ["received_at cannot be in the future"]
    }
    assert not ErasureRequest.objects.exists()


@pytest.mark.parametrize("role", ["engineer", "auditor"])
def test_engineers_and_auditors_cannot_add(role: str, request: pytest.FixtureRequest) -> None:
    user = request.getfixturevalue(role)
    assert client_for(user).get(ADD).status_code == 403
    assert add(user, f"email: {EMAIL}").status_code == 403
    assert not ErasureRequest.objects.exists()
