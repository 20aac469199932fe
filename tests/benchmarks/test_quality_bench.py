"""Retrieval quality through the query API against the raw model, on a set built from stdlib docstrings.

make bench PYTEST_ARGS="-k quality"

The set (tests/benchmarks/ir_set.py): about 1,000 documents, 300 known-item queries (a docstring's
summary line asks for its body). Measured, nDCG@10 with one relevant document per query:
- raw model: exact cosine search over the bodies embedded outside the platform (the same model);
- BM25 alone: a plain Okapi BM25 (k1 0.9, b 0.4) over the bodies, outside the platform;
- the API in each mode: dense without titles (what the platform did before), dense with titles,
  lexical (PostgreSQL full-text), hybrid (reciprocal rank fusion), hybrid grouped by document.
Writes bench-results/quality.json (flat keys, newest run last).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval import embedding, intake
from retrieval.choices import DocumentStatus
from retrieval.models import Document
from retrieval.services import collections, documents
from tests.benchmarks.ir_set import IRSet, build
from tests.factories import AISystemFactory, UserFactory

RESULTS_FILE = Path(__file__).resolve().parents[2] / "bench-results" / "quality.json"
QUERIES = int(os.environ.get("QUALITY_BENCH_QUERIES", "300"))
K = 10

pytestmark = pytest.mark.django_db(transaction=True)


def ndcg_at_10(ranked_ids: list[str], relevant: str) -> float:
    """nDCG@10 with one relevant document: 1 / log2(rank + 1) when it is in the first ten."""
    for rank, external_id in enumerate(ranked_ids[:K], start=1):
        if external_id == relevant:
            return 1.0 / math.log2(rank + 1)
    return 0.0


def _distinct(ids: list[str]) -> list[str]:
    """Document ids in first-seen order: the ranking of documents a list of chunks gives."""
    return list(dict.fromkeys(ids))


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def bm25_rankings(ir: IRSet, k1: float = 0.9, b: float = 0.4) -> list[list[str]]:
    """Okapi BM25 over title and body, a reference outside PostgreSQL."""
    docs = [Counter(_tokens(d["title"] + " " + d["text"])) for d in ir.documents]
    lengths = np.array([sum(d.values()) for d in docs], dtype=float)
    average = lengths.mean()
    frequency: Counter[str] = Counter(term for d in docs for term in d)
    n = len(docs)
    rankings = []
    for query, _ in ir.queries[:QUERIES]:
        scores = np.zeros(n)
        for term in set(_tokens(query)):
            if term not in frequency:
                continue
            idf = math.log(1 + (n - frequency[term] + 0.5) / (frequency[term] + 0.5))
            tf = np.array([d.get(term, 0) for d in docs], dtype=float)
            scores += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths / average))
        order = np.argsort(-scores, kind="stable")[:K]
        rankings.append([ir.documents[i]["external_id"] for i in order])
    return rankings


def _ingest(actor: Any, name: str, ir: IRSet, **options: Any) -> Any:
    collection = collections.collection_create(
        actor=actor, name=name, ai_system=AISystemFactory(owner=actor), **options
    )
    items = [intake.document_from_object(d) for d in ir.documents]
    accepted = documents.documents_ingest(actor=actor, collection=collection, items=items)
    ids = documents.documents_claim(document_ids=[d.pk for d in accepted.documents])
    documents.documents_process(document_ids=ids)
    if collections.collection_index_build_due(collection_id=collection.pk):
        collections.collection_build_index(collection_id=collection.pk)
    indexed = Document.objects.filter(collection=collection, status=DocumentStatus.INDEXED).count()
    assert indexed == len(ir.documents)
    collection.refresh_from_db()
    return collection


def _api_ndcg(client: Any, collection: Any, ir: IRSet, **body: Any) -> float:
    url = f"/api/v1/collections/{collection.pk}/query/"
    scores = []
    for query, relevant in ir.queries[:QUERIES]:
        response = client.post(url, {"query": query, "k": K, "min_score": -1, **body}, format="json")
        assert response.status_code == 200, response.content
        ids = _distinct([r["citation"]["external_id"] for r in response.json()["results"]])
        scores.append(ndcg_at_10(ids, relevant))
    return float(np.mean(scores))


def test_retrieval_quality_against_the_raw_model_and_bm25(api: Any) -> None:
    ir = build()
    actor = UserFactory(username="quality", role="engineer")
    client = api(actor)

    loaded = embedding.load_model("all-MiniLM-L6-v2")
    bodies = embedding.embed(loaded, [d["text"] for d in ir.documents])
    asked = embedding.embed(loaded, [q for q, _ in ir.queries[:QUERIES]])
    raw = []
    for vector, (_, relevant) in zip(asked, ir.queries[:QUERIES], strict=True):
        order = np.argsort(-(bodies @ vector), kind="stable")[:K]
        raw.append(ndcg_at_10([ir.documents[i]["external_id"] for i in order], relevant))
    bm25 = [
        ndcg_at_10(ranking, relevant)
        for ranking, (_, relevant) in zip(bm25_rankings(ir), ir.queries[:QUERIES], strict=True)
    ]

    plain = _ingest(actor, "quality-plain", ir, embed_title=False, retrieval_mode="dense")
    titled = _ingest(actor, "quality-titled", ir)
    figures = {
        "documents": len(ir.documents),
        "queries": min(QUERIES, len(ir.queries)),
        "ndcg_at_10_raw_model": float(np.mean(raw)),
        "ndcg_at_10_bm25": float(np.mean(bm25)),
        "ndcg_at_10_dense_without_title": _api_ndcg(client, plain, ir, mode="dense"),
        "ndcg_at_10_dense": _api_ndcg(client, titled, ir, mode="dense"),
        "ndcg_at_10_lexical": _api_ndcg(client, titled, ir, mode="lexical"),
        "ndcg_at_10_hybrid": _api_ndcg(client, titled, ir, mode="hybrid"),
        "ndcg_at_10_hybrid_grouped": _api_ndcg(client, titled, ir, mode="hybrid", group_by_document=True),
        "ndcg_at_10_hybrid_without_title": _api_ndcg(client, plain, ir, mode="hybrid"),
    }
    print("\n\nRetrieval quality (stdlib docstrings, known-item, nDCG@10)")
    for name, value in figures.items():
        print(f"  {name:40} {value:.4f}" if isinstance(value, float) else f"  {name:40} {value}")
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else []
    history.append({"at": datetime.now(tz=UTC).isoformat(), **figures})
    RESULTS_FILE.write_text(json.dumps(history, indent=2) + "\n")
    # The platform with no additions must match the raw model (same model, exact vs HNSW aside).
    assert figures["ndcg_at_10_dense_without_title"] >= figures["ndcg_at_10_raw_model"] - 0.02
