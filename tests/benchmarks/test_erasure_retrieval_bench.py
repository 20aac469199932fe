"""Retrieval erasure benchmarks (issue 8): the logical phase grows with the subject, the purge stays local.

Run with `make bench` (or `pytest tests/benchmarks/test_erasure_retrieval_bench.py -s -o addopts=""`).
Prints a table and appends the figures to bench-results/erasure_retrieval.json. Asserts nothing timed.

- Logical phase (erase, one transaction, plus verify by keys) for a subject in 100 documents of a
  collection of ERASURE_BENCH_SMALL (10k) and ERASURE_BENCH_LARGE (100k) chunks; both collections
  sit in the same database. Each measurement is the median of ERASURE_BENCH_REPEAT runs rolled back,
  then one committed run. Targets: <= 1 s at 100k, 100k/10k ratio <= 1.5.
- Purge of a 1k-chunk collection (with its HNSW index) while the large collection sits beside it.
- Verify by text (every document and query log row, the affected partitions' chunks), for the record.

Data is written the way the retrieval bench does it: documents by bulk_create, chunks by binary COPY
of random unit vectors through retrieval.storage (no embedding, no scan). ERASURE_BENCH_HNSW=1 also
builds the large collections' HNSW indexes (slow on two cores; the logical phase does not use them).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

from governance import pii
from governance.participants import ErasureScope
from retrieval.models import Collection, Document
from retrieval.services import collections, erasure
from tests.benchmarks.synthetic import synthetic_load
from tests.factories import AISystemFactory, UserFactory

RESULTS_FILE = Path(__file__).resolve().parents[2] / "bench-results" / "erasure_retrieval.json"
SMALL = int(os.environ.get("ERASURE_BENCH_SMALL", "10000"))
LARGE = int(os.environ.get("ERASURE_BENCH_LARGE", "100000"))
PURGED = int(os.environ.get("ERASURE_BENCH_PURGED", "1000"))
REPEAT = int(os.environ.get("ERASURE_BENCH_REPEAT", "5"))
BUILD_HNSW = os.environ.get("ERASURE_BENCH_HNSW", "0") == "1"
SUBJECT_DOCS = 100
SUBJECT = "erasure.bench@example.com"
FILLER = (
    "The customer asked about the delivery window, the invoice number and the refund policy; the agent "
    "explained the steps and closed the ticket after confirming the address. "
) * 4

pytestmark = pytest.mark.django_db(transaction=True)


class _Rollback(Exception):
    pass


def _scope(identifiers: tuple[str, ...] = ()) -> ErasureScope:
    return ErasureScope(
        request_id=900_001,
        reference="ER-BENCH",
        keys=(pii.subject_key("email", SUBJECT),),
        identifiers=identifiers,
    )


def _load(name: str, chunks: int, *, subject_docs: int, seed: int, hnsw: bool) -> dict[str, Any]:
    """A collection of `chunks` chunks; the first `subject_docs` documents carry the subject's key."""
    actor = UserFactory(username=f"bench-{name}", role="engineer")
    collection = collections.collection_create(actor=actor, name=name, ai_system=AISystemFactory(owner=actor))
    loaded = synthetic_load(
        collection,
        chunks,
        seed=seed,
        subject=SUBJECT,
        subject_docs=subject_docs,
        text=lambda i: (f"Written by {SUBJECT}. " if i < subject_docs else "") + FILLER,
        metadata=lambda i: {"bucket": i % 100, **({"contact": SUBJECT} if i < subject_docs else {})},
        hnsw=hnsw,
    )
    return {
        "collection": collection,
        "chunks": loaded["rows"],
        "load_s": loaded["load_s"],
        "hnsw_s": loaded["build_s"],
    }


