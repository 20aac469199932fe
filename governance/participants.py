"""Where retrieval and training plug into governance without governance importing them.

Apps register in their `AppConfig.ready()` (the way models register with the admin): API route
modules, erasure participants (DESIGN section 9) and gate checks (section 8). Governance calls what is
registered and never names the other apps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

_api_routes: list[str] = []
_erasure: dict[str, ErasureParticipant] = {}


@dataclass(frozen=True)
class ErasureParticipant:
    """The functions an erasure request calls on one store, each idempotent."""

    name: str
    find: Callable[[Sequence[str]], dict[str, Any]]
    erase: Callable[[Sequence[str]], dict[str, Any]]
    purge: Callable[[dict[str, Any]], dict[str, Any]]
    verify: Callable[[Sequence[str], Sequence[str]], dict[str, Any]]


def register_api_routes(module: str) -> None:
    """Mount `module`'s urlpatterns under /api/v1/."""
    if module not in _api_routes:
        _api_routes.append(module)


def api_routes() -> list[str]:
    return list(_api_routes)


def register_erasure_participant(participant: ErasureParticipant) -> None:
    _erasure[participant.name] = participant


def erasure_participants() -> dict[str, ErasureParticipant]:
    return dict(_erasure)
