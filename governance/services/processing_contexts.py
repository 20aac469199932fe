"""The Art. 15(1) facts of the registers a subject's items sit in, for the participants' `export`.

Each participant's export names the registers its items come from (a dataset, a collection, a
deployment) with one context each: purpose, legal basis, retention, recipients and source, read from
the governance registers. The keys are fixed (CONTEXT_KEYS) so the letter and the JSON of an access
request print every register the same way, whichever store it came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from governance.models import AISystem, Dataset, Deployment

CONTEXT_KEYS = (
    "register",
    "id",
    "name",
    "ai_system",
    "purpose",
    "legal_basis",
    "retention",
    "recipients",
    "source",
)
RETENTION_NOT_SET = "not set"


def _context(
    *,
    register: str,
    pk: int,
    name: str,
    ai_system: str | None,
    purpose: str,
    legal_basis: str = "",
    retention: str = RETENTION_NOT_SET,
    recipients: str = "",
    source: str = "",
) -> dict[str, Any]:
    return {
        "register": register,
        "id": int(pk),
        "name": name,
        "ai_system": ai_system,
        "purpose": purpose,
        "legal_basis": legal_basis,
        "retention": retention,
        "recipients": recipients,
        "source": source,
    }


def dataset_context(dataset: Dataset) -> dict[str, Any]:
    """A dataset: its purpose with its AI systems' intended purposes, legal basis, retention date."""
    systems = sorted(dataset.ai_systems.all(), key=lambda system: system.name)
    purposes = [str(dataset.get_purpose_display())]
    purposes += [f"{system.name}: {system.intended_purpose}" for system in systems]
    return _context(
        register="dataset",
        pk=dataset.pk,
        name=dataset.name,
        ai_system=", ".join(system.name for system in systems) or None,
        purpose="; ".join(purposes),
        # The empty choice's label says "Not recorded"; the contract is an empty string.
        legal_basis=str(dataset.get_legal_basis_display()) if dataset.legal_basis else "",
        retention=dataset.retention_until.isoformat() if dataset.retention_until else RETENTION_NOT_SET,
        recipients="; ".join(system.recipients for system in systems if system.recipients),
        source=dataset.provenance,
    )


def system_context(
    *,
    register: str,
    pk: int,
    name: str,
    system: AISystem,
    source: str,
    retention: str = RETENTION_NOT_SET,
) -> dict[str, Any]:
    """A register of one AI system without a legal basis of its own (a collection, a deployment)."""
    return _context(
        register=register,
        pk=pk,
        name=name,
        ai_system=system.name,
        purpose=system.intended_purpose,
        retention=retention,
        recipients=system.recipients,
        source=source,
    )


def deployment_context(deployment: Deployment) -> dict[str, Any]:
    """A deployment's answer register: what was asked of it and what it answered."""
    return system_context(
        register="deployment",
        pk=deployment.pk,
        name=str(deployment),
        system=deployment.ai_system,
        source=f"questions asked of the {deployment.environment} deployment and the answers it gave",
    )


def unique(contexts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One context per (register, id), in the order first named."""
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for context in contexts:
        seen.setdefault((context["register"], context["id"]), context)
    return list(seen.values())
