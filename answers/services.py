"""Answering with an active deployment, and what follows from an answer: feedback and the retrain signal.

The answer path: check the deployment and the question, retrieve from the deployment's collection
(with its threshold), hand off when nothing relevant was found and the deployment requires grounding,
else fill the deployment's prompt template, generate with its base model and adapter, and record
what produced the answer (answers/models.py AnswerRecord) with the texts masked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from answers import backends, prompting, ratelimit
from answers.backends import local
from answers.models import AnswerRecord, PromptTemplate
from governance import pii
from governance.choices import DatasetVersionStatus, DeploymentStatus
from governance.errors import Conflict, DomainError, ValidationFailed
from governance.models import DatasetVersion, Deployment
from governance.policy import REVIEW, WRITE, require
from governance.roles import User, user_or_none
from governance.services.audit import audit_record
from governance.suppression import suppressed

RESOURCE = "answer"
DEFAULT_K = 5
MAX_K = 20


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"


@dataclass(frozen=True)
class Answer:
    """What the caller gets: the answer (or a hand-off), the citations and the time per stage."""

    record: AnswerRecord
    answer: str
    citations: list[dict[str, Any]]


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def _int_in(name: str, value: Any, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(
            f"{name} must be an integer from {low} to {high}", code=f"invalid_{name}", details={"field": name}
        )
    return value


def _check_question(question: Any) -> str:
    if not isinstance(question, str) or not question.strip():
        raise ValidationFailed(
            "the question must not be empty", code="empty_question", details={"field": "question"}
        )
    if len(question) > settings.ANSWER_MAX_QUESTION_CHARS:
        raise ValidationFailed(
            f"the question is longer than {settings.ANSWER_MAX_QUESTION_CHARS} characters",
            code="question_too_long",
            details={"field": "question", "max": settings.ANSWER_MAX_QUESTION_CHARS},
        )
    if "\x00" in question:
        raise ValidationFailed("the question contains a NUL character", code="invalid_question")
    return question


def current_template(deployment: Deployment) -> tuple[int, str]:
    """(version, text): the newest saved version, or the built-in template as version 0."""
    latest = PromptTemplate.objects.filter(deployment=deployment).order_by("-version").first()
    return (latest.version, latest.text) if latest else (0, prompting.DEFAULT_TEMPLATE)


def _require_active(deployment: Deployment) -> None:
    if deployment.status != DeploymentStatus.ACTIVE:
        details: dict[str, Any] = {"status": deployment.status}
        if deployment.status == DeploymentStatus.BLOCKED:
            # Gate reports carry `message`; reasons written by hand elsewhere carry `reason`.
            details["blocked_reasons"] = [
                {
                    "code": r.get("code") or r.get("gate"),
                    "message": r.get("message") or r.get("reason") or "",
                    "remedy": r.get("remedy", ""),
                }
                for r in deployment.blocked_reasons or []
            ]
        raise Conflict(
            f"deployment #{deployment.pk} is {deployment.status}, not active: "
            "only an active deployment answers",
            code="deployment_not_active",
            details=details,
        )


def deployment_answer(
    *,
    actor: User,
    deployment: Deployment,
    question: Any,
    k: Any = None,
    max_new_tokens: Any = None,
) -> Answer:
    """Answer one question with an active deployment, or hand it off; record what produced it."""
    started = time.perf_counter()
    require(actor, RESOURCE, WRITE)
    _require_active(deployment)
    question = _check_question(question)
    k = _int_in("k", k, DEFAULT_K, 1, MAX_K)
    max_new_tokens = _int_in(
        "max_new_tokens",
        max_new_tokens,
        settings.ANSWER_DEFAULT_NEW_TOKENS,
        1,
        settings.ANSWER_MAX_NEW_TOKENS,
    )
    limit = deployment.base_model.max_sequence_length
    if max_new_tokens >= limit:
        # Refused before anything is retrieved, logged or counted: no prompt fits beside it.
        raise ValidationFailed(
            f"max_new_tokens={max_new_tokens} leaves no room for the prompt in the model's context of "
            f"{limit} tokens",
            code="max_new_tokens_too_large",
            details={"field": "max_new_tokens", "context": limit},
        )
    if actor is not None:  # counted before any work, so a throttled caller costs nothing more
        allowed_now, retry_after = ratelimit.hit(actor.pk)
        if not allowed_now:
            raise RateLimited(
                f"more than {settings.ANSWER_RATE_PER_MINUTE} answers a minute; try again in {retry_after} s",
                details={"retry_after_s": retry_after},
            )
    scan = pii.scan_text(question)
    keys = scan.subject_keys()
    if suppressed(keys):
        raise Conflict(
            "the question names a person whose data was erased; it is not answered",
            code="suppressed_subject",
        )
    timings: dict[str, float] = {}

    fragments: list[dict[str, Any]] = []
    collection = deployment.collection
    min_score = None
    if collection is not None:
        from retrieval.services.search import collection_retrieve

        # No query log row: this answer's record is the Art. 12 record of the retrieval too.
        step = time.perf_counter()
        fragments = collection_retrieve(actor=actor, collection=collection, query=question, k=k)
        min_score = collection.min_score
        timings["retrieval_ms"] = _ms(step)

    base = {
        "deployment": deployment,
        "user": user_or_none(actor),
        "base_model_id": deployment.base_model_id,
        "adapter_version_id": deployment.adapter_version_id,
        "collection_id": deployment.collection_id,
        "documentation_version": deployment.documentation.version if deployment.documentation else None,
        "backend": deployment.answer_backend,
        "k": k,
        "min_score": min_score,
        "question_masked": pii.mask_text(question, scan),
        "pii_summary": scan.summary(),
        "chunks": [
            {"chunk_id": f["chunk_id"], "document_id": f["citation"]["document_id"], "score": f["score"]}
            for f in fragments
        ],
    }
    version, template = current_template(deployment)
    base["prompt_template_version"] = version
    base["prompt_template_sha256"] = prompting.sha256(template)

    if collection is not None and deployment.requires_grounding and not fragments:
        timings["total_ms"] = _ms(started)
        record = AnswerRecord.objects.create(
            **base, subject_keys=keys, handoff=True, handoff_reason="no_relevant_fragment", timings=timings
        )
        return Answer(record=record, answer="", citations=[])

    step = time.perf_counter()
    messages = [{"role": "user", "content": prompting.fill(template, question=question, fragments=fragments)}]
    prompt_tokens = len(local.prompt_ids(deployment.base_model, messages))
    if prompt_tokens + max_new_tokens > limit:
        raise ValidationFailed(
            f"the prompt takes {prompt_tokens} tokens; with max_new_tokens={max_new_tokens} it exceeds the "
            f"model's context of {limit} tokens",
            code="max_new_tokens_too_large",
            details={"field": "max_new_tokens", "prompt_tokens": prompt_tokens, "context": limit},
        )
    timings["prompt_ms"] = _ms(step)

    step = time.perf_counter()
    generation = backends.generate(deployment, messages, max_new_tokens=max_new_tokens)
    timings["generation_ms"] = _ms(step)

    step = time.perf_counter()
    answer_scan = pii.scan_text(generation.text) if generation.text else None
    answer_masked = pii.mask_text(generation.text, answer_scan) if answer_scan else ""
    all_keys = sorted(set(keys) | set(answer_scan.subject_keys() if answer_scan else []))
    summary = dict(base.pop("pii_summary"))
    for entity, n in (answer_scan.summary() if answer_scan else {}).items():
        summary[entity] = summary.get(entity, 0) + n
    record = AnswerRecord(
        **base,
        pii_summary=summary,
        answer_masked=answer_masked,
        subject_keys=all_keys,
        tokens_generated=generation.tokens,
        timings=timings,
    )
    timings["record_ms"] = _ms(step)
    timings["total_ms"] = _ms(started)
    record.save()
    citations = [
        {
            "number": n,
            "chunk_id": f["chunk_id"],
            "score": f["score"],
            "text": f["text"],
            "citation": f["citation"],
        }
        for n, f in enumerate(fragments, start=1)
    ]
    return Answer(record=record, answer=generation.text, citations=citations)


@transaction.atomic
def prompt_template_create(
    *, actor: User, deployment: Deployment, text: Any, note: str = ""
) -> PromptTemplate:
    """A new version of the deployment's prompt template; the placeholders are checked first."""
    require(actor, RESOURCE, WRITE)
    text = prompting.validate_template(text)
    Deployment.objects.select_for_update().filter(pk=deployment.pk).first()
    latest = PromptTemplate.objects.filter(deployment=deployment).aggregate(v=Max("version"))["v"] or 0
    template = PromptTemplate.objects.create(
        deployment=deployment,
        version=latest + 1,
        text=text,
        sha256=prompting.sha256(text),
        note=note[:500],
        created_by=user_or_none(actor),
    )
    audit_record(
        actor=actor,
        action="prompt_template.created",
        obj=deployment,
        payload={"version": template.version, "sha256": template.sha256},
    )
    return template


