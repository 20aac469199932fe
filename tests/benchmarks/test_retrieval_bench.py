"""Retrieval benchmarks (DESIGN section 14), each against the raw library doing the same work in the same run.

Run with `make bench` (or `pytest tests/benchmarks/test_retrieval_bench.py -s -o addopts=""`). Prints a
table and appends the figures to bench-results/retrieval.json. Defaults finish in a few minutes on two
cores; the issue's sizes are

    RETRIEVAL_BENCH_CHUNKS=100000 RETRIEVAL_BENCH_RECALL_CHUNKS=5000 RETRIEVAL_BENCH_INDEX_DOCS=200

Other knobs: RETRIEVAL_BENCH_QUERIES (API queries per measurement), RETRIEVAL_BENCH_SMALL_CHUNKS (the
small collection purged while the big one exists), RETRIEVAL_BENCH_COMPARE_CHUNKS (collection on which
in-place VACUUM and the rebuild purge are compared; 0 skips it).

The text is real English prose harvested from docstrings of the installed Python packages (nothing is
downloaded); its embeddings are real. The 100k-chunk index for latency uses synthetic unit vectors.
"""

from __future__ import annotations

import ast
import cProfile
import io
import json
import os
import pstats
import re
import statistics
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from django.db import connection, transaction

from governance import pii
from governance.participants import ErasureScope
from retrieval import embedding, intake, storage
from retrieval.choices import DocumentStatus, SourceType
from retrieval.models import Chunk, Collection, Document
from retrieval.passages import passage
from retrieval.services import collections, documents, erasure
from retrieval.services.search import search_vectors
from tests.benchmarks.synthetic import CHUNKS_PER_DOC, synthetic_load
from tests.factories import AISystemFactory, UserFactory

RESULTS_FILE = Path(__file__).resolve().parents[2] / "bench-results" / "retrieval.json"
CHUNKS = int(os.environ.get("RETRIEVAL_BENCH_CHUNKS", "20000"))
RECALL_CHUNKS = int(os.environ.get("RETRIEVAL_BENCH_RECALL_CHUNKS", "2000"))
INDEX_DOCS = int(os.environ.get("RETRIEVAL_BENCH_INDEX_DOCS", "40"))
QUERIES = int(os.environ.get("RETRIEVAL_BENCH_QUERIES", "100"))
SMALL_CHUNKS = int(os.environ.get("RETRIEVAL_BENCH_SMALL_CHUNKS", "1000"))
COMPARE_CHUNKS = int(os.environ.get("RETRIEVAL_BENCH_COMPARE_CHUNKS", "5000"))
# RETRIEVAL_BENCH_PROFILE=1: after the timed queries, run them again under cProfile (one profile per
# mode), print the top entries and write bench-results/query-profile-<mode>.prof. Not timed.
PROFILE = os.environ.get("RETRIEVAL_BENCH_PROFILE", "") not in ("", "0")

K = 10
SUBJECT = "bench.subject@example.com"

pytestmark = pytest.mark.django_db(transaction=True)
_results: dict[str, Any] = {}


# --- Corpus ----------------------------------------------------------------------------------------


