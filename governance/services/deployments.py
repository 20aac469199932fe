"""Deployments: request, approve (four eyes, every gate), activate, retire, and block on a recheck.

requested -> approved -> active -> retired; approved or active -> blocked when a gate stops holding.
A blocked deployment is unblocked by fixing what its reasons name and approving it again (an officer
who is not the requester, every gate passing); it is then activated like any approved one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from governance import gates
from governance.choices import AnswerBackend, DeploymentStatus, RiskClass
from governance.deployment_gates import APPROVAL_ONLY, SCOPE, one_evaluation
from governance.errors import Conflict, NotPermitted, ValidationFailed
from governance.models import AISystem, Deployment
from governance.participants import deployment_parts
from governance.policy import REVIEW, WRITE, require
from governance.roles import User, user_or_none
from governance.services.audit import audit_record

# Statuses whose gates the recheck keeps watching.
WATCHED = (DeploymentStatus.APPROVED, DeploymentStatus.ACTIVE)


def gate_report(deployment: Deployment, *, skip: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Every registered gate's result for the deployment: code, status, message, what it checks, remedy."""
    registered = [g for g in gates.registered(SCOPE) if g.code not in skip]
    out: list[dict[str, Any]] = []
    ids = {"deployment": deployment.pk, "ai_system": deployment.ai_system_id}
    with one_evaluation():
        checked = [(gate, gate.check(deployment)) for gate in registered]
    for gate, failure in checked:
        entry: dict[str, Any] = {
            "gate": gate.code,
            "status": gates.PASSED if failure is None else gates.FAILED,
            "code": gate.code if failure is None else (failure.code or gate.code),
            "checks": gate.description,
            "message": "" if failure is None else failure.reason,
        }
        if failure is not None:
            # Remedies may name the deployment's or its system's id: {deployment}, {ai_system}.
            entry["remedy"] = (failure.remedy or gate.remedy).format_map(ids)
            if failure.details:
                entry["details"] = failure.details
        out.append(entry)
    return out


def failed_gates(report: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in report if entry["status"] == gates.FAILED]


@transaction.atomic
def deployment_request(
    *,
    actor: User,
    ai_system: AISystem,
    base_model: Any,
    environment: str,
    adapter_version: Any = None,
    collection: Any = None,
    notes: str = "",
    answer_backend: str = AnswerBackend.LOCAL,
    inference_url: str = "",
    inference_model: str = "",
    requires_grounding: bool = True,
) -> Deployment:
    """Ask for a configuration to be deployed; the gates are shown, not enforced, until approval."""
    require(actor, "deployment", WRITE)
    if answer_backend == AnswerBackend.OPENAI_COMPATIBLE and not inference_url:
        raise ValidationFailed(
            "an openai_compatible deployment needs the inference server's URL",
            code="inference_url_required",
            details={"field": "inference_url"},
        )
    if inference_url:
        check_inference_url(inference_url)
    deployment = Deployment(
        ai_system=ai_system,
        base_model=base_model,
        adapter_version=adapter_version,
        collection=collection,
        environment=environment,
        notes=notes,
        answer_backend=answer_backend,
        inference_url=inference_url,
        inference_model=inference_model,
        requires_grounding=requires_grounding,
        requested_by=actor,
        created_by=user_or_none(actor),
    )
    for part in deployment_parts():
        part.validate(deployment)
    deployment.full_clean()
    deployment.save()
    audit_record(
        actor=actor,
        action="deployment.requested",
        obj=deployment,
        payload={"configuration": configuration(deployment)},
    )
    return deployment


def check_inference_url(url: str) -> str:
    """An http(s) base URL with a host (a compose service name like `vllm` is fine), no credentials.

    Credentials in the URL would reach the audit chain and logs; a query or fragment has no meaning
    for a base URL the API paths are appended to.
    """
    parsed = urlsplit(url)
    if (
        parsed.scheme not in ("http", "https")
        or not parsed.hostname
        or parsed.username
        or parsed.password
        or parsed.query
        or parsed.fragment
        or any(c.isspace() for c in url)
    ):
        raise ValidationFailed(
            "inference_url must be an http(s) base URL with a host and no credentials, e.g. http://vllm:8000",
            code="invalid_inference_url",
            details={"field": "inference_url"},
        )
    try:
        parsed.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise ValidationFailed(
            "inference_url has an invalid port",
            code="invalid_inference_url",
            details={"field": "inference_url"},
        ) from None
    return url


