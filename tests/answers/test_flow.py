# ruff: noqa: F811 - the training fixtures imported below are parameters of the test
"""Issue 11's walk through the API with the real Celery worker: from a dataset upload to a cited answer,
then an erasure that reaches the answer register, then a hand-off.

A dataset version is uploaded and scanned by the worker; a DPIA covering it is approved; a fine-tune
job is created over the API and trained by the worker; an officer approves its adapter (with a written
override if its hold-out evaluation failed); a collection is filled over the API and indexed by the
worker; a high-risk deployment of the adapter and the collection is requested, documented, approved by
an officer who did not request it and activated. It answers with citations, and the answer register
holds the record. A question naming a person is recorded with her subject keys only; her erasure
request, executed and purged on the worker, redacts the record and counts it under "answers". A
nonsense question finds no fragment above the collection's threshold and is handed off.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from answers.models import AnswerRecord
from governance.enqueue import send_now
from governance.models import AuditEvent, DatasetVersion, Deployment, ErasureRequest
from governance.pii.identifiers import validate_identifiers
from governance.services.audit import audit_verify_chain
from retrieval.models import Document
from tests.conftest import wait_for
from tests.training.conftest import base_model, demo_model_dir  # noqa: F401 - fixtures
from tests.training.helpers import jsonl, ticket_records
from training.models import FineTuneJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _platform_pii_engine(settings: Any) -> None:
    """The platform's own scanner (spaCy), as the worker uses: the training fixtures pick the regex one."""
    settings.PII_ENGINE = "spacy"


NAME, EMAIL = "Marta Nowicka", "marta.nowicka@example.org"
REFERENCE = "DSR-2026-111"
# all-MiniLM-L6-v2 scores the real questions below 0.55 to 0.86 against their document and the
# nonsense question under 0.05 against every document: 0.4 keeps the first and drops the second.
MIN_SCORE = 0.4
KNOWLEDGE = [
    ("refunds", "Refunds are paid back to the original card within 14 days of the return arriving."),
    ("delivery", "Parcels ship from the Warsaw warehouse and arrive in two to four working days."),
    ("password", "To reset a password, open Settings, choose Security and press Reset password."),
]
DPIA_SECTIONS = {
    "context": "Support tickets fine-tune an assistant that routes and answers customer questions.",
    "necessity_proportionality": "Only tickets from the last six months; signatures removed.",
    "data_subject_rights": "Access and erasure through the platform's erasure requests.",
    "illegitimate_access_likelihood": "limited",
    "illegitimate_access_severity": "significant",
    "unwanted_modification_likelihood": "negligible",
    "unwanted_modification_severity": "limited",
    "disappearance_likelihood": "negligible",
    "disappearance_severity": "limited",
    "planned_measures": "Encryption at rest, role-based access, hold-out kept apart.",
}
FACTS = {
    "risk_class": "high",
    "human_oversight": "An agent reads every answer before the customer sees it.",
    "provider": "Example Support Ltd, 1 Main Street, Warsaw",
    "system_version": "1.0",
    "hardware": "CPU, one process per web worker",
    "instructions_for_use": "Agents send the suggested answer or hand the case to a colleague.",
    "metrics_rationale": "Exact match on the queue label is what agents act on.",
    "standards_applied": "ISO/IEC 42001:2023",
    "declaration_status": "drafted",
    "declaration_reference": "DoC-2026-11",
    "monitoring_plan": "Weekly sample of 50 answers reviewed by the support lead.",
}
HYPERPARAMETERS = {
    "rank": 4,
    "alpha": 8,
    "epochs": 1,
    "batch_size": 4,
    "learning_rate": 0.003,
    "max_seq_length": 64,
}


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.content
    return dict(response.json())


def _finished_job(job_id: int) -> FineTuneJob | None:
    job = FineTuneJob.objects.get(pk=job_id)
    return job if job.status in ("succeeded", "failed", "cancelled") else None


def _failed_gates(client: Any, deployment_id: int) -> list[str]:
    gates = _ok(client.get(f"/api/v1/deployments/{deployment_id}/gates/"))["gates"]
    return [g["code"] for g in gates if g["status"] == "failed"]