def _docstrings(root: Path) -> Iterator[str]:
    for path in sorted(root.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                text = ast.get_docstring(node)
                if text:
                    yield text


def paragraphs(count: int) -> list[str]:
    """`count` distinct English paragraphs of 120-1200 characters, in a fixed order."""
    site = Path(sysconfig.get_paths()["purelib"])
    roots = [Path(sysconfig.get_paths()["stdlib"]), site / "django", site / "numpy", site / "transformers"]
    seen: set[str] = set()
    out: list[str] = []
    for root in roots:
        for text in _docstrings(root):
            for block in re.split(r"\n\s*\n", text):
                paragraph = " ".join(block.split())
                if (
                    120 <= len(paragraph) <= 1200
                    and paragraph not in seen
                    and not paragraph.startswith((">>>", ".."))
                    and "\x00" not in paragraph  # a docstring's "\0" escape; PostgreSQL text refuses NUL
                ):
                    if "@" in paragraph:
                        continue  # keep the corpus free of e-mail addresses (the PII scan would key them)
                    seen.add(paragraph)
                    out.append(paragraph)
                    if len(out) >= count:
                        return out
    return out


# --- Helpers ---------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = work()
    return time.perf_counter() - started, value


def _actor() -> Any:
    return UserFactory(username="bench", role="engineer")


def _collection(name: str, actor: Any) -> Collection:
    system = AISystemFactory(owner=actor)
    return collections.collection_create(actor=actor, name=name, ai_system=system)


def _synthetic_load(
    collection: Collection, chunks: int, *, seed: int, subject_docs: int = 0
) -> dict[str, float]:
    """Documents of CHUNKS_PER_DOC chunks with random unit vectors; the first `subject_docs` carry a key."""
    return synthetic_load(collection, chunks, seed=seed, subject=SUBJECT, subject_docs=subject_docs)


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[dict[str, Any]]:
    yield _results
    if not _results:
        return
    sizes = {
        "chunks": CHUNKS,
        "recall_chunks": RECALL_CHUNKS,
        "index_docs": INDEX_DOCS,
        "queries": QUERIES,
        "small_chunks": SMALL_CHUNKS,
        "compare_chunks": COMPARE_CHUNKS,
    }
    print("\n\nRetrieval benchmarks", json.dumps(sizes))
    print(f"  {'measure':58} {'value':>14}  target")
    for name, (value, target) in _results.get("table", {}).items():
        print(f"  {name:58} {value:>14}  {target}")
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else []
    history.append(
        {
            "at": datetime.now(tz=UTC).isoformat(),
            "sizes": sizes,
            **{k: v for k, v in _results.items() if k != "table"},
        }
    )
    RESULTS_FILE.write_text(json.dumps(history, indent=2) + "\n")


def _row(name: str, value: str, target: str = "") -> None:
    _results.setdefault("table", {})[name] = (value, target)


# --- Benchmarks ------------------------------------------------------------------------------------


def test_indexing_end_to_end_against_embedding_alone(settings: Any) -> None:
    actor = _actor()
    collection = _collection("bench-indexing", actor)
    texts = paragraphs(INDEX_DOCS * 6)
    items = [
        intake.document_from_object(
            {"external_id": f"doc-{i}", "title": f"Doc {i}", "text": "\n\n".join(texts[i * 6 : i * 6 + 6])}
        )
        for i in range(len(texts) // 6)
    ]
    loaded = embedding.load_model(collection.embedding_model)
    embedding.embed(loaded, ["warm up the model"] * 8)
    pii.warm_up()

    def end_to_end() -> None:
        accepted = documents.documents_ingest(actor=actor, collection=collection, items=items)
        ids = documents.documents_claim(document_ids=[d.pk for d in accepted.documents])
        documents.documents_process(document_ids=ids)
        if collections.collection_index_build_due(collection_id=collection.pk):
            collections.collection_build_index(collection_id=collection.pk)

    e2e_s, _ = _timed(end_to_end)
    assert Document.objects.filter(collection=collection, status=DocumentStatus.INDEXED).count() == len(items)
    chunk_texts = list(
        Chunk.objects.filter(collection=collection)
        .order_by("document_id", "ordinal")
        .values_list("text", flat=True)
    )
    # The same strings the pipeline embedded (heading + text) with the same thread count.
    passages_ = list(
        Chunk.objects.filter(collection=collection)
        .order_by("document_id", "ordinal")
        .values_list("heading", "text")
    )
    with embedding.torch_threads(embedding.ingest_threads()):
        embed_s, _ = _timed(lambda: embedding.embed(loaded, [passage(h, t) for h, t in passages_]))
    scan_s, _ = _timed(lambda: pii.scan_texts([i.text for i in items]))
    ratio = embed_s / e2e_s
    _results["indexing"] = {
        "documents": len(items),
        "chunks": len(chunk_texts),
        "end_to_end_s": e2e_s,
        "embedding_alone_s": embed_s,
        "pii_scan_alone_s": scan_s,
        "ratio": ratio,
        "torch_threads": embedding.ingest_threads(),
    }
    _row("indexing: documents / chunks", f"{len(items)} / {len(chunk_texts)}")
    _row("indexing: end-to-end chunks/s", f"{len(chunk_texts) / e2e_s:.1f}")
    _row("indexing: embedding alone chunks/s (sentence-transformers)", f"{len(chunk_texts) / embed_s:.1f}")
    _row("indexing: PII scan alone of the same documents, s", f"{scan_s:.2f}")
    _row(
        f"indexing: end-to-end / embedding alone ({embedding.ingest_threads()} torch threads each)",
        f"{ratio:.2f}",
        ">= 0.9",
    )


def test_recall_at_10_against_exact_search_on_real_embeddings() -> None:
    actor = _actor()
    collection = _collection("bench-recall", actor)
    texts = paragraphs(RECALL_CHUNKS + 200)
    corpus, queries = texts[:RECALL_CHUNKS], [" ".join(t.split()[:12]) for t in texts[RECALL_CHUNKS:][:200]]
    loaded = embedding.load_model(collection.embedding_model)
    embed_s, vectors = _timed(lambda: embedding.embed(loaded, corpus))
    documents_ = Document.objects.bulk_create(
        [
            Document(
                collection=collection,
                external_id=f"p-{i}",
                source_type=SourceType.JSON,
                sha256=f"{i:064x}",
                status=DocumentStatus.INDEXED,
                chunk_count=1,
                progress=1.0,
            )
            for i in range(len(corpus))
        ]
    )
    storage.drop_hnsw_index(collection)
    storage.copy_rows(
        collection,
        (
            (d.pk, storage.ChunkRow(0, text, 0, len(text), 0, []), vector)
            for d, text, vector in zip(documents_, corpus, vectors, strict=True)
        ),
    )
    build_s = storage.build_hnsw_index(collection)
    query_vectors = embedding.embed(loaded, queries)
    recalls = []
    for vector in query_vectors:
        with transaction.atomic():
            hnsw = {h.chunk_id for h in search_vectors(collection, vector, k=K).hits}
            exact = {
                h.chunk_id for h in storage.search(collection, vector, k=K, document_ids=None, exact=True)
            }
        recalls.append(len(hnsw & exact) / K)
    recall = statistics.fmean(recalls)
    _results["recall"] = {
        "chunks": len(corpus),
        "queries": len(queries),
        "recall_at_10": recall,
        "embed_s": embed_s,
        "index_build_s": build_s,
        "ef_search": settings_ef(),
    }
    _row(
        f"recall@10 vs exact, {len(corpus)} real-embedded chunks, ef_search {settings_ef()}",
        f"{recall:.3f}",
        ">= 0.95",
    )


def _profile(client: Any, url: str, queries: list[str], mode: str) -> None:
    """The API queries of one mode under cProfile (the request thread), top entries printed."""
    profiler = cProfile.Profile()
    profiler.enable()
    for query in queries:
        client.post(url, {"query": query, "k": K, "min_score": -1, "mode": mode}, format="json")
    profiler.disable()
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(RESULTS_FILE.parent / f"query-profile-{mode}.prof"))
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(30)
        print(f"\n--- {mode} query profile, {len(queries)} queries, by {order} ---")
        print(out.getvalue())


def _raw_pgvector_ms(collection: Collection, vectors: np.ndarray) -> list[float]:
    """The same top-k through psycopg and pgvector alone, timed per query.

    As a user of the raw libraries would write it: the vector bound in binary (pgvector's psycopg
    adapter), hnsw.ef_search set once for the session, one statement per query, autocommit.
    """
    from pgvector.psycopg import register_vector

    connection.ensure_connection()
    raw = connection.connection
    register_vector(raw)
    vtype = f"vector({int(collection.embedding_dimension)})"
    distance = f"(embedding::{vtype} <=> %(q)b::{vtype})"
    sql = (
        f"SELECT id, document_id, text, start_char, end_char, 1 - {distance} "  # noqa: S608
        f"FROM {connection.ops.quote_name(collection.partition)} ORDER BY {distance} LIMIT %(k)s"
    )
    times = []
    with psycopg.Cursor(raw) as cursor:
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, false)", [str(settings_ef())])
        for vector in vectors:
            started = time.perf_counter()
            cursor.execute(sql, {"q": vector, "k": K})
            cursor.fetchall()
            times.append((time.perf_counter() - started) * 1000)
        cursor.execute("RESET hnsw.ef_search")
    return times