def configuration(deployment: Deployment) -> dict[str, Any]:
    """What is deployed, by id: the audit events and the API name it the same way."""
    return {
        "ai_system": deployment.ai_system_id,
        "environment": deployment.environment,
        "base_model": deployment.base_model_id,
        "adapter_version": deployment.adapter_version_id,
        "collection": deployment.collection_id,
    }


def deployment_approve(*, actor: User, deployment: Deployment) -> Deployment:
    """requested or blocked -> approved, by a compliance officer who is not the requester.

    Every gate must pass (409 `gates_failed` lists each failure). The documentation current for the
    deployment's facts is frozen with the approval: for a high-risk system it must exist beforehand
    (a gate says so); for the others approval generates it when it does not exist yet.
    """
    require(actor, "deployment", REVIEW)
    _refuse_unapprovable(actor, deployment)
    if deployment.status == DeploymentStatus.APPROVED:
        return deployment
    # Refused before anything is rendered; the gates run again under the row lock below.
    _raise_failures(failed_gates(gate_report(deployment)))
    if deployment.ai_system.risk_class != RiskClass.HIGH:
        from governance.services.documentation import documentation_generate

        # Rendering takes a second: it runs before the row lock, in its own transaction.
        documentation_generate(actor=actor, deployment=deployment)
    return _approve(actor=actor, pk=deployment.pk)


def _raise_failures(failures: list[dict[str, Any]]) -> None:
    if failures:
        raise Conflict(
            f"{len(failures)} gate(s) fail: " + "; ".join(f["message"] for f in failures),
            code="gates_failed",
            details=failures,
        )


def _refuse_unapprovable(actor: User, deployment: Deployment) -> None:
    if deployment.status == DeploymentStatus.APPROVED:
        # The approver repeating it changes nothing; a second officer is told it was already done.
        if deployment.approved_by_id != getattr(actor, "pk", None):
            raise Conflict(
                f"the deployment was already approved at {deployment.approved_at:%Y-%m-%d %H:%M} UTC",
                code="already_approved",
            )
        return
    if deployment.status not in (DeploymentStatus.REQUESTED, DeploymentStatus.BLOCKED):
        raise Conflict(
            f"a deployment in status '{deployment.status}' cannot be approved", code="illegal_transition"
        )
    if user_or_none(actor) is not None and deployment.requested_by_id == actor.pk:
        raise NotPermitted(
            "four eyes: the person who requested a deployment does not approve it",
            code="requester_cannot_approve",
        )


@transaction.atomic
def _approve(*, actor: User, pk: int) -> Deployment:
    from governance.services.documentation import documentation_current

    deployment = _lock(pk)
    if deployment.status == DeploymentStatus.APPROVED:
        return deployment
    _refuse_unapprovable(actor, deployment)
    report = gate_report(deployment)
    _raise_failures(failed_gates(report))
    documentation = documentation_current(deployment)
    if documentation is None:
        # The facts changed between generating the documentation and taking the lock.
        raise Conflict(
            "the deployment's facts changed while it was being approved; approve it again",
            code="documentation_outdated",
        )
    previous = deployment.status
    deployment.status = DeploymentStatus.APPROVED
    deployment.approved_by, deployment.approved_at = actor, timezone.now()
    deployment.gate_results, deployment.documentation = report, documentation
    deployment.blocked_reasons, deployment.blocked_at, deployment.blocked_from = [], None, ""
    deployment.save()
    audit_record(
        actor=actor,
        action="deployment.approved",
        obj=deployment,
        payload={
            "previous_status": previous,
            "gates": [entry["gate"] for entry in report],
            "documentation_version": documentation.version,
            "documentation_facts_sha256": documentation.facts_sha256,
            "documentation_pdf_sha256": documentation.pdf_sha256,
        },
    )
    return deployment


def deployment_activate(*, actor: User, deployment: Deployment) -> Deployment:
    """approved -> active; the system's active deployment in that environment retires in the same step.

    The gates run again: one that no longer passes blocks the deployment (kept) and the answer is 409
    `gates_failed`.
    """
    require(actor, "deployment", WRITE)
    activated, failures = _activate(actor=actor, pk=deployment.pk)
    if failures:
        raise Conflict(
            "the deployment was blocked: " + "; ".join(f["message"] for f in failures),
            code="gates_failed",
            details=failures,
        )
    return activated


