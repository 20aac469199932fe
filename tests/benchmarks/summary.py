"""One table of where users wait: each figure against the raw library's, the ratio, the target, met or not.

`make bench` prints it at the end (tests/benchmarks/conftest.py) and writes bench-results/summary.md
and summary.json; `python tests/benchmarks/summary.py` prints it from the stored figures alone. It reads
what the benchmarks wrote to bench-results/: a figure this run did not produce shows the last stored
one with its date, or "not run". A missing or malformed file only blanks its rows.

Files and keys read (a benchmark that wants a row writes these):
- first_start.json (tests/benchmarks/first_start.py): first_start_s, second_start_s, steps, second_steps.
- retrieval.json (a list, newest last): query.api_p50_ms (dense), api_p99_ms, hybrid_api_p50_ms,
  hybrid_api_p99_ms, embed_p50_ms,
  raw_pgvector_p50_ms, raw_pgvector_p99_ms, chunks; indexing.end_to_end_s, embedding_alone_s,
  chunks, ratio (end-to-end throughput over embedding-alone throughput).
- dataset_scan.json: scan_records_per_s, scanner_alone_records_per_s, records and
  scan_over_scanner_alone_one_core (else scan_over_scanner_alone), scan_two_cores_over_one_core,
  scan_two_cores_records_per_s.
- indexing_peer.json: ours_chunks_per_s, peer_chunks_per_s, ours_over_peer.
- make_test.json: seconds (a whole `make test`).
- quality.json (a list, newest last): ndcg_at_10_hybrid over ndcg_at_10_raw_model and over
  ndcg_at_10_bm25, and every ndcg_at_10_* key.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / "bench-results"


@dataclass
class Row:
    """One place a user waits. `status` is met / not met / not run / no target."""

    where: str
    measured: str = "not run"
    raw: str = ""
    ratio: str = ""
    target: str = ""
    status: str = "not run"
    when: str = ""  # "this run", or the date of the stored figure


@dataclass
class Figures:
    """One benchmark's stored figures and when they were written."""

    data: dict[str, Any]
    at: datetime


def _load(name: str, section: str | None = None) -> Figures | None:
    """The newest figures in bench-results/<name> (the newest entry with `section` for a history list)."""
    path = RESULTS / name
    try:
        raw = json.loads(path.read_text())
        mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except (OSError, ValueError):
        return None
    entries = raw if isinstance(raw, list) else [raw]
    for entry in reversed(entries):
        if not isinstance(entry, dict):
            continue
        if section is not None and not isinstance(entry.get(section), dict):
            continue
        at = mtime
        if isinstance(entry.get("at"), str):
            try:
                at = datetime.fromisoformat(entry["at"])
                at = at if at.tzinfo else at.replace(tzinfo=UTC)
            except ValueError:
                at = mtime
        return Figures(entry[section] if section else entry, at)
    return None