@transaction.atomic
def answer_feedback(*, actor: User, record: AnswerRecord, rating: Any, correction: Any = "") -> AnswerRecord:
    """A rating (-1 wrong, 0 neutral, 1 right) and an optional correction, masked like the answer."""
    require(actor, RESOURCE, WRITE)
    if isinstance(rating, bool) or rating not in (-1, 0, 1):
        raise ValidationFailed(
            "rating must be -1, 0 or 1", code="invalid_rating", details={"field": "rating"}
        )
    if not isinstance(correction, str) or len(correction) > settings.ANSWER_MAX_QUESTION_CHARS * 4:
        raise ValidationFailed(
            f"the correction must be text of at most {settings.ANSWER_MAX_QUESTION_CHARS * 4} characters",
            code="invalid_correction",
            details={"field": "correction"},
        )
    masked, keys = "", []
    if correction.strip():
        scan = pii.scan_text(correction)
        masked, keys = pii.mask_text(correction, scan), scan.subject_keys()
        if suppressed(keys):
            # Like a question: the register takes in nothing more about a person whose data was erased.
            raise Conflict(
                "the correction names a person whose data was erased; it is not stored",
                code="suppressed_subject",
                details={"field": "correction"},
            )
    record = AnswerRecord.objects.select_for_update().get(pk=record.pk)
    record.feedback_rating = rating
    record.feedback_correction_masked = masked
    record.subject_keys = sorted(set(record.subject_keys) | set(keys))
    record.feedback_at = timezone.now()
    record.feedback_by = user_or_none(actor)
    record.save(
        update_fields=[
            "feedback_rating",
            "feedback_correction_masked",
            "subject_keys",
            "feedback_at",
            "feedback_by",
        ]
    )
    audit_record(
        actor=actor,
        action="answer.feedback",
        object_type="answers.answerrecord",
        object_id=str(record.pk),
        payload={"rating": rating, "correction": bool(masked), "deployment": record.deployment_id},
    )
    return record