def settings_ef() -> int:
    from django.conf import settings

    return max(int(settings.RETRIEVAL_HNSW_EF_SEARCH), 2 * K)


def test_query_latency_filtered_queries_and_erasure_at_scale(api: Any) -> None:
    actor = _actor()
    big = _collection("bench-big", actor)
    # Real English chunk text (docstring paragraphs, repeated with a document number) so the full-text
    # half of a hybrid query meets real word frequencies; the vectors stay random.
    prose = paragraphs(20000)
    loaded_big = synthetic_load(
        big,
        CHUNKS,
        seed=1,
        subject=SUBJECT,
        subject_docs=100,
        chunk_text=lambda index, ordinal: (
            f"{prose[(index * CHUNKS_PER_DOC + ordinal) % len(prose)]} ({index})"
        ),
    )
    _results["load"] = loaded_big
    _row(
        f"load: COPY of {loaded_big['rows']} chunks without index, rows/s",
        f"{loaded_big['rows'] / loaded_big['load_s']:.0f}",
    )
    _row(
        f"load: HNSW build over {loaded_big['rows']} chunks (1GB, 2 workers), s",
        f"{loaded_big['build_s']:.1f}",
    )

    client = api(actor)
    queries = [" ".join(t.split()[:10]) for t in paragraphs(QUERIES + 10)]
    url = f"/api/v1/collections/{big.pk}/query/"
    for query in queries[:5]:
        client.post(url, {"query": query, "k": K, "min_score": -1}, format="json")  # warm-up
    latencies, counts = [], []
    for query in queries[5 : 5 + QUERIES]:
        started = time.perf_counter()
        response = client.post(url, {"query": query, "k": K, "min_score": -1, "mode": "dense"}, format="json")
        latencies.append((time.perf_counter() - started) * 1000)
        counts.append(len(response.json()["results"]))
    hybrid: list[float] = []
    lexical: list[float] = []
    for query in queries[5 : 5 + QUERIES]:
        for mode, into in (("hybrid", hybrid), ("lexical", lexical)):
            started = time.perf_counter()
            response = client.post(
                url, {"query": query, "k": K, "min_score": -1, "mode": mode}, format="json"
            )
            into.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    filtered, filtered_counts = [], []
    for query in queries[5 : 5 + QUERIES]:
        body = {
            "query": query,
            "k": K,
            "min_score": -1,
            "mode": "dense",
            "filters": {"metadata": {"bucket": 7}},
        }
        started = time.perf_counter()
        response = client.post(url, body, format="json")
        filtered.append((time.perf_counter() - started) * 1000)
        filtered_counts.append(len(response.json()["results"]))
    # The references: embedding a query alone, the raw pgvector HNSW query alone, and (not in the
    # ratio: the API must do it too) the PII scan of the query for the Art. 12 log alone.
    loaded = embedding.load_model(big.embedding_model)
    embed_ms = [_timed(lambda q=q: embedding.embed(loaded, [q]))[0] * 1000 for q in queries[5 : 5 + QUERIES]]
    vectors = embedding.embed(loaded, queries[5 : 5 + QUERIES])
    raw_ms = _raw_pgvector_ms(big, vectors)
    mask_ms = [
        _timed(lambda q=q: pii.mask_text(q, pii.scan_text(q)))[0] * 1000 for q in queries[5 : 5 + QUERIES]
    ]
    if PROFILE:
        for mode in ("dense", "hybrid"):
            _profile(client, url, queries[5 : 5 + QUERIES], mode)
    _results["query"] = {
        "chunks": loaded_big["rows"],
        "api_p50_ms": _percentile(latencies, 50),
        "api_p99_ms": _percentile(latencies, 99),
        "hybrid_api_p50_ms": _percentile(hybrid, 50),
        "hybrid_api_p99_ms": _percentile(hybrid, 99),
        "lexical_api_p50_ms": _percentile(lexical, 50),
        "rows_min": min(counts),
        "embed_p50_ms": _percentile(embed_ms, 50),
        "raw_pgvector_p50_ms": _percentile(raw_ms, 50),
        "raw_pgvector_p99_ms": _percentile(raw_ms, 99),
        "query_pii_scan_p50_ms": _percentile(mask_ms, 50),
        "filtered_1pct_p50_ms": _percentile(filtered, 50),
        "filtered_1pct_p99_ms": _percentile(filtered, 99),
        "filtered_rows_min": min(filtered_counts),
        "filtered_rows_max": max(filtered_counts),
    }
    q = _results["query"]
    _row(
        f"query API p50 / p99 at {loaded_big['rows']} chunks, ms",
        f"{q['api_p50_ms']:.1f} / {q['api_p99_ms']:.1f}",
        "<= 30 / <= 100",
    )
    raw_p50 = q["embed_p50_ms"] + q["raw_pgvector_p50_ms"]
    q["api_over_raw_p50"] = q["api_p50_ms"] / raw_p50
    q["hybrid_over_raw_p50"] = q["hybrid_api_p50_ms"] / raw_p50
    _row(
        "  dense API p50 / (query embedding + pgvector search alone)",
        f"{q['api_over_raw_p50']:.2f}x",
        "<= 1.3x",
    )
    _row(
        "hybrid query API p50 / p99, ms (and / raw dense)",
        f"{q['hybrid_api_p50_ms']:.1f} / {q['hybrid_api_p99_ms']:.1f} ({q['hybrid_over_raw_p50']:.2f}x)",
        "p99 <= 100",
    )
    _row("lexical-only query API p50, ms", f"{q['lexical_api_p50_ms']:.1f}")
    _row("  of which: query embedding alone p50, ms", f"{q['embed_p50_ms']:.1f}")
    _row(
        "  raw pgvector HNSW query p50 / p99, ms (psycopg, binary vector)",
        f"{q['raw_pgvector_p50_ms']:.2f} / {q['raw_pgvector_p99_ms']:.2f}",
    )
    _row("  query PII scan for the Art. 12 log alone p50, ms", f"{q['query_pii_scan_p50_ms']:.1f}")
    _row(
        "filtered 1% query API p50 / p99, ms",
        f"{q['filtered_1pct_p50_ms']:.1f} / {q['filtered_1pct_p99_ms']:.1f}",
    )
    _row(
        "filtered 1% query rows returned (min-max)",
        f"{q['filtered_rows_min']}-{q['filtered_rows_max']}",
        f"= {K}",
    )

    # A 1k-chunk collection with a few rows of another subject, to purge while the big one exists.
    small = _collection("bench-small", actor)
    _synthetic_load(small, SMALL_CHUNKS, seed=2)
    other_key = pii.subject_key("email", "other.subject@example.org")
    small_docs = [f"doc-{i}" for i in range(5)]
    Document.objects.filter(collection=small, external_id__in=small_docs).update(subject_keys=[other_key])
    Chunk.objects.filter(collection=small, document__external_id__in=small_docs).update(
        subject_keys=[other_key]
    )
    other = ErasureScope(request_id=2, reference="BENCH-OTHER", keys=(other_key,))
    erasure.erasure_erase(other)

    key = pii.subject_key("email", SUBJECT)
    scope = ErasureScope(request_id=1, reference="BENCH", keys=(key,))
    erase_s, erased = _timed(lambda: erasure.erasure_erase(scope))
    verify_s, verified = _timed(lambda: erasure.erasure_verify(replace(scope, identifiers=(SUBJECT,))))
    assert verified["ok"], verified
    assert erased["collections"] == [big.pk]
    big_purge_s, purged_big = _timed(lambda: erasure.erasure_purge(scope, {"collections": [big.pk]}))
    small_purge_s, purged_small = _timed(lambda: erasure.erasure_purge(other, {"collections": [small.pk]}))
    _results["erasure"] = {
        "documents_deleted": erased["counts"]["documents"],
        "chunks_deleted": erased["counts"]["chunks"],
        "logical_erase_s": erase_s,
        "verify_s": verify_s,
        "purge_big_s": big_purge_s,
        "purge_big": purged_big,
        "purge_small_s": small_purge_s,
        "purge_small": purged_small,
    }
    _row(
        f"erasure: logical delete of {erased['counts']['documents']} docs"
        f" / {erased['counts']['chunks']} chunks, s",
        f"{erase_s:.3f}",
    )
    _row(
        "erasure: verify (keys + identifier text scan, all chunks), s", f"{verify_s:.3f}", "erase+verify <= 2"
    )
    _row(f"erasure: purge of the {loaded_big['rows']}-chunk collection, s", f"{big_purge_s:.1f}")
    _row(
        f"erasure: purge of the {SMALL_CHUNKS}-chunk collection beside it, s",
        f"{small_purge_s:.2f}",
        "seconds",
    )


