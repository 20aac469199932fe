"""Write services for AI systems."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from governance.models import AISystem
from governance.roles import User, user_or_none
from governance.services.audit import audit_record
from governance.services.common import save_unique

EDITABLE_FIELDS = (
    "name",
    "owner",
    "intended_purpose",
    "risk_class",
    "approach",
    "human_oversight",
    "evaluation_threshold",
    "status",
)


@transaction.atomic
def ai_system_create(*, actor: User, owner: Any, name: str, intended_purpose: str, **fields: Any) -> AISystem:
    """Register an AI system."""
    system = AISystem(
        name=name,
        owner=owner,
        intended_purpose=intended_purpose,
        created_by=user_or_none(actor),
        **{k: v for k, v in fields.items() if k in EDITABLE_FIELDS},
    )
    system.full_clean()
    save_unique(system)
    audit_record(actor=actor, action="ai_system.created", obj=system, payload=_facts(system))
    return system


@transaction.atomic
def ai_system_update(*, actor: User, system: AISystem, **fields: Any) -> AISystem:
    """Change an AI system's description; the audit event lists the fields changed."""
    changed = sorted(k for k, v in fields.items() if k in EDITABLE_FIELDS and getattr(system, k) != v)
    for key in changed:
        setattr(system, key, fields[key])
    if not changed:
        return system
    system.full_clean()
    save_unique(system)
    audit_record(actor=actor, action="ai_system.updated", obj=system, payload={"changed": changed})
    return system


def _facts(system: AISystem) -> dict[str, Any]:
    return {"risk_class": system.risk_class, "approach": system.approach, "status": system.status}
