"""Indexing against a peer: our pipeline and LlamaIndex into PGVectorStore, same documents and model.

make bench-peer                  (creates .venv-peer from tests/benchmarks/peer/requirements.txt first)
make bench PYTEST_ARGS="tests/benchmarks/test_indexing_peer_bench.py"   (skips without .venv-peer)

The documents are the first PEER_BENCH_DOCUMENTS (default 1,000) of the shipped IR set
(tests/benchmarks/ir_set.py: standard-library docstrings, nothing downloaded), each with its title.
- Ours: documents_ingest + documents_claim + documents_process + the index build, as
  test_retrieval_bench.py's end-to-end indexing benchmark runs them, with the platform's defaults:
  every usable core for ingestion, the PII scan included, title embedded with each chunk.
- Peer: tests/benchmarks/peer/llamaindex_indexing.py under .venv-peer's python: SentenceSplitter with
  the collection's chunk size and overlap counted in the model's own tokens, HuggingFaceEmbedding on
  the platform's local copy of the model with PEER_BENCH_TORCH_THREADS torch threads (default 1, the
  issue's setting), PGVectorStore with an HNSW index of the collection's m / ef_construction, in a
  database of its own on the same PostgreSQL server (created here, dropped afterwards).
Each side loads and warms its model before its clock starts; each counts the chunk rows it stored.
Appends the figures to bench-results/indexing_peer.json (a list, newest last; summary.py's `_peer`
reads ours_chunks_per_s, peer_chunks_per_s and ours_over_peer). The two cores are shared with
whatever else runs: the load average is recorded around each side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from governance import pii
from retrieval import embedding, intake
from retrieval.choices import DocumentStatus
from retrieval.models import Chunk, Document
from retrieval.services import collections, documents
from tests.benchmarks.ir_set import build
from tests.factories import AISystemFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
RESULTS_FILE = ROOT / "bench-results" / "indexing_peer.json"
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"
PEER_SCRIPT = Path(__file__).resolve().parent / "peer" / "llamaindex_indexing.py"
DOCUMENTS = int(os.environ.get("PEER_BENCH_DOCUMENTS", "1000"))
PEER_THREADS = int(os.environ.get("PEER_BENCH_TORCH_THREADS", "1"))
PEER_TIMEOUT_S = int(os.environ.get("PEER_BENCH_TIMEOUT_S", "3600"))

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not PEER_PYTHON.exists(),
        reason=".venv-peer is missing: `make bench-peer` creates it (tests/benchmarks/peer/requirements.txt)",
    ),
]


def _load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def _ours(docs: list[dict[str, str]]) -> dict[str, Any]:
    actor = UserFactory(username="bench-peer", role="engineer")
    system = AISystemFactory(owner=actor)
    collection = collections.collection_create(actor=actor, name="bench-peer-indexing", ai_system=system)
    items = [intake.document_from_object(doc) for doc in docs]
    loaded = embedding.load_model(collection.embedding_model)
    embedding.embed(loaded, ["warm up the model"] * 8)
    pii.warm_up()

    load_before = _load_average()
    started = time.perf_counter()
    accepted = documents.documents_ingest(actor=actor, collection=collection, items=items)
    ids = documents.documents_claim(document_ids=[d.pk for d in accepted.documents])
    documents.documents_process(document_ids=ids)
    if collections.collection_index_build_due(collection_id=collection.pk):
        collections.collection_build_index(collection_id=collection.pk)
    seconds = time.perf_counter() - started

    indexed = Document.objects.filter(collection=collection, status=DocumentStatus.INDEXED).count()
    assert indexed == len(items), f"{indexed} of {len(items)} documents indexed"
    chunks = Chunk.objects.filter(collection=collection).count()
    return {
        "collection": collection,
        "chunks": chunks,
        "seconds": seconds,
        "chunks_per_s": chunks / seconds,
        "torch_threads": embedding.ingest_threads(),
        "load_average_before": load_before,
        "load_average_after": _load_average(),
    }


def _peer(docs_file: Path, collection: Any, database: str) -> dict[str, Any]:
    db = connection.settings_dict
    command = [
        str(PEER_PYTHON),
        str(PEER_SCRIPT),
        f"--documents={docs_file}",
        f"--model={embedding.resolve_path(collection.embedding_model)}",
        f"--chunk-size={collection.chunk_size}",
        f"--chunk-overlap={collection.chunk_overlap}",
        f"--batch-size={int(settings.RETRIEVAL_EMBED_BATCH)}",
        f"--threads={PEER_THREADS}",
        f"--hnsw-m={collection.hnsw_m}",
        f"--hnsw-ef-construction={collection.hnsw_ef_construction}",
        f"--pg-host={db['HOST'] or ''}",
        f"--pg-port={db['PORT'] or ''}",
        f"--pg-user={db['USER'] or ''}",
        f"--pg-database={database}",
    ]
    env = {
        **os.environ,
        "PEER_PG_PASSWORD": str(db["PASSWORD"] or ""),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    env.pop("PYTHONPATH", None)  # nothing of the platform's venv leaks into the peer's
    load_before = _load_average()
    finished = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=PEER_TIMEOUT_S, check=False, cwd=ROOT
    )
    if finished.returncode != 0:
        sys.stderr.write(finished.stderr[-4000:])
        pytest.fail(f"the peer script exited {finished.returncode} (its stderr is above)")
    # The last line is the result; LlamaIndex may print a notice before it.
    result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    result["load_average_before"] = load_before
    result["load_average_after"] = _load_average()
    return result


def test_indexing_against_llamaindex_pgvectorstore(tmp_path: Path) -> None:
    docs = build(documents=DOCUMENTS, queries=0).documents
    docs_file = tmp_path / "documents.json"
    docs_file.write_text(json.dumps(docs), encoding="utf-8")

    ours = _ours(docs)
    collection = ours.pop("collection")

    database = f"peer_llamaindex_{os.getpid()}"  # the peer's alone: nothing of the platform's is touched
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{database}"')
    try:
        peer = _peer(docs_file, collection, database)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    ratio = ours["chunks_per_s"] / peer["chunks_per_s"]
    figures = {
        "at": datetime.now(tz=UTC).isoformat(),
        "documents": len(docs),
        "corpus": "tests/benchmarks/ir_set.py (stdlib docstrings), title embedded with each chunk",
        "chunk_size": collection.chunk_size,
        "chunk_overlap": collection.chunk_overlap,
        "ours_chunks": ours["chunks"],
        "ours_seconds": ours["seconds"],
        "ours_chunks_per_s": ours["chunks_per_s"],
        "ours_torch_threads": ours["torch_threads"],
        "ours_pii_scan": True,
        "peer_chunks": peer["chunks"],
        "peer_seconds": peer["seconds"],
        "peer_chunks_per_s": peer["chunks_per_s"],
        "peer_torch_threads": peer["torch_threads"],
        "peer_embed_batch_size": peer.get("embed_batch_size"),
        "peer_hnsw": peer.get("hnsw"),
        "peer_versions": peer.get("versions", {}),
        "ours_over_peer": ratio,
        "load_average": {
            "ours_before": ours["load_average_before"],
            "ours_after": ours["load_average_after"],
            "peer_before": peer["load_average_before"],
            "peer_after": peer["load_average_after"],
        },
    }
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    try:
        history = json.loads(RESULTS_FILE.read_text())
    except (OSError, ValueError):
        history = []
    history = history if isinstance(history, list) else [history]
    history.append(figures)
    RESULTS_FILE.write_text(json.dumps(history, indent=2) + "\n")

    print(f"\n\nIndexing against LlamaIndex PGVectorStore, {len(docs)} documents")
    print(f"  {'side':44} {'chunks':>7} {'s':>8} {'chunks/s':>9}  threads  load before/after")
    for name, side in (("ours (pipeline, PII scan included)", ours), ("LlamaIndex PGVectorStore", peer)):
        load = f"{side['load_average_before'][0]:.2f}/{side['load_average_after'][0]:.2f}"
        print(
            f"  {name:44} {side['chunks']:>7} {side['seconds']:>8.1f} {side['chunks_per_s']:>9.2f}"
            f"  {side['torch_threads']:>7}  {load}"
        )
    print(f"  ours / peer (chunks/s): {ratio:.2f}x  (target >= 1.5x)")
