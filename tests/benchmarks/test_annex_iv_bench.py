"""Annex IV documentation of one deployment: facts build and warm PDF render, against WeasyPrint alone.

make bench PYTEST_ARGS="-k annex_iv"

Target: <= 2 s warm for the PDF (facts + render), and a facts build small enough for the gates
(documentation_current runs at every approval; the deployment gates together aim at <= 50 ms). The
deployment is a full one: an adapter trained on the tiny demo model with its evaluations, a DPIA, a
collection of indexed documents, every required fact recorded. Writes bench-results/annex_iv.json.
"""

# The fixtures are imported by name from the tests; pytest passes them as arguments (F811 to ruff).
# ruff: noqa: F811

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from weasyprint import HTML

from governance.models import Deployment
from governance.rendering import BASE_URL, StaticOnlyFetcher, render_html
from governance.services import documentation
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

RESULTS = Path(__file__).resolve().parents[2] / "bench-results"
RUNS = 3


def _best(work: Callable[[], object]) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def test_annex_iv_render_time(
    recorded: Any, collection: Any, engineer: Any, approved_dpia: Any, version: Any
) -> None:
    Deployment.objects.filter(pk=recorded.pk).update(collection=collection)
    approved_dpia(version.dataset)
    doc, _ = documentation.documentation_generate(actor=engineer, deployment=recorded)  # warm-up
    footer = documentation.documentation_footer(doc)
    facts_s = _best(lambda: documentation.documentation_facts(recorded))
    current_s = _best(lambda: documentation.documentation_current(recorded))
    render_s = _best(lambda: documentation.documentation_pdf_bytes(doc.facts, footer=footer))
    total_s = _best(
        lambda: documentation.documentation_pdf_bytes(
            documentation.documentation_facts(recorded).facts, footer=footer
        )
    )
    context = {
        "facts": doc.facts,
        "sections": [{**s, "blocks": documentation._blocks(s["items"])} for s in doc.facts["sections"]],
        "missing": doc.missing,
        "facts_sha256": doc.facts_sha256,
        "footer": {
            "created": "2026-01-01T00:00:00Z",
            "creator": "engineer",
            "chain_sequence": 1,
            "chain_hash": "0",
        },
    }
    html = render_html(documentation.TEMPLATE, context, title="Annex IV", created=doc.created_at)
    weasyprint_s = _best(
        lambda: HTML(string=html, base_url=BASE_URL, url_fetcher=StaticOnlyFetcher()).write_pdf()
    )
    figures = {
        "facts_build_ms": round(facts_s * 1000, 1),
        "documentation_current_ms": round(current_s * 1000, 1),
        "render_ms": round(render_s * 1000, 1),
        "annex_iv_warm_pdf_s": round(total_s, 3),
        "weasyprint_alone_s": round(weasyprint_s, 3),
        "ratio": round(total_s / weasyprint_s, 2),
        "pages": len(PdfReader(documentation.documentation_pdf_path(doc)).pages),
        "target_s": 2.0,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "annex_iv.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))  # noqa: T201 - the benchmark's report
    assert total_s > 0
