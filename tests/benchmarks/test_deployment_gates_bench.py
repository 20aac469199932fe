"""Every gate of one deployment (what GET /deployments/{id}/gates/ and each approval run).

make bench PYTEST_ARGS="-k deployment_gates"

Target: <= 50 ms for all gates of one deployment. The deployment is a full high-risk one: an adapter
trained on the tiny demo model with its evaluations, a DPIA, a collection of documents, a suppression
list of 10,000 keys, current documentation (so the documentation gate builds the whole Annex IV facts
to compare them). Writes bench-results/deployment_gates.json.
"""

# The fixtures are imported by name from the tests; pytest passes them as arguments (F811 to ruff).
# ruff: noqa: F811

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance import gates
from governance.models import AISystem, Deployment, ErasureRequest, SuppressedKey
from governance.services import deployments, documentation
from tests.governance.test_annex_iv import collection, deployment, recorded  # noqa: F401
from tests.training.conftest import (  # noqa: F401
    _clear_hooks,
    _training_settings,
    adapter,
    ai_system,
    approved_dpia,
    base_model,
    demo_model_dir,
    make_version,
    trained_job,
    version,
)
from training.models import AdapterVersion

RESULTS = Path(__file__).resolve().parents[2] / "bench-results"
RUNS = 30


def test_deployment_gates_time(
    recorded: Any, collection: Any, engineer: Any, officer: Any, approved_dpia: Any, version: Any
) -> None:
    Deployment.objects.filter(pk=recorded.pk).update(collection=collection)
    AISystem.objects.filter(pk=recorded.ai_system_id).update(
        risk_class="high", risk_class_decided_at=timezone.now()
    )
    AdapterVersion.objects.filter(pk=recorded.adapter_version_id).update(
        status="approved", override_justification="Benchmark: the tiny model is not judged on its score."
    )
    approved_dpia(version.dataset)
    request = ErasureRequest.objects.create(reference="BENCH-1", due_at="2030-01-01T00:00:00Z")
    SuppressedKey.objects.bulk_create(
        SuppressedKey(key=f"{n:064x}", key_type="email", request=request) for n in range(10_000)
    )
    recorded.refresh_from_db()
    documentation.documentation_generate(actor=engineer, deployment=recorded)
    deployments.gate_report(recorded)  # warm-up

    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        report = deployments.gate_report(recorded)
        timings.append(time.perf_counter() - started)
    per_gate = {}
    for gate in gates.registered("deployment"):
        started = time.perf_counter()
        for _ in range(5):
            gate.check(recorded)
        per_gate[gate.code] = round((time.perf_counter() - started) / 5 * 1000, 1)
    with CaptureQueriesContext(connection) as queries:
        deployments.gate_report(recorded)

    figures = {
        "gates": len(report),
        "failed": [g["code"] for g in report if g["status"] == "failed"],
        "p50_ms": round(statistics.median(timings) * 1000, 1),
        "max_ms": round(max(timings) * 1000, 1),
        "queries": len(queries),
        "per_gate_ms": per_gate,
        "suppressed_keys": 10_000,
        "target_ms": 50,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "deployment_gates.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))  # noqa: T201 - the benchmark's report
    assert figures["failed"] == []