def _logical(collection: Collection) -> dict[str, Any]:
    """Median of REPEAT rolled-back runs of erase + verify by keys, restricted to one collection's subject."""
    # Only this collection's documents carry the key while it is measured.
    key = pii.subject_key("email", SUBJECT)
    others = list(
        Document.objects.filter(subject_keys__overlap=[key])
        .exclude(collection=collection)
        .values_list("pk", flat=True)
    )
    times: list[float] = []
    counts: dict[str, int] = {}

    def once() -> None:
        started = time.perf_counter()
        with transaction.atomic():
            if others:
                Document.objects.filter(pk__in=others).update(subject_keys=[])
                with connection.cursor() as cursor:
                    cursor.execute(
                        "UPDATE retrieval_chunk SET subject_keys = '{}' WHERE document_id = ANY(%s)", [others]
                    )
                started = time.perf_counter()
            erased = erasure.erasure_erase(_scope())
            by_keys, _ = erasure._count_by_keys(_scope())
            times.append(time.perf_counter() - started)
            counts.update(erased["counts"])
            assert not any(by_keys.values()), by_keys
            raise _Rollback

    for _ in range(REPEAT):
        try:
            once()
        except _Rollback:
            pass
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "counts": counts}


def test_erasure_logical_phase_scales_with_the_subject_and_purge_stays_local() -> None:
    table: dict[str, str] = {}
    small = _load("erasure-bench-small", SMALL, subject_docs=SUBJECT_DOCS, seed=1, hnsw=BUILD_HNSW)
    large = _load("erasure-bench-large", LARGE, subject_docs=SUBJECT_DOCS, seed=2, hnsw=BUILD_HNSW)
    purged = _load("erasure-bench-purged", PURGED, subject_docs=5, seed=3, hnsw=True)
    for loaded in (small, large, purged):
        table[f"build {loaded['chunks']}-chunk collection (COPY), s"] = f"{loaded['load_s']:.1f}"
        if loaded["hnsw_s"]:
            table[f"build {loaded['chunks']}-chunk HNSW index, s"] = f"{loaded['hnsw_s']:.1f}"

    at_small = _logical(small["collection"])
    at_large = _logical(large["collection"])
    ratio = at_large["median_s"] / max(at_small["median_s"], 1e-9)
    table[f"logical phase, {SUBJECT_DOCS} docs in {small['chunks']} chunks (median), s"] = (
        f"{at_small['median_s']:.3f}"
    )
    table[f"logical phase, {SUBJECT_DOCS} docs in {large['chunks']} chunks (median), s (<= 1)"] = (
        f"{at_large['median_s']:.3f}"
    )
    table["ratio large / small (<= 1.5)"] = f"{ratio:.2f}"

    # Committed: the subject leaves all three collections, then the small one alone is purged.
    erased = erasure.erasure_erase(_scope())
    verify_started = time.perf_counter()
    verified = erasure.erasure_verify(_scope(identifiers=(SUBJECT,)))
    verify_s = time.perf_counter() - verify_started
    only_purged = {**erased, "collections": [purged["collection"].pk]}
    purge_started = time.perf_counter()
    purge = erasure.erasure_purge(_scope(), only_purged)
    purge_s = time.perf_counter() - purge_started
    table[f"verify by keys and text ({Document.objects.count()} docs), s"] = f"{verify_s:.3f}"
    table[f"purge of the {purged['chunks']}-chunk collection beside {large['chunks']}, s"] = f"{purge_s:.2f}"
    table["  of which documents table vacuum+reindex+analyze, s"] = str(
        round(sum(purge.get("documents_table", {}).values()), 3)
    )

    print(
        f"\n\nRetrieval erasure benchmarks (small={SMALL}, large={LARGE}, purged={PURGED}, repeat={REPEAT})"
    )
    for name, value in table.items():
        print(f"  {name:72} {value:>10}")
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else []
    history.append(
        {
            "at": datetime.now(tz=UTC).isoformat(),
            "sizes": {"small": SMALL, "large": LARGE, "purged": PURGED, "repeat": REPEAT},
            "logical_small": at_small,
            "logical_large": at_large,
            "ratio": ratio,
            "verify_s": verify_s,
            "verify_ok": verified["ok"],
            "purge_s": purge_s,
            "purge": purge,
            "table": table,
        }
    )
    RESULTS_FILE.write_text(json.dumps(history, indent=2, default=str) + "\n")
    assert at_large["counts"]["documents"] == SUBJECT_DOCS
    assert verified["ok"], verified
