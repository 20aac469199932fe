"""The audit report of a million events: streamed CSV and JSON in bounded memory, against a raw COPY.

make bench PYTEST_ARGS="-k audit_report"                          # 1,000,000 events
AUDIT_REPORT_BENCH_EVENTS=100000 make bench PYTEST_ARGS="-k audit_report"

Target: the CSV export of 1M events, consumed as a client would, grows the process by less than 200 MB
(peak RSS, VmHWM after a reset, and Python's own peak by tracemalloc). Also printed: throughput of the
CSV and JSON streams against PostgreSQL's `COPY ... TO STDOUT` of the same rows (the raw floor), the
cost of verifying the whole chain (which the PDF does) and the capped PDF itself.

The chain is loaded by COPY with real links (each hash computed as audit_record computes it), so the
verification walks a valid chain to its end. INSERT is what the audit table's triggers allow (0002
refuses UPDATE and DELETE, 0003 TRUNCATE); the test's transaction is rolled back afterwards.
"""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from governance.models import AuditChainHead
from governance.roles import AUDITOR
from governance.services.audit import GENESIS_HASH, audit_verify_chain, canonical_json, event_hash
from tests.factories import UserFactory

EVENTS = int(os.environ.get("AUDIT_REPORT_BENCH_EVENTS", "1000000"))
START = datetime(2026, 1, 1, tzinfo=UTC)
ACTIONS = ("dataset.created", "dataset_version.created", "dpia.updated", "fine_tune_job.created")
RESULTS = Path(__file__).resolve().parents[2] / "bench-results"
TARGET_MB = 200
PDF_EVENTS = 500
COLUMNS = "sequence, timestamp, actor, action, object_type, object_id, payload, prev_hash, hash"


def _load_chain(count: int) -> None:
    """`count` linked events, one a second from START, COPYed in; the head row set to the last."""
    prev = GENESIS_HASH
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY governance_auditevent ({COLUMNS}) FROM STDIN") as copy:
            for sequence in range(1, count + 1):
                body = {
                    "sequence": sequence,
                    "timestamp": (START + timedelta(seconds=sequence)).isoformat(),
                    "actor": f"user{sequence % 50}",
                    "action": ACTIONS[sequence % len(ACTIONS)],
                    "object_type": "governance.dataset",
                    "object_id": str(sequence % 1000),
                    "payload": {"records": sequence % 977, "changed": ["name", "purpose"]},
                }
                digest = event_hash(prev, body)
                row = (*body.values(), prev, digest)
                copy.write_row((*row[:6], canonical_json(body["payload"]), *row[7:]))
                prev = digest
        cursor.execute("ANALYZE governance_auditevent")
    AuditChainHead.objects.update_or_create(id=1, defaults={"sequence": count, "hash": prev})


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak_rss() -> None:
    # Writing 5 to clear_refs resets VmHWM (the peak resident set) to the current RSS (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")


def _consume(chunks: Iterable[bytes]) -> int:
    size = 0
    for chunk in chunks:
        size += len(chunk)
    return size


def _measure(run: Callable[[], int], *, trace: bool) -> dict[str, float]:
    _reset_peak_rss()
    rss_before = _rss_kb("VmRSS")
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    size = run()
    elapsed = time.perf_counter() - started
    traced_peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    return {
        "seconds": round(elapsed, 2),
        "bytes": size,
        # Growth over the RSS at the start (which already holds the allocator's arenas from the load),
        # and the absolute peak of the whole process during the run.
        "rss_growth_mb": round((_rss_kb("VmHWM") - rss_before) / 1024, 1),
        "rss_peak_mb": round(_rss_kb("VmHWM") / 1024, 1),
        "tracemalloc_peak_mb": round(traced_peak / 2**20, 1),
    }


def _raw_copy_csv() -> int:
    # The floor: PostgreSQL writing the same rows as CSV, read by psycopg, nothing else.
    size = 0
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            f"COPY (SELECT {COLUMNS} FROM governance_auditevent ORDER BY sequence) TO STDOUT WITH CSV"  # noqa: S608 - constant column list
        ) as copy:
            for block in copy:
                size += len(block)
    return size


@pytest.mark.django_db
def test_a_million_event_audit_report_streams_in_bounded_memory(api: Any) -> None:
    auditor = UserFactory(username="bench-auditor", role=AUDITOR)
    client = api(auditor)
    started = time.perf_counter()
    _load_chain(EVENTS)
    load_s = time.perf_counter() - started
    end = (START + timedelta(seconds=EVENTS + 1)).isoformat()
    query = {"start": START.isoformat(), "end": end}

    def stream(output: str) -> Callable[[], int]:
        def run() -> int:
            response = client.get("/api/v1/reports/audit/", {**query, "output": output})
            assert response.status_code == 200, response.content[:300]
            return _consume(response.streaming_content)

        return run

    raw = _measure(_raw_copy_csv, trace=False)
    csv_run = _measure(stream("csv"), trace=False)
    json_run = _measure(stream("json"), trace=False)
    csv_traced = _measure(stream("csv"), trace=True)

    started = time.perf_counter()
    verification = audit_verify_chain()
    verify_s = time.perf_counter() - started
    assert verification.ok and verification.events_checked >= EVENTS, verification

    with override_settings(REPORT_PDF_MAX_EVENTS=PDF_EVENTS):
        started = time.perf_counter()
        pdf = client.get("/api/v1/reports/audit/", {**query, "output": "pdf"})
        pdf_s = time.perf_counter() - started
    assert pdf.status_code == 200

    figures = {
        "events": EVENTS,
        "load_chain_s": round(load_s, 1),
        "raw_copy_csv": raw,
        "report_csv": csv_run,
        "report_json": json_run,
        "report_csv_traced": csv_traced,
        "csv_events_per_s": round(EVENTS / csv_run["seconds"]),
        "json_events_per_s": round(EVENTS / json_run["seconds"]),
        "csv_vs_raw_copy_time_ratio": round(csv_run["seconds"] / raw["seconds"], 1),
        "verify_chain_s": round(verify_s, 1),
        "pdf_s": round(pdf_s, 1),
        "pdf_events_printed": PDF_EVENTS,
        "pdf_bytes": len(pdf.content),
        "target_peak_growth_mb": TARGET_MB,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit_report.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))  # noqa: T201 - the benchmark's report
    assert csv_run["rss_growth_mb"] < TARGET_MB
    assert csv_traced["tracemalloc_peak_mb"] < TARGET_MB