def _num(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _when(figures: Figures, since: datetime | None) -> str:
    if since is not None and figures.at >= since:
        return "this run"
    return f"stored {figures.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _judge(value: float | None, target: float, *, at_most: bool) -> str:
    if value is None:
        return "not run"
    return "met" if (value <= target if at_most else value >= target) else "not met"


def _split(steps: object) -> str:
    """'install 120, prepare 40, server 9': the steps of one start (run_platform's own split left out)."""
    if not isinstance(steps, dict):
        return ""
    return ", ".join(
        f"{k.removesuffix('_s')} {v:.0f}"
        for k, v in steps.items()
        if isinstance(v, int | float) and (k == "prepare_s" or not k.startswith("prepare_"))
    )


def _first_start(since: datetime | None) -> list[Row]:
    rows = [
        Row("first `make run` on a fresh clone, until it serves"),
        Row("second `make run`, until it serves"),
    ]
    figures = _load("first_start.json")
    if figures is None:
        return rows
    data, when = figures.data, _when(figures, since)
    first, second = _num(data, "first_start_s"), _num(data, "second_start_s")
    split, second_split = _split(data.get("steps")), _split(data.get("second_steps"))
    if first is not None:
        rows[0] = Row(
            rows[0].where,
            f"{first:.0f} s ({split})" if split else f"{first:.0f} s",
            target="<= 300 s",
            status=_judge(first, 300, at_most=True),
            when=when,
        )
    if second is not None:
        rows[1] = Row(
            rows[1].where,
            f"{second:.1f} s ({second_split})" if second_split else f"{second:.1f} s",
            target="<= 20 s",
            status=_judge(second, 20, at_most=True),
            when=when,
        )
    return rows


def _query(since: datetime | None) -> list[Row]:
    rows = [
        Row("query API p50 / (query embedding + pgvector search alone)"),
        Row("query API p99"),
    ]
    figures = _load("retrieval.json", "query")
    if figures is None:
        return rows
    q, when = figures.data, _when(figures, since)
    p50, p99 = _num(q, "api_p50_ms"), _num(q, "api_p99_ms")
    embed, raw50, raw99 = (
        _num(q, "embed_p50_ms"),
        _num(q, "raw_pgvector_p50_ms"),
        _num(q, "raw_pgvector_p99_ms"),
    )
    chunks = q.get("chunks", "?")
    if p50 is not None and embed is not None and raw50 is not None and embed + raw50 > 0:
        ratio = p50 / (embed + raw50)
        rows[0] = Row(
            f"{rows[0].where}, {chunks} chunks",
            f"{p50:.1f} ms",
            f"{embed:.1f} + {raw50:.1f} ms",
            f"{ratio:.2f}x",
            "<= 1.3x",
            _judge(ratio, 1.3, at_most=True),
            when,
        )
    hybrid50, hybrid99 = _num(q, "hybrid_api_p50_ms"), _num(q, "hybrid_api_p99_ms")
    if hybrid50 is not None and hybrid99 is not None and embed is not None and raw50 is not None:
        ratio = hybrid50 / (embed + raw50) if embed + raw50 > 0 else 0.0
        rows.append(
            Row(
                f"hybrid query API p50 (p99) / dense raw, {chunks} chunks",
                f"{hybrid50:.1f} ({hybrid99:.1f}) ms",
                f"{embed:.1f} + {raw50:.1f} ms",
                f"{ratio:.2f}x",
                "<= 1.3x, p99 <= 100 ms",
                "met" if ratio <= 1.3 and hybrid99 <= 100 else "not met",
                when,
            )
        )
    if p99 is not None:
        raw = f"{embed:.1f} + {raw99:.1f} ms (p50 + p99)" if embed is not None and raw99 is not None else ""
        rows[1] = Row(
            f"{rows[1].where}, {chunks} chunks",
            f"{p99:.1f} ms",
            raw,
            "",
            "<= 100 ms",
            _judge(p99, 100, at_most=True),
            when,
        )
    return rows


def _indexing(since: datetime | None) -> list[Row]:
    row = Row("indexing end to end / embedding alone (throughput)")
    figures = _load("retrieval.json", "indexing")
    if figures is None:
        return [row]
    data = figures.data
    chunks, e2e, embed = _num(data, "chunks"), _num(data, "end_to_end_s"), _num(data, "embedding_alone_s")
    ratio = _num(data, "ratio")
    if ratio is None and e2e and embed:
        ratio = embed / e2e
    if ratio is None:
        return [row]
    measured = raw = ""
    if chunks and e2e and embed:
        measured, raw = f"{chunks / e2e:.1f} chunks/s", f"{chunks / embed:.1f} chunks/s"
    return [
        Row(
            row.where,
            measured,
            raw,
            f"{ratio:.2f}x",
            ">= 0.9x",
            _judge(ratio, 0.9, at_most=False),
            _when(figures, since),
        )
    ]


def _scan(since: datetime | None) -> list[Row]:
    rows = [
        Row("dataset PII scan / presidio batch alone, one core"),
        Row("dataset PII scan, two cores / one core"),
    ]
    figures = _load("dataset_scan.json")
    if figures is None:
        return rows
    data, when = figures.data, _when(figures, since)
    records = data.get("records", "?")
    one = _num(data, "scan_over_scanner_alone_one_core")
    if one is None:
        one = _num(data, "scan_over_scanner_alone")
    scan, alone = _num(data, "scan_records_per_s"), _num(data, "scanner_alone_records_per_s")
    if one is not None:
        rows[0] = Row(
            f"{rows[0].where}, {records} records",
            f"{scan:.0f} rec/s" if scan else "",
            f"{alone:.0f} rec/s" if alone else "",
            f"{one:.2f}x",
            ">= 1.0x",
            _judge(one, 1.0, at_most=False),
            when,
        )
    two = _num(data, "scan_two_cores_over_one_core")
    if two is not None:
        two_rate = _num(data, "scan_two_cores_records_per_s")
        rows[1] = Row(
            f"{rows[1].where}, {records} records",
            f"{two_rate:.0f} rec/s" if two_rate else "",
            f"{scan:.0f} rec/s" if scan else "",
            f"{two:.2f}x",
            ">= 1.6x",
            _judge(two, 1.6, at_most=False),
            when,
        )
    return rows


def _peer(since: datetime | None) -> list[Row]:
    row = Row("indexing against LlamaIndex PGVectorStore, same documents and model")
    figures = _load("indexing_peer.json")
    ratio = _num(figures.data, "ours_over_peer") if figures else None
    if figures is None or ratio is None:
        return [row]
    ours, peer = _num(figures.data, "ours_chunks_per_s"), _num(figures.data, "peer_chunks_per_s")
    return [
        Row(
            row.where,
            f"{ours:.2f} chunks/s" if ours else "",
            f"{peer:.2f} chunks/s" if peer else "",
            f"{ratio:.2f}x",
            ">= 1.5x",
            _judge(ratio, 1.5, at_most=False),
            _when(figures, since),
        )
    ]


def _make_test(since: datetime | None) -> list[Row]:
    row = Row("`make test` on a fresh clone", measured="not recorded")
    figures = _load("make_test.json")
    seconds = _num(figures.data, "seconds") if figures else None
    if figures is None or seconds is None:
        return [row]
    return [
        Row(
            row.where,
            f"{seconds / 60:.1f} min",
            target="<= 5 min (quiet)",
            status=_judge(seconds, 300, at_most=True),
            when=_when(figures, since),
        )
    ]


def _quality(since: datetime | None) -> list[Row]:
    """Hybrid through the API against the raw model (exact search) and BM25 alone, then every variant."""
    figures = _load("quality.json")
    if figures is None:
        return [Row("retrieval quality nDCG@10 (quality bench)")]
    data, when = figures.data, _when(figures, since)
    rows = []
    hybrid = _num(data, "ndcg_at_10_hybrid")
    for key, label in (("ndcg_at_10_raw_model", "the raw model alone"), ("ndcg_at_10_bm25", "BM25 alone")):
        reference = _num(data, key)
        if hybrid is not None and reference:
            ratio = hybrid / reference
            rows.append(
                Row(
                    f"nDCG@10 through the API, hybrid / {label}",
                    f"{hybrid:.4f}",
                    f"{reference:.4f}",
                    f"{ratio:.3f}x",
                    "> 1.0x",
                    "met" if ratio > 1.0 else "not met",
                    when,
                )
            )
    modes = ", ".join(
        f"{key.removeprefix('ndcg_at_10_')} {value:.4f}"
        for key in data
        if key.startswith("ndcg_at_10_") and (value := _num(data, key)) is not None
    )
    if modes:
        rows.append(Row("nDCG@10, every variant", modes, status="no target", when=when))
    return rows or [Row("retrieval quality nDCG@10 (quality bench)")]


SECTIONS: tuple[Callable[[datetime | None], list[Row]], ...] = (
    _first_start,
    _query,
    _indexing,
    _scan,
    _peer,
    _make_test,
    _quality,
)


def rows(since: datetime | None = None) -> list[Row]:
    """Every row; figures written at or after `since` count as this run's."""
    out: list[Row] = []
    for section in SECTIONS:
        try:
            out.extend(section(since))
        except Exception as error:  # noqa: BLE001 - one odd file never hides the rest of the table
            out.append(Row(section.__name__.strip("_"), f"unreadable: {type(error).__name__}: {error}"))
    return out


def markdown(table: list[Row]) -> str:
    header = ("where a user waits", "measured", "raw library", "ratio", "target", "status", "when")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table:
        cells = (row.where, row.measured, row.raw, row.ratio, row.target, row.status, row.when)
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def write(since: datetime | None = None) -> str:
    """Build the table, write summary.md and summary.json under bench-results/, return the markdown."""
    table = rows(since)
    text = markdown(table)
    generated = datetime.now(tz=UTC).isoformat(timespec="seconds")
    try:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "summary.md").write_text(f"# Benchmark summary ({generated})\n\n{text}\n")
        payload = {"generated": generated, "rows": [asdict(r) for r in table]}
        (RESULTS / "summary.json").write_text(json.dumps(payload, indent=2) + "\n")
    except OSError as error:
        text += f"\n(could not write bench-results/summary.*: {error})"
    return text


if __name__ == "__main__":
    sys.stdout.write(write() + "\n")
