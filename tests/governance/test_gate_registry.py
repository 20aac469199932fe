"""The gate registry (DESIGN section 15): apps register small checks per scope; work runs them all."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from governance import gates
from governance.gates import Failure

SCOPE = "test_scope"


@pytest.fixture(autouse=True)
def _clean_scope() -> Iterator[None]:
    yield
    for gate in gates.registered(SCOPE):
        gates.unregister(SCOPE, gate.code)


def _over_ten(n: int) -> Failure | None:
    return Failure("too big", {"value": n}) if n > 10 else None


def _odd(n: int) -> Failure | None:
    return Failure("odd") if n % 2 else None


def test_every_gate_result_is_returned_in_registration_order_passed_and_failed():
    gates.register(SCOPE, "over_ten", _over_ten)
    gates.register(SCOPE, "odd", _odd)
    results = gates.evaluate(SCOPE, 11)
    assert [(r.code, r.status, r.reason, r.details) for r in results] == [
        ("over_ten", "failed", "too big", {"value": 11}),
        ("odd", "failed", "odd", None),
    ]
    assert [(r.code, r.status) for r in gates.evaluate(SCOPE, 4)] == [
        ("over_ten", "passed"),
        ("odd", "passed"),
    ]


def test_failures_keeps_only_the_gates_that_failed():
    gates.register(SCOPE, "over_ten", _over_ten)
    gates.register(SCOPE, "odd", _odd)
    assert [r.code for r in gates.failures(SCOPE, 3)] == ["odd"]
    assert gates.failures(SCOPE, 2) == []


def test_a_costly_gate_runs_last_and_is_skipped_when_another_failed():
    calls: list[int] = []

    def costly(n: int) -> Failure | None:
        calls.append(n)
        return None

    gates.register(SCOPE, "costly", costly, after_others=True)
    gates.register(SCOPE, "odd", _odd)
    assert [(r.code, r.status) for r in gates.evaluate(SCOPE, 3)] == [
        ("odd", "failed"),
        ("costly", "skipped"),
    ]
    assert calls == []
    assert [(r.code, r.status) for r in gates.evaluate(SCOPE, 2)] == [("odd", "passed"), ("costly", "passed")]
    assert calls == [2]


def test_a_failure_may_name_a_variant_code_of_its_gate():
    gates.register(SCOPE, "readable", lambda n: Failure("cannot read", code="unreadable"))
    assert [r.as_dict() for r in gates.failures(SCOPE, 1)] == [
        {"gate": "unreadable", "message": "cannot read"}
    ]


def test_registering_a_code_again_replaces_the_gate_instead_of_running_it_twice():
    gates.register(SCOPE, "odd", _odd)
    gates.register(SCOPE, "odd", lambda n: None)
    assert [(r.code, r.status) for r in gates.evaluate(SCOPE, 3)] == [("odd", "passed")]


def test_a_scope_nobody_registered_has_no_gates():
    assert gates.evaluate("nobody_registered_this", object()) == []


def test_training_registers_its_job_gates_when_the_app_is_ready():
    assert [g.code for g in gates.registered("fine_tune_job")] == [
        "ai_system_retired",
        "dataset_not_scanned",
        "dataset_purpose",
        "dataset_not_linked",
        "no_legal_basis",
        "no_dpia",
        "dpia_not_for_ai_system",
        "no_holdout",
        "tainted_base_model",
        "tainted_dataset_version",
        "base_model_not_ready",
        "records_too_long",
    ]


def test_the_registry_imports_no_app_that_registers_into_it():
    tree = ast.parse(Path(gates.__file__).read_text())
    modules = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in modules if m.split(".")[0] in {"training", "retrieval"}}
