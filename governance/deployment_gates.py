"""Governance's gates of a deployment (DESIGN sections 4 and 15), registered in the "deployment" scope.

Training adds the adapter's gates and retrieval the collection's (each in its own `ready()`); the
subject of every gate is the Deployment. They run when an officer approves, again when the deployment
is activated, and on every recheck (the beat, a taint, an erasure), which blocks an approved or active
deployment that no longer passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from governance import gates
from governance.choices import AISystemStatus, RiskClass
from governance.gates import Failure
from governance.models import Deployment
from governance.participants import DatasetUse, deployment_parts
from governance.selectors.registers import dpia_effective_for_dataset, dpia_effective_for_system

SCOPE = "deployment"
# Gates about the documentation run at approval only: a fact edited after approval makes a new
# documentation version for the next approval, it does not stop what runs.
APPROVAL_ONLY = frozenset({"documentation"})


# While one evaluation of every gate runs (`one_evaluation`), what several gates ask of the parts is
# read once: the datasets behind the deployment and whether it involves personal data.
_evaluation: ContextVar[dict[tuple[str, int], Any] | None] = ContextVar("deployment_gate_memo", default=None)


@contextmanager
def one_evaluation() -> Iterator[None]:
    """Share the parts' answers between the gates of one evaluation (and nothing beyond it)."""
    token = _evaluation.set({})
    try:
        yield
    finally:
        _evaluation.reset(token)


def _memo(name: str, deployment: Deployment, compute: Callable[[], Any]) -> Any:
    memo = _evaluation.get()
    if memo is None:
        return compute()
    key = (name, deployment.pk)
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def datasets_behind(deployment: Deployment) -> list[DatasetUse]:
    """Every dataset the deployed parts were built from, as the apps report them."""
    return list(
        _memo(
            "datasets",
            deployment,
            lambda: [use for part in deployment_parts() for use in part.datasets(deployment)],
        )
    )


def involves_personal_data(deployment: Deployment, uses: list[DatasetUse] | None = None) -> bool:
    """Whether any dataset behind the deployment, or any part itself, holds personal data."""
    uses = datasets_behind(deployment) if uses is None else uses
    if any(
        u.dataset.contains_personal_data or (u.version and u.version.contains_personal_data) for u in uses
    ):
        return True
    return bool(
        _memo(
            "personal", deployment, lambda: any(part.personal_data(deployment) for part in deployment_parts())
        )
    )


def risk_class(d: Deployment) -> Failure | None:
    system = d.ai_system
    if system.risk_class_decided_at is None:
        return Failure(
            "no compliance officer has recorded the AI system's risk class",
            code="risk_class_not_recorded",
        )
    if system.risk_class == RiskClass.PROHIBITED:
        return Failure(
            "the AI system is classified as a prohibited practice (AI Act Art. 5): it is never deployed",
            code="risk_class_prohibited",
            remedy="none while the classification stands; an officer who finds it wrong reclassifies it",
        )
    return None


def ai_system_retired(d: Deployment) -> Failure | None:
    if d.ai_system.status == AISystemStatus.RETIRED:
        return Failure("the AI system is retired")
    return None


def legal_basis(d: Deployment) -> Failure | None:
    lacking = sorted(
        {u.dataset.pk: u.dataset.name for u in datasets_behind(d) if not u.dataset.legal_basis}.items()
    )
    if lacking:
        names = ", ".join(name for _pk, name in lacking)
        return Failure(
            f"no GDPR Art. 6 legal basis is recorded for: {names}",
            {"datasets": [pk for pk, _name in lacking]},
        )
    return None


def dpia(d: Deployment) -> Failure | None:
    uses = datasets_behind(d)
    if not involves_personal_data(d, uses):
        return None
    if dpia_effective_for_system(d.ai_system) is None:
        return Failure(
            "personal data is involved and no approved, unexpired DPIA covers the AI system",
            code="dpia_missing",
        )
    personal = {u.dataset.pk: u.dataset for u in uses if u.dataset.contains_personal_data}
    uncovered = sorted(
        pk
        for pk, dataset in personal.items()
        if dpia_effective_for_dataset(dataset, ai_system=d.ai_system) is None
    )
    if uncovered:
        return Failure(
            "the approved DPIA of the AI system does not cover every dataset with personal data behind it",
            {"datasets": uncovered},
            code="dpia_does_not_cover_dataset",
        )
    return None


def human_oversight(d: Deployment) -> Failure | None:
    if d.ai_system.risk_class == RiskClass.HIGH and not d.ai_system.human_oversight.strip():
        return Failure("a high-risk system needs its human-oversight measures recorded (AI Act Art. 14)")
    return None


def documentation(d: Deployment) -> Failure | None:
    if d.ai_system.risk_class != RiskClass.HIGH:
        return None
    # Imported here: the documentation service renders PDFs and needs the apps loaded.
    from governance.services.documentation import documentation_current

    current = documentation_current(d)
    if current is None:
        return Failure(
            "a high-risk deployment needs Annex IV documentation generated for this exact configuration "
            "and these facts",
            code="documentation_missing",
        )
    if current.missing:
        return Failure(
            f"the Annex IV documentation (version {current.version}) lacks required facts: "
            + "; ".join(current.missing),
            {"version": current.version, "missing": current.missing},
            code="documentation_incomplete",
            remedy="an officer records the missing facts on the AI system (or its DPIA, datasets, base "
            "model), then the documentation is generated again",
        )
    return None


def register_gates() -> None:
    """Add governance's deployment gates to the registry (called from GovernanceConfig.ready)."""
    gates.register(
        SCOPE,
        "risk_class",
        risk_class,
        description="a compliance officer recorded the AI system's risk class, and it is not prohibited",
        remedy="a compliance officer records the risk class (admin, or PATCH "
        "/api/v1/ai-systems/{ai_system}/)",
    )
    gates.register(
        SCOPE,
        "ai_system_retired",
        ai_system_retired,
        description="the AI system is not retired",
        remedy="an officer moves the AI system back to draft or active",
    )
    gates.register(
        SCOPE,
        "legal_basis",
        legal_basis,
        description="every dataset behind the adapter and the collection has a GDPR Art. 6 legal basis",
        remedy="record the legal basis on each dataset listed",
    )
    gates.register(
        SCOPE,
        "dpia",
        dpia,
        description="where personal data is involved, an approved, unexpired DPIA covers the AI system "
        "and every dataset with personal data behind it",
        remedy="approve (or renew) a DPIA for the AI system that lists those datasets",
    )
    gates.register(
        SCOPE,
        "human_oversight",
        human_oversight,
        description="a high-risk system has its human-oversight measures recorded",
        remedy="record the human-oversight measures on the AI system",
    )
    gates.register(
        SCOPE,
        "documentation",
        documentation,
        description="a high-risk deployment has Annex IV documentation for this exact configuration and "
        "these facts, with no required fact missing (checked at approval; a fact changed afterwards "
        "calls for new documentation at the next approval, it does not stop what runs)",
        remedy="generate the documentation (POST /api/v1/deployments/{deployment}/documentation/) after "
        "recording every missing fact",
    )