# --- The retraining signal -----------------------------------------------------------------------


def retraining_signal(deployment: Deployment) -> dict[str, Any]:
    """Over the deployment's latest answers: how many were handed off or rated wrong, and whether too many.

    The window and the threshold are the AI system's (`retrain_signal_window`, `retrain_signal_threshold`);
    the signal is raised only once `ANSWER_SIGNAL_MIN_ANSWERS` answers (or the whole window) exist.
    """
    system = deployment.ai_system
    window = system.retrain_signal_window
    latest = list(
        AnswerRecord.objects.filter(deployment=deployment)
        .order_by("-created_at", "-id")
        .values_list("handoff", "feedback_rating")[:window]
    )
    answered = len(latest)
    handoffs = sum(1 for handoff, _ in latest if handoff)
    negative = sum(1 for _, rating in latest if rating == -1)
    weak = sum(1 for handoff, rating in latest if handoff or rating == -1)
    share = weak / answered if answered else 0.0  # an answer handed off and rated wrong counts once
    enough = answered >= min(window, settings.ANSWER_SIGNAL_MIN_ANSWERS)
    return {
        "deployment": deployment.pk,
        "window": window,
        "answers": answered,
        "handoffs": handoffs,
        "negative_feedback": negative,
        "weak": weak,
        "share": round(share, 4),
        "threshold": system.retrain_signal_threshold,
        "flagged": bool(enough and share > system.retrain_signal_threshold),
    }


