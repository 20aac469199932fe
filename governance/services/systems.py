"""Write services for AI systems."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from governance.errors import NotPermitted
from governance.models import AISystem
from governance.policy import REVIEW, WRITE, allowed, require
from governance.roles import User, user_or_none
from governance.services.audit import audit_record
from governance.services.common import save_unique
from governance.services.deployments import deployments_recheck

EDITABLE_FIELDS = (
    "name",
    "owner",
    "intended_purpose",
    "risk_class",
    "approach",
    "human_oversight",
    "evaluation_threshold",
    "status",
    "retrain_on_erasure",
    "retrain_signal_threshold",
    "retrain_signal_window",
)
# A compliance officer's decisions: each change goes through its own service with its own audit event.
OFFICER_FIELDS = ("risk_class", "status")
# Facts of the Annex IV documentation and the Art. 30 record only officers edit: what the platform
# certifies about the system is theirs to state.
DOCUMENTATION_FIELDS = (
    "provider",
    "system_version",
    "hardware",
    "instructions_for_use",
    "metrics_rationale",
    "standards_applied",
    "declaration_status",
    "declaration_reference",
    "monitoring_plan",
    "recipients",
)


@transaction.atomic
def ai_system_create(*, actor: User, owner: Any, name: str, intended_purpose: str, **fields: Any) -> AISystem:
    """Register an AI system."""
    documentation = {k: v for k, v in fields.items() if k in DOCUMENTATION_FIELDS and v != ""}
    if documentation:
        _require_officer(actor, sorted(documentation))
    system = AISystem(
        name=name,
        owner=owner,
        intended_purpose=intended_purpose,
        created_by=user_or_none(actor),
        **{k: v for k, v in fields.items() if k in EDITABLE_FIELDS or k in DOCUMENTATION_FIELDS},
    )
    if allowed(actor, "ai_system", REVIEW):
        # An officer who registers a system classifies it, whether or not they changed the default.
        system.risk_class_decided_by, system.risk_class_decided_at = user_or_none(actor), timezone.now()
    system.full_clean()
    save_unique(system)
    audit_record(actor=actor, action="ai_system.created", obj=system, payload=_facts(system))
    return system


@transaction.atomic
def ai_system_update(*, actor: User, system: AISystem, **fields: Any) -> AISystem:
    """Change an AI system's description; risk class and status go to the officer-only services below.

    A non-officer who sends a new risk class or status is refused (403) before anything changes; an
    unchanged value is ignored, so a client may send back the whole object it read.
    """
    require(actor, "ai_system", WRITE)
    system = AISystem.objects.select_for_update().get(pk=system.pk)
    decisions = {k: fields[k] for k in OFFICER_FIELDS if k in fields and getattr(system, k) != fields[k]}
    if decisions and not allowed(actor, "ai_system", REVIEW):
        raise NotPermitted(
            "only a compliance officer changes an AI system's risk class or status",
            code="forbidden",
            details={"fields": sorted(decisions)},
        )
    # An officer who sends the class it already has confirms it: that records the classification.
    if (
        "risk_class" in fields
        and system.risk_class_decided_at is None
        and allowed(actor, "ai_system", REVIEW)
    ):
        decisions["risk_class"] = fields["risk_class"]
    documentation = sorted(k for k in DOCUMENTATION_FIELDS if k in fields and getattr(system, k) != fields[k])
    if documentation:
        _require_officer(actor, documentation)
    changed = sorted(
        k
        for k, v in fields.items()
        if (k in EDITABLE_FIELDS or k in DOCUMENTATION_FIELDS)
        and k not in OFFICER_FIELDS
        and getattr(system, k) != v
    )
    if changed:
        for key in changed:
            setattr(system, key, fields[key])
        system.full_clean()
        save_unique(system)
        audit_record(actor=actor, action="ai_system.updated", obj=system, payload={"changed": changed})
    if "risk_class" in decisions:
        system = ai_system_set_risk_class(actor=actor, system=system, risk_class=decisions["risk_class"])
    if "status" in decisions:
        system = ai_system_set_status(actor=actor, system=system, status=decisions["status"])
    return system


@transaction.atomic
def ai_system_set_risk_class(*, actor: User, system: AISystem, risk_class: str) -> AISystem:
    """Classify an AI system (compliance officer); the audit event names the old and new class."""
    return _decide(actor=actor, system=system, field="risk_class", value=risk_class)


@transaction.atomic
def ai_system_set_status(*, actor: User, system: AISystem, status: str) -> AISystem:
    """Move an AI system to a status (compliance officer); the audit event names the old and new one."""
    return _decide(actor=actor, system=system, field="status", value=status)


def _decide(*, actor: User, system: AISystem, field: str, value: str) -> AISystem:
    require(actor, "ai_system", REVIEW)
    # The row lock makes two officers' concurrent decisions queue, so each event's "old" is the truth.
    system = AISystem.objects.select_for_update().get(pk=system.pk)
    old = getattr(system, field)
    first_classification = field == "risk_class" and system.risk_class_decided_at is None
    if old == value and not first_classification:
        return system
    setattr(system, field, value)
    update = [field]
    if field == "risk_class":
        system.risk_class_decided_by, system.risk_class_decided_at = user_or_none(actor), timezone.now()
        update += ["risk_class_decided_by", "risk_class_decided_at"]
    system.full_clean()
    system.save(update_fields=update)
    audit_record(
        actor=actor,
        action=f"ai_system.{field}_changed",
        obj=system,
        payload={"field": field, "old": old, "new": value},
    )
    # A system reclassified as prohibited, or retired, stops what is deployed of it at once.
    deployments_recheck(trigger=f"AI system {system.pk} {field} changed", ai_system_ids=[system.pk])
    return system


def _require_officer(actor: User, fields: list[str]) -> None:
    if not allowed(actor, "ai_system", REVIEW):
        raise NotPermitted(
            "only a compliance officer states an AI system's documentation facts",
            code="forbidden",
            details={"fields": fields},
        )


def _facts(system: AISystem) -> dict[str, Any]:
    return {"risk_class": system.risk_class, "approach": system.approach, "status": system.status}
