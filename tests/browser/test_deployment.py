# ruff: noqa: F811 - the training fixtures imported below are parameters of the tests
"""A deployment approved in a real browser by an officer who did not request it, then its Annex IV
documentation downloaded from the page: the PDF is byte for byte the version recorded at approval.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any

import pytest
from pypdf import PdfReader

from governance.models import AuditEvent, Deployment, DeploymentDocumentation
from governance.services import deployments, systems
from tests.browser.conftest import (
    action_button,
    click_through,
    fill_action_form,
    goto,
    messages_of,
    shot,
    submit_action,
)
from tests.training.conftest import base_model, demo_model_dir  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


@pytest.fixture
def requested(officer: Any, engineer: Any, base_model: Any) -> Deployment:
    """A minimal-risk system an officer registered; an engineer asks for it on staging. Every gate holds."""
    system = systems.ai_system_create(
        actor=officer, owner=officer, name="Helpdesk router", intended_purpose="Routes support tickets"
    )
    return deployments.deployment_request(
        actor=engineer, ai_system=system, base_model=base_model, environment="staging", notes="First run"
    )


def test_an_officer_approves_a_deployment_and_downloads_its_documentation(
    open_page: Callable[..., Any], officer: Any, requested: Deployment
) -> None:
    url = f"/admin/governance/deployment/{requested.pk}/change/"
    page = open_page(officer)
    goto(page, url, "deployment-requested")

    button = action_button(page, "approve")
    assert button.count() == 1, 'no a[data-action="approve"] on the deployment page'
    click_through(page, button)
    assert page.url.endswith(f"/admin/governance/deployment/{requested.pk}/do/approve/"), page.url
    shot(page, "deployment-approve-confirm")
    fill_action_form(page)
    response = submit_action(page)
    shot(page, "deployment-approved")

    assert response.status == 200, messages_of(page, "error")
    assert messages_of(page, "success") and not messages_of(page, "error")
    approved = Deployment.objects.get(pk=requested.pk)
    assert (approved.status, approved.approved_by) == ("approved", officer)
    doc = DeploymentDocumentation.objects.get(deployment=approved)
    assert approved.documentation_id == doc.pk
    assert AuditEvent.objects.filter(action="deployment.approved", object_id=str(approved.pk)).exists()

    page.goto(url)
    link = page.locator('#content a[href*="/documentation/pdf/"]')
    assert link.count() > 0, 'no link to the documentation PDF (a[href*="/documentation/pdf/"])'
    with page.expect_download() as download_info:
        link.first.click()
    data = open(download_info.value.path(), "rb").read()
    assert data.startswith(b"%PDF-")
    assert hashlib.sha256(data).hexdigest() == doc.pdf_sha256
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert "Helpdesk router" in text


def test_the_requester_is_refused_approving_their_own_deployment(
    open_page: Callable[..., Any], officer: Any, base_model: Any
) -> None:
    system = systems.ai_system_create(
        actor=officer, owner=officer, name="Claims", intended_purpose="Sorts claims"
    )
    own = deployments.deployment_request(
        actor=officer, ai_system=system, base_model=base_model, environment="staging"
    )
    page = open_page(officer)

    goto(page, f"/admin/governance/deployment/{own.pk}/do/approve/", "deployment-own-confirm")
    fill_action_form(page)
    response = submit_action(page)
    shot(page, "deployment-own-refused")

    assert response.status == 403
    assert "requester_cannot_approve" in " ".join(messages_of(page, "error")).lower()
    refused = Deployment.objects.get(pk=own.pk)
    assert (refused.status, refused.approved_by) == ("requested", None)