def flagged_deployments() -> list[tuple[Deployment, dict[str, Any]]]:
    """Active deployments whose signal is up (the dashboard card)."""
    out = []
    for deployment in Deployment.objects.filter(status=DeploymentStatus.ACTIVE).select_related("ai_system"):
        signal = retraining_signal(deployment)
        if signal["flagged"]:
            out.append((deployment, signal))
    return out


def newest_version_for_retrain(deployment: Deployment) -> DatasetVersion:
    adapter = deployment.adapter_version
    if adapter is None:
        raise Conflict(
            "the deployment has no adapter to retrain",
            code="no_adapter",
            details={"deployment": deployment.pk},
        )
    newest = (
        DatasetVersion.objects.filter(
            dataset_id=adapter.dataset_version.dataset_id, status=DatasetVersionStatus.READY
        )
        .order_by("-number")
        .first()
    )
    if newest is None:
        raise Conflict("the adapter's dataset has no ready version", code="no_ready_version")
    return newest


RETRAINABLE = (DeploymentStatus.ACTIVE, DeploymentStatus.BLOCKED)


def _retrain_key(deployment: Deployment, version: DatasetVersion) -> str:
    return f"retrain-signal-deployment-{deployment.pk}-version-{version.pk}"


def deployment_retrain(*, actor: User, deployment: Deployment) -> tuple[Any, bool]:
    """Queue a fine-tune job on the newest ready version of the adapter's dataset, through the gates.

    (job, created). One job per deployment and dataset version, whoever asks: a second press, by the
    same officer or another, returns the job already queued, running or done. Only a failed or
    cancelled one is tried again, under a new idempotency key.
    """
    from training.choices import JobStatus
    from training.models import FineTuneJob
    from training.services import jobs

    require(actor, RESOURCE, REVIEW)
    if deployment.status not in RETRAINABLE:
        raise Conflict(
            f"deployment #{deployment.pk} is {deployment.status}: only an active or blocked deployment "
            "is retrained",
            code="deployment_not_retrainable",
            details={"status": deployment.status},
        )
    newest = newest_version_for_retrain(deployment)
    adapter = deployment.adapter_version
    assert adapter is not None
    key = _retrain_key(deployment, newest)
    signal = retraining_signal(deployment)
    refused: DomainError | None = None
    with transaction.atomic():
        # Two officers at once: the second waits here, then finds the first one's job.
        Deployment.objects.select_for_update().filter(pk=deployment.pk).first()
        earlier = FineTuneJob.objects.filter(
            Q(idempotency_key=key) | Q(idempotency_key__startswith=f"{key}-try-")
        )
        live = earlier.exclude(status__in=[JobStatus.FAILED, JobStatus.CANCELLED]).order_by("pk").first()
        if live is not None:
            return live, False
        tries = earlier.count()
        try:
            job, created = jobs.fine_tune_job_create(
                actor=actor,
                ai_system=deployment.ai_system,
                base_model=adapter.base_model,
                dataset_version=newest,
                hyperparameters=adapter.job.hyperparameters,
                seed=adapter.job.seed,
                idempotency_key=f"{key}-try-{tries + 1}" if tries else key,
            )
        except DomainError as exc:
            refused = exc  # raised after the block, so the gates' refusal event is kept
        else:
            if created:
                audit_record(
                    actor=actor,
                    action="deployment.retrain_queued",
                    obj=deployment,
                    payload={"job": job.pk, "dataset_version": newest.pk, "signal": signal},
                )
    if refused is not None:
        raise refused
    return job, created


def answers_for(actor: User) -> Any:
    """The answer register (officers and auditors)."""
    return AnswerRecord.objects.select_related("deployment", "user").order_by("-created_at", "-id")