@transaction.atomic
def _activate(*, actor: User, pk: int) -> tuple[Deployment, list[dict[str, Any]]]:
    deployment = Deployment.objects.select_related("ai_system").get(pk=pk)
    # The AI system's row lock queues concurrent activations for one system: each sees the active
    # deployment the previous one left, and retires it. The partial unique index backs this up.
    AISystem.objects.select_for_update().filter(pk=deployment.ai_system_id).first()
    deployment = _lock(pk)
    if deployment.status == DeploymentStatus.ACTIVE:
        return deployment, []
    if deployment.status == DeploymentStatus.BLOCKED:
        raise Conflict(
            "a blocked deployment is not activated; fix what blocks it and have it approved again",
            code="deployment_blocked",
            details=deployment.blocked_reasons,
        )
    if deployment.status != DeploymentStatus.APPROVED:
        hint = (
            " (request it again)" if deployment.status == DeploymentStatus.RETIRED else " (approve it first)"
        )
        raise Conflict(
            f"a deployment in status '{deployment.status}' cannot be activated{hint}",
            code="illegal_transition",
        )
    failures = failed_gates(gate_report(deployment, skip=APPROVAL_ONLY))
    if failures:
        _block(deployment, failures, actor=actor, trigger="activation")
        return deployment, failures
    for old in Deployment.objects.select_for_update().filter(
        ai_system_id=deployment.ai_system_id,
        environment=deployment.environment,
        status=DeploymentStatus.ACTIVE,
    ):
        _retire(old, actor=actor, reason=f"replaced by deployment {deployment.pk}")
    deployment.status, deployment.activated_at = DeploymentStatus.ACTIVE, timezone.now()
    try:
        with transaction.atomic():
            deployment.save(update_fields=["status", "activated_at"])
    except IntegrityError:
        raise Conflict(
            "another deployment of this AI system became active in this environment at the same moment",
            code="another_deployment_active",
        ) from None
    audit_record(
        actor=actor,
        action="deployment.activated",
        obj=deployment,
        payload={"configuration": configuration(deployment)},
    )
    return deployment, []


@transaction.atomic
def deployment_retire(*, actor: User, deployment: Deployment, reason: str = "") -> Deployment:
    """Any status -> retired (a repeat is ignored); an active deployment stops being served."""
    require(actor, "deployment", WRITE)
    deployment = _lock(deployment.pk)
    if deployment.status != DeploymentStatus.RETIRED:
        _retire(deployment, actor=actor, reason=reason.strip() or "retired")
    return deployment


def _retire(deployment: Deployment, *, actor: User, reason: str) -> None:
    previous = deployment.status
    deployment.status, deployment.retired_at, deployment.retired_reason = (
        DeploymentStatus.RETIRED,
        timezone.now(),
        reason,
    )
    deployment.save(update_fields=["status", "retired_at", "retired_reason"])
    audit_record(
        actor=actor,
        action="deployment.retired",
        obj=deployment,
        payload={"previous_status": previous, "reason": reason},
    )


def deployments_recheck(*, trigger: str, ai_system_ids: list[int] | None = None) -> list[int]:
    """Run the gates of every approved or active deployment again; block each that fails. The ids blocked.

    Called by the beat (DEPLOYMENT_RECHECK_S), by the adapter and base-model taint services and by an
    erasure request's logical phase. Inside a caller's transaction each deployment is a savepoint.
    """
    watched = Deployment.objects.filter(status__in=WATCHED).order_by("pk")
    if ai_system_ids is not None:
        watched = watched.filter(ai_system_id__in=ai_system_ids)
    return [pk for pk in watched.values_list("pk", flat=True) if _recheck_one(pk, trigger=trigger)]


@transaction.atomic
def _recheck_one(pk: int, *, trigger: str) -> bool:
    deployment = _lock(pk)
    if deployment.status not in WATCHED:
        return False
    failures = failed_gates(gate_report(deployment, skip=APPROVAL_ONLY))
    if failures:
        _block(deployment, failures, actor=None, trigger=trigger)
    return bool(failures)


def _block(deployment: Deployment, failures: list[dict[str, Any]], *, actor: User, trigger: str) -> None:
    previous = deployment.status
    deployment.status, deployment.blocked_from = DeploymentStatus.BLOCKED, previous
    deployment.blocked_at, deployment.blocked_reasons = timezone.now(), failures
    deployment.save(update_fields=["status", "blocked_from", "blocked_at", "blocked_reasons"])
    audit_record(
        actor=actor,
        action="deployment.blocked",
        obj=deployment,
        payload={"previous_status": previous, "gates": [f["code"] for f in failures], "trigger": trigger},
    )


def _lock(pk: int) -> Deployment:
    return Deployment.objects.select_for_update(of=("self",)).select_related("ai_system").get(pk=pk)
