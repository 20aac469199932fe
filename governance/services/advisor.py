"""Record the use-case advisor's assessment on an AI system (DESIGN section 10)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from governance import advisor
from governance.models import AISystem
from governance.policy import WRITE, require
from governance.roles import User
from governance.services.audit import audit_record


@transaction.atomic
def ai_system_advisor_record(
    *, actor: User, system: AISystem, answers: dict[str, Any], assumptions: dict[str, Any] | None = None
) -> AISystem:
    """Assess the answers (and assumption overrides), store the assessment on the system, audit it.

    The recommendation is advice: the system's `approach` stays what its owner chose, so the Annex IV
    document can show both and a reader can see where they differ.
    """
    require(actor, "ai_system", WRITE)
    assessment = advisor.assess_data(answers, assumptions).as_json()
    # The row lock makes two concurrent recordings queue, so the stored assessment is the last audited.
    system = AISystem.objects.select_for_update().get(pk=system.pk)
    assessment["recorded_by"] = _name(actor)
    assessment["recorded_at"] = timezone.now().isoformat()
    system.advisor_assessment = assessment
    system.save(update_fields=["advisor_assessment"])
    audit_record(
        actor=actor,
        action="ai_system.advisor_recorded",
        obj=system,
        payload={
            "version": assessment["version"],
            "recommendation": assessment["recommendation"],
            "rules": [rule["id"] for rule in assessment["rules_fired"]],
            "approach": system.approach,
        },
    )
    return system


def _name(actor: User) -> str:
    return str(actor.get_username()) if actor is not None and actor.is_authenticated else "system"