@pytest.mark.skipif(COMPARE_CHUNKS <= 0, reason="RETRIEVAL_BENCH_COMPARE_CHUNKS=0")
def test_purge_by_rebuild_against_in_place_vacuum() -> None:
    """The measurement behind RETRIEVAL_PURGE_METHOD=reindex: 1% deleted, VACUUM in place vs rebuild."""
    actor = _actor()
    timings = {}
    for method in ("vacuum", "reindex", "full"):
        collection = _collection(f"bench-purge-{method}", actor)
        _synthetic_load(collection, COMPARE_CHUNKS, seed=3)
        doomed = [f"doc-{i}" for i in range(0, COMPARE_CHUNKS // CHUNKS_PER_DOC, 100)]
        with transaction.atomic():
            ids = list(
                Document.objects.filter(collection=collection, external_id__in=doomed).values_list(
                    "pk", flat=True
                )
            )
            storage.delete_document_chunks(collection, ids)
            Document.objects.filter(pk__in=ids).delete()
        timings[method], _ = _timed(lambda c=collection, m=method: storage.purge_partition(c, method=m))
    _results["purge_methods"] = {"chunks": COMPARE_CHUNKS, "deleted_share": 0.01, **timings}
    _row(
        f"purge {COMPARE_CHUNKS} chunks, 1% deleted: VACUUM in place (raw) / rebuild / FULL, s",
        f"{timings['vacuum']:.1f} / {timings['reindex']:.1f} / {timings['full']:.1f}",
    )
