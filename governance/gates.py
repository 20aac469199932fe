"""The gate registry (DESIGN section 15): small checks, registered per scope by apps in `ready()`.

A gate is one function of a subject (a job, or the inputs of one about to be created) that returns a
`Failure` or None. Work runs them when it is created and again when it starts, so a condition that
changed in between (an expired DPIA, a tainted dataset) still stops it. Governance knows no app: each
app registers its own gates, and later apps add gates to a scope without touching the code that runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

PASSED: Literal["passed"] = "passed"
FAILED: Literal["failed"] = "failed"
SKIPPED: Literal["skipped"] = "skipped"


@dataclass(frozen=True)
class Failure:
    """What a gate returns when it holds the work back; `code` names a variant of the gate's own code."""

    reason: str
    details: dict[str, Any] | None = None
    code: str = ""
    remedy: str = ""  # what unblocks it, when it differs from the gate's registered remedy


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate for one subject: passed, failed (with a reason) or skipped."""

    code: str
    status: Literal["passed", "failed", "skipped"]
    reason: str = ""
    details: dict[str, Any] | None = None
    remedy: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def as_dict(self) -> dict[str, Any]:
        """The shape of a refusal's `details` entries: `gate`, `message` and, when any, `details`."""
        out: dict[str, Any] = {"gate": self.code, "message": self.reason}
        if self.details:
            out["details"] = self.details
        if self.remedy:
            out["remedy"] = self.remedy
        return out


GateFunction = Callable[[Any], Failure | None]


@dataclass(frozen=True)
class Gate:
    """A registered gate; `after_others` gates are costly and run only once every other gate passed."""

    code: str
    check: GateFunction
    after_others: bool = False
    description: str = field(default="", compare=False)
    remedy: str = field(default="", compare=False)


_REGISTRY: dict[str, dict[str, Gate]] = {}


def register(
    scope: str,
    code: str,
    check: GateFunction,
    *,
    after_others: bool = False,
    description: str = "",
    remedy: str = "",
) -> None:
    """Add a gate to a scope; registering a code again replaces it (ready() may run more than once).

    `description` says what the gate checks, `remedy` what makes a failing one pass.
    """
    _REGISTRY.setdefault(scope, {})[code] = Gate(code, check, after_others, description, remedy)


def unregister(scope: str, code: str) -> None:
    """Remove a gate (tests that register their own clean up with this)."""
    _REGISTRY.get(scope, {}).pop(code, None)


def registered(scope: str) -> list[Gate]:
    """The gates of a scope in the order they run."""
    gates = list(_REGISTRY.get(scope, {}).values())
    return [g for g in gates if not g.after_others] + [g for g in gates if g.after_others]


def evaluate(scope: str, subject: Any) -> list[GateResult]:
    """Every gate's result for the subject, in registration order (a later gate never hides an earlier)."""
    results: list[GateResult] = []
    for gate in registered(scope):
        if gate.after_others and any(r.failed for r in results):
            results.append(GateResult(gate.code, SKIPPED, "runs only once every other gate passed"))
            continue
        failure = gate.check(subject)
        if failure is None:
            results.append(GateResult(gate.code, PASSED))
        else:
            code = failure.code or gate.code
            remedy = failure.remedy or gate.remedy
            results.append(GateResult(code, FAILED, failure.reason, failure.details, remedy))
    return results


def failures(scope: str, subject: Any) -> list[GateResult]:
    """Only the failed gates (an empty list means the work may go on)."""
    return [r for r in evaluate(scope, subject) if r.failed]