def test_upload_train_approve_index_deploy_answer_erase_and_hand_off(
    api: Any,
    officer: Any,
    engineer: Any,
    auditor: Any,
    base_model: Any,
    celery_worker: Any,
) -> None:
    eng, off = api(engineer), api(officer)

    # The engineer registers the system and its training set; the worker scans the upload.
    system = _ok(
        eng.post(
            "/api/v1/ai-systems/",
            {
                "name": "Helpdesk assistant",
                "intended_purpose": "Answers customer questions from the help centre",
                "evaluation_threshold": 0.5,
            },
            format="json",
        ),
        201,
    )
    dataset = _ok(
        eng.post(
            "/api/v1/datasets/",
            {
                "name": "Support tickets",
                "purpose": "training",
                "legal_basis": "legitimate_interests",
                "provenance": "Tickets exported from the helpdesk, January to June 2026",
                "ai_systems": [system["id"]],
            },
            format="json",
        ),
        201,
    )
    # Four tickets carry a customer's e-mail (not the subject's): the set holds personal data.
    records = ticket_records(40) + [
        {"input": f"Ticket c{n}: invoice for jan.kowal@example.com. Category?", "output": "billing"}
        for n in range(4)
    ]
    upload = SimpleUploadedFile("tickets.jsonl", jsonl(records), content_type="application/jsonl")
    uploaded = _ok(
        eng.post(f"/api/v1/datasets/{dataset['id']}/versions/", {"file": upload}, format="multipart"), 201
    )
    version = wait_for(
        lambda: DatasetVersion.objects.filter(pk=uploaded["id"], status__in=("ready", "failed")).first(),
        timeout=180,
    )
    assert version.status == "ready", version.scan_error
    assert version.contains_personal_data and version.holdout_count > 0

    # A DPIA covering the set: written by the engineer, approved by an officer.
    dpia = _ok(
        eng.post(
            "/api/v1/dpias/",
            {
                "title": "Helpdesk DPIA",
                "ai_system": system["id"],
                "datasets": [dataset["id"]],
                **DPIA_SECTIONS,
            },
            format="json",
        ),
        201,
    )
    _ok(eng.post(f"/api/v1/dpias/{dpia['id']}/submit/"))
    assert _ok(off.post(f"/api/v1/dpias/{dpia['id']}/approve/", {}, format="json"))["status"] == "approved"

    # The fine-tune job is created over the API and trained by the worker.
    created_job = _ok(
        eng.post(
            "/api/v1/fine-tune-jobs/",
            {
                "ai_system": system["id"],
                "base_model": base_model.pk,
                "dataset_version": version.pk,
                "seed": 3,
                "hyperparameters": HYPERPARAMETERS,
            },
            format="json",
        ),
        201,
    )
    job = wait_for(lambda: _finished_job(created_job["id"]), timeout=300)
    assert job.status == "succeeded", job.error
    adapter = _ok(eng.get(f"/api/v1/adapters/{job.adapter.pk}/"))
    assert adapter["status"] == "candidate"
    own = [e for e in adapter["evaluations"] if e["subject"] == "adapter"]
    assert own, adapter["evaluations"]

    # An officer approves the adapter; a failed hold-out evaluation needs a written justification.
    body = {}
    if not all(e["passed"] for e in own):
        refused = off.post(f"/api/v1/adapters/{adapter['id']}/approve/", {}, format="json")
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "evaluation_failed")
        body = {"override_justification": "The tiny demo model is judged on its citations, not routing."}
    approved = _ok(off.post(f"/api/v1/adapters/{adapter['id']}/approve/", body, format="json"))
    assert (approved["status"], approved["approved_by"]) == ("approved", "officer")

    # The help centre collection, filled over the API and indexed by the worker.
    collection = _ok(
        eng.post(
            "/api/v1/collections/",
            {
                "name": "Help centre",
                "ai_system": system["id"],
                "chunk_size": 200,
                "chunk_overlap": 20,
                "min_score": MIN_SCORE,
            },
            format="json",
        ),
        201,
    )
    documents = [{"external_id": key, "title": key.title(), "text": text} for key, text in KNOWLEDGE]
    accepted = _ok(
        eng.post(f"/api/v1/collections/{collection['id']}/documents/", documents, format="json"), 202
    )
    document_ids = [d["id"] for d in accepted["documents"]]
    wait_for(
        lambda: Document.objects.filter(pk__in=document_ids, status="indexed").count() == len(KNOWLEDGE),
        timeout=180,
    )

    # The officer classifies the system as high risk and records every documentation fact.
    _ok(off.patch(f"/api/v1/ai-systems/{system['id']}/", FACTS, format="json"))

    # The engineer requests the deployment; only the documentation is missing; once generated, all pass.
    requested = _ok(
        eng.post(
            "/api/v1/deployments/",
            {
                "ai_system": system["id"],
                "base_model": base_model.pk,
                "adapter_version": adapter["id"],
                "collection": collection["id"],
                "environment": "staging",
            },
            format="json",
        ),
        201,
    )
    deployment_id = requested["id"]
    assert (requested["status"], requested["requested_by"]) == ("requested", "engineer")
    assert _failed_gates(eng, deployment_id) == ["documentation_missing"]
    documented = _ok(eng.post(f"/api/v1/deployments/{deployment_id}/documentation/", format="json"), 201)
    assert (documented["version"], documented["missing"]) == (1, [])
    assert _failed_gates(eng, deployment_id) == []

    # Not active yet: no answer.
    early = eng.post(
        f"/api/v1/deployments/{deployment_id}/answer/",
        {"question": "How long do refunds take?"},
        format="json",
    )
    assert (early.status_code, early.json()["error"]["code"]) == (409, "deployment_not_active")

    # Four eyes: the requester (an engineer) cannot approve; an officer who did not request it does.
    assert eng.post(f"/api/v1/deployments/{deployment_id}/approve/", format="json").status_code == 403
    ok = _ok(off.post(f"/api/v1/deployments/{deployment_id}/approve/", format="json"))
    assert (ok["status"], ok["approved_by"], ok["documentation_version"]) == ("approved", "officer", 1)
    assert {g["status"] for g in ok["gate_results"]} == {"passed"}
    activated = _ok(eng.post(f"/api/v1/deployments/{deployment_id}/activate/", format="json"))
    assert activated["status"] == "active"

    # A real question: a cited answer, generated with the approved adapter.
    question = "How long do refunds take to reach my card?"
    answered = _ok(
        eng.post(
            f"/api/v1/deployments/{deployment_id}/answer/",
            {"question": question, "k": 3, "max_new_tokens": 16},
            format="json",
        )
    )
    assert (answered["handoff"], answered["reason"]) == (False, "")
    assert answered["citations"], answered
    assert answered["citations"][0]["citation"]["external_id"] == "refunds"
    assert [c["number"] for c in answered["citations"]] == list(range(1, len(answered["citations"]) + 1))
    assert all(c["score"] >= MIN_SCORE for c in answered["citations"])
    assert (answered["adapter_version"], answered["documentation_version"]) == (adapter["id"], 1)
    assert answered["tokens_generated"] > 0
    assert {"retrieval_ms", "prompt_ms", "generation_ms", "record_ms", "total_ms"} <= set(answered["timings"])

    # The answer register holds it (officers read it; engineers do not).
    assert eng.get(f"/api/v1/answers/{answered['id']}/").status_code == 403
    record = _ok(off.get(f"/api/v1/answers/{answered['id']}/"))
    assert (record["deployment"], record["user"], record["backend"]) == (deployment_id, "engineer", "local")
    assert (record["adapter_version"], record["collection"], record["base_model"]) == (
        adapter["id"],
        collection["id"],
        base_model.pk,
    )
    assert (record["question_masked"], record["min_score"], record["k"]) == (question, MIN_SCORE, 3)
    assert [c["chunk_id"] for c in record["chunks"]] == [c["chunk_id"] for c in answered["citations"]]
    assert record["tokens_generated"] == answered["tokens_generated"]
    assert record["subject_keys"] == [] and record["handoff"] is False

    # A question naming a person: recorded masked, with her subject keys.
    subject_question = f"{NAME} ({EMAIL}) asks: how long do refunds take to reach my card?"
    named = _ok(
        eng.post(
            f"/api/v1/deployments/{deployment_id}/answer/",
            {"question": subject_question, "k": 3, "max_new_tokens": 8},
            format="json",
        )
    )
    assert named["handoff"] is False and named["citations"][0]["citation"]["external_id"] == "refunds"
    identifiers = [{"type": "email", "value": EMAIL}, {"type": "person", "value": NAME}]
    email_key, name_key = (i.subject_key for i in validate_identifiers(identifiers))
    held = AnswerRecord.objects.get(pk=named["id"])
    assert {email_key, name_key} <= set(held.subject_keys)
    assert held.question_masked == (
        "<PERSON> (<EMAIL_ADDRESS>) asks: how long do refunds take to reach my card?"
    )
    assert (held.pii_summary["PERSON"], held.pii_summary["EMAIL_ADDRESS"]) == (1, 1)

    # Her erasure request: the preview counts the record, the worker erases it, the purge finishes it.
    received = _ok(
        off.post(
            "/api/v1/erasure-requests/", {"reference": REFERENCE, "identifiers": identifiers}, format="json"
        ),
        201,
    )
    request_id = received["id"]
    assert received["preview"]["answers"] == {"answers": 1}
    _ok(off.post(f"/api/v1/erasure-requests/{request_id}/execute/", format="json"))
    wait_for(lambda: ErasureRequest.objects.get(pk=request_id).status in ("erased", "failed"), timeout=240)
    erased = ErasureRequest.objects.get(pk=request_id)
    assert erased.status == "erased", erased.error
    held.refresh_from_db()
    marker = f"[erased under request {REFERENCE}]"
    assert (held.question_masked, held.answer_masked, held.subject_keys, held.pii_summary) == (
        marker,
        marker,
        [],
        {},
    )
    untouched = AnswerRecord.objects.get(pk=answered["id"])
    assert untouched.question_masked == question
    assert not AnswerRecord.objects.filter(subject_keys__overlap=[email_key, name_key]).exists()

    ErasureRequest.objects.filter(pk=request_id).update(purge_due_at=timezone.now())
    send_now("governance.tasks.erasure_purge_due")
    wait_for(lambda: ErasureRequest.objects.get(pk=request_id).status in ("completed", "failed"), timeout=300)
    done = ErasureRequest.objects.get(pk=request_id)
    assert done.status == "completed", (done.error, done.verification)
    assert done.results["answers"]["counts"] == {"answers": 1}
    # The answer record is the retrieval's record too: no query log row was written for the answers.
    assert done.results["retrieval"]["counts"]["query_logs"] == 0
    assert done.purge_results["answers"]["answers_table"]["vacuum_s"] >= 0
    assert done.verification["ok"] is True
    certified = {
        s["name"]: {c["name"]: c["value"] for c in s["counts"]} for s in done.certificate_facts["stores"]
    }
    assert certified["answers"] == {"answers": 1}
    assert done.certificate_facts["verification"]["stores"]["answers"] == {"ok": True}
    assert AuditEvent.objects.filter(action="answers.erased", object_id=str(request_id)).count() == 1
    officer_view = _ok(off.get(f"/api/v1/answers/{named['id']}/"))
    assert (officer_view["question_masked"], officer_view["subject_keys"]) == (marker, [])

    # She is on the suppression list now: a question naming her is refused and nothing is recorded.
    before = AnswerRecord.objects.count()
    refused = eng.post(
        f"/api/v1/deployments/{deployment_id}/answer/",
        {"question": f"Is the refund of {EMAIL} paid?"},
        format="json",
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "suppressed_subject")
    assert AnswerRecord.objects.count() == before
    # Nothing of hers was in the training set or the collection: the deployment still runs.
    assert Deployment.objects.get(pk=deployment_id).status == "active"

    # Nonsense finds nothing above the threshold: handed off, nothing generated, recorded as a hand-off.
    nonsense = _ok(
        eng.post(
            f"/api/v1/deployments/{deployment_id}/answer/",
            {"question": "zxqv blorf quantum banana?"},
            format="json",
        )
    )
    assert (nonsense["handoff"], nonsense["reason"], nonsense["answer"], nonsense["citations"]) == (
        True,
        "no_relevant_fragment",
        "",
        [],
    )
    assert nonsense["tokens_generated"] == 0 and "generation_ms" not in nonsense["timings"]
    handed_off = _ok(api(auditor).get(f"/api/v1/answers/{nonsense['id']}/"))
    assert (handed_off["handoff"], handed_off["handoff_reason"], handed_off["chunks"]) == (
        True,
        "no_relevant_fragment",
        [],
    )
    assert audit_verify_chain().ok
