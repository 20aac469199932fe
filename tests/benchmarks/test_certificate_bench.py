"""Erasure certificate rendering: a warm render (the second in the process) against WeasyPrint alone.

make bench PYTEST_ARGS="-k certificate"

Target: <= 1 s warm. The first render pays for fontconfig and WeasyPrint's stylesheets; a worker pays
that once. Font subsetting dominates: with the system's libharfbuzz-subset it takes milliseconds, with
WeasyPrint's fontTools fallback most of the render.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from weasyprint import HTML

from governance.rendering import BASE_URL, StaticOnlyFetcher, render_html, render_pdf
from tests.governance.test_rendering import CERTIFICATE, CREATED, certificate_facts

RESULTS = Path(__file__).resolve().parents[2] / "bench-results"
RUNS = 3


def _best(render: Callable[[], object]) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        render()
        timings.append(time.perf_counter() - started)
    return min(timings)


def test_certificate_render_time() -> None:
    context = {"facts": certificate_facts()}
    render_pdf(CERTIFICATE, context, title="Certificate of erasure", created=CREATED)  # warm-up
    platform_s = _best(
        lambda: render_pdf(CERTIFICATE, context, title="Certificate of erasure", created=CREATED)
    )
    html = render_html(CERTIFICATE, context, title="Certificate of erasure", created=CREATED)
    weasyprint_s = _best(
        lambda: HTML(string=html, base_url=BASE_URL, url_fetcher=StaticOnlyFetcher()).write_pdf()
    )
    figures = {
        "certificate_warm_render_s": round(platform_s, 3),
        "weasyprint_alone_s": round(weasyprint_s, 3),
        "ratio": round(platform_s / weasyprint_s, 2),
        "target_s": 1.0,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "certificate.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))  # noqa: T201 - the benchmark's report
    assert platform_s > 0
