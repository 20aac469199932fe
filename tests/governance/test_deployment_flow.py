# ruff: noqa: F811 - the training fixtures imported below are parameters of the test
"""Issue 9's walk through the API: request -> gates -> documentation -> approval by a second officer ->
activation -> an erasure request taints the adapter -> the deployment is blocked.

The documentation is generated while a required fact is missing (printed MISSING, the high-risk gate
fails), then again once an officer recorded it (a new version; the old one kept). The PDF's text holds
the nine Annex IV headings, the adapter's and the dataset version's sha256 and the evaluation figures.
The erasure runs on the real Celery worker.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.utils import timezone
from pypdf import PdfReader

from governance.enqueue import send_now
from governance.models import AuditEvent, Deployment, ErasureRequest
from governance.services.audit import audit_verify_chain
from tests.conftest import wait_for
from tests.training.conftest import (  # noqa: F401 - fixtures
    adapter,
    ai_system,
    approved_dpia,
    base_model,
    demo_model_dir,
    make_version,
    trained_job,
)
from tests.training.helpers import ticket_records

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.slow]

EMAIL = "Marta.Nowicka@example.org"
HEADINGS = (
    "1. General description",
    "2. Elements and development process",
    "3. Monitoring, functioning and control",
    "4. Appropriateness of the performance metrics",
    "5. Risk management system",
    "6. Changes over the lifecycle",
    "7. Standards applied",
    "8. EU declaration of conformity",
    "9. Post-market monitoring plan",
)
FACTS = {
    "risk_class": "high",
    "human_oversight": "An agent reviews every routed ticket before the customer sees it.",
    "provider": "Example Support Ltd, 1 Main Street, Warsaw",
    "system_version": "2.1",
    "hardware": "One NVIDIA L4 per replica",
    "instructions_for_use": "Support agents see the suggested queue and confirm it.",
    "metrics_rationale": "Exact match on the queue label is what agents act on.",
    "declaration_status": "drafted",
    "declaration_reference": "DoC-2026-7",
    "monitoring_plan": "Weekly sample of 50 routed tickets reviewed by the support lead.",
}


@pytest.fixture
def version(make_version: Any, approved_dpia: Any) -> Any:
    """The adapter's training set: tickets, six of them the subject's, covered by a DPIA."""
    subject = [
        {"input": f"Ticket s{n}: refund for {EMAIL}. Category?", "output": "billing"} for n in range(6)
    ]
    made = make_version(ticket_records(40) + subject)
    approved_dpia(made.dataset)
    return made


def pdf_text(response: Any) -> str:
    data = b"".join(response.streaming_content)
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def failed(client: Any, deployment_id: int) -> list[str]:
    gates = client.get(f"/api/v1/deployments/{deployment_id}/gates/").json()["gates"]
    return [g["code"] for g in gates if g["status"] == "failed"]


def test_request_gates_approval_documentation_activation_then_erasure_blocks_it(
    api: Any,
    officer: Any,
    officer2: Any,
    engineer: Any,
    auditor: Any,
    ai_system: Any,
    version: Any,
    adapter: Any,
    base_model: Any,
    celery_worker: Any,
) -> None:
    # An officer classifies the system as high risk and records every fact but the standards applied.
    patched = api(officer).patch(f"/api/v1/ai-systems/{ai_system.pk}/", FACTS, format="json")
    assert patched.status_code == 200, patched.content
    provenance = {"provenance": "Tickets exported from the helpdesk, January to June 2026"}
    dataset_url = f"/api/v1/datasets/{version.dataset_id}/"
    assert api(engineer).patch(dataset_url, provenance, format="json").status_code == 200
    approved = api(officer).post(
        f"/api/v1/adapters/{adapter.pk}/approve/",
        {"override_justification": "The tiny demo model routes tickets well enough for staging."},
        format="json",
    )
    assert approved.status_code == 200, approved.content

    # The officer requests; the gates show that only the documentation is missing.
    created = api(officer).post(
        "/api/v1/deployments/",
        {
            "ai_system": ai_system.pk,
            "base_model": base_model.pk,
            "adapter_version": adapter.pk,
            "environment": "production",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    deployment_id = created.json()["id"]
    assert failed(api(engineer), deployment_id) == ["documentation_missing"]

    # Documentation with a missing fact: printed MISSING, listed, and the high-risk gate fails.
    first = api(engineer).post(f"/api/v1/deployments/{deployment_id}/documentation/", format="json")
    assert first.status_code == 201, first.content
    assert first.json()["version"] == 1
    assert first.json()["missing"] == ["7. Standards applied"]
    first_pdf = pdf_text(api(auditor).get(f"/api/v1/deployments/{deployment_id}/documentation/pdf/"))
    # Once in the page-1 introduction, once in the list of missing facts, once in section 7.
    assert first_pdf.count("MISSING") == 3
    refused = api(officer2).post(f"/api/v1/deployments/{deployment_id}/approve/", format="json")
    assert refused.status_code == 409
    assert [f["code"] for f in refused.json()["error"]["details"]] == ["documentation_incomplete"]

    # The officer records the standards; the documentation is generated again: version 2, 1 kept.
    standards = {"standards_applied": "ISO/IEC 42001:2023; ISO/IEC 23894:2023"}
    assert (
        api(officer).patch(f"/api/v1/ai-systems/{ai_system.pk}/", standards, format="json").status_code == 200
    )
    second = api(engineer).post(f"/api/v1/deployments/{deployment_id}/documentation/", format="json")
    assert (second.status_code, second.json()["version"], second.json()["missing"]) == (201, 2, [])
    again = api(engineer).post(f"/api/v1/deployments/{deployment_id}/documentation/", format="json")
    assert (again.status_code, again.json()["version"]) == (200, 2)
    old = api(auditor).get(f"/api/v1/deployments/{deployment_id}/documentation/?version=1")
    assert old.json()["facts_sha256"] == first.json()["facts_sha256"] != second.json()["facts_sha256"]

    # Four eyes: an engineer and the requester are refused, a second officer approves.
    assert (
        api(engineer).post(f"/api/v1/deployments/{deployment_id}/approve/", format="json").status_code == 403
    )
    own = api(officer).post(f"/api/v1/deployments/{deployment_id}/approve/", format="json")
    assert (own.status_code, own.json()["error"]["code"]) == (403, "requester_cannot_approve")
    ok = api(officer2).post(f"/api/v1/deployments/{deployment_id}/approve/", format="json")
    assert ok.status_code == 200, ok.content
    assert (ok.json()["status"], ok.json()["approved_by"], ok.json()["documentation_version"]) == (
        "approved",
        "officer2",
        2,
    )
    assert {g["status"] for g in ok.json()["gate_results"]} == {"passed"}

    # The approved documentation: nine headings, the hashes, the evaluation figures, nothing missing.
    text = pdf_text(api(auditor).get(f"/api/v1/deployments/{deployment_id}/documentation/pdf/"))
    for heading in HEADINGS:
        assert heading in text, heading
    assert adapter.sha256 in text.replace("\n", "").replace(" ", "")
    assert version.sha256 in text.replace("\n", "").replace(" ", "")
    adapter.refresh_from_db()
    words = " ".join(text.split())
    for evaluation in adapter.evaluations.all():
        score, threshold = round(evaluation.score, 4), evaluation.threshold
        figure = f"{evaluation.primary_metric} {score} against threshold {threshold}"
        assert figure in words, figure
    assert text.count("MISSING") == 1  # the introduction's explanation only
    event = AuditEvent.objects.get(action="deployment.approved", object_id=str(deployment_id))
    assert event.payload["documentation_pdf_sha256"] == second.json()["pdf_sha256"]

    activated = api(engineer).post(f"/api/v1/deployments/{deployment_id}/activate/", format="json")
    assert activated.json()["status"] == "active"

    # An erasure request names a subject of the training set: the worker taints the adapter, and the
    # active deployment built on it is blocked in the same step.
    received = api(officer).post(
        "/api/v1/erasure-requests/",
        {"reference": "DSR-2026-090", "identifiers": [{"type": "email", "value": EMAIL}]},
        format="json",
    )
    assert received.status_code == 201, received.content
    request_id = received.json()["id"]
    assert (
        api(officer).post(f"/api/v1/erasure-requests/{request_id}/execute/", format="json").status_code == 200
    )
    wait_for(lambda: ErasureRequest.objects.get(pk=request_id).status in ("erased", "failed"), timeout=240)
    assert ErasureRequest.objects.get(pk=request_id).status == "erased"

    blocked = api(auditor).get(f"/api/v1/deployments/{deployment_id}/").json()
    assert (blocked["status"], blocked["blocked_from"]) == ("blocked", "active")
    assert [r["code"] for r in blocked["blocked_reasons"]] == ["adapter_tainted"]
    # The facts changed too (a tainted adapter, an erasure-driven dataset version): a re-approval
    # would need the documentation generated again.
    assert failed(api(auditor), deployment_id) == ["documentation_missing", "adapter_tainted"]
    event = AuditEvent.objects.get(action="deployment.blocked", object_id=str(deployment_id))
    assert event.payload == {
        "previous_status": "active",
        "gates": ["adapter_tainted"],
        "trigger": f"erasure request {request_id}",
    }
    again_active = api(engineer).post(f"/api/v1/deployments/{deployment_id}/activate/", format="json")
    assert (again_active.status_code, again_active.json()["error"]["code"]) == (409, "deployment_blocked")
    assert Deployment.objects.get(pk=deployment_id).status == "blocked"

    # The purge finishes the request; the chain still verifies.
    ErasureRequest.objects.filter(pk=request_id).update(purge_due_at=timezone.now())
    send_now("governance.tasks.erasure_purge_due")
    wait_for(lambda: ErasureRequest.objects.get(pk=request_id).status in ("completed", "failed"), timeout=300)
    assert audit_verify_chain().ok
