"""Synthetic collections for the benchmarks: indexed documents and random unit vectors loaded by COPY."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from django.db import connection
from django.utils import timezone

from governance import pii
from retrieval import storage
from retrieval.choices import DocumentStatus, SourceType
from retrieval.models import Collection, Document

CHUNKS_PER_DOC = 10


def synthetic_load(
    collection: Collection,
    chunks: int,
    *,
    seed: int,
    subject: str,
    subject_docs: int = 0,
    text: Callable[[int], str] = lambda i: "",
    metadata: Callable[[int], dict[str, Any]] = lambda i: {"bucket": i % 100},
    hnsw: bool = True,
    chunk_text: Callable[[int, int], str] | None = None,
) -> dict[str, float]:
    """Documents of CHUNKS_PER_DOC chunks; the first `subject_docs` carry the subject's e-mail key.

    The partition is loaded without its HNSW index (COPY) and the index built after, when asked.
    Returns the load and build times and the rows loaded.
    """
    key = pii.subject_key("email", subject)
    docs = chunks // CHUNKS_PER_DOC
    now = timezone.now()
    started = time.perf_counter()
    rows = Document.objects.bulk_create(
        [
            Document(
                collection=collection,
                external_id=f"doc-{i}",
                title=f"Document {i}",
                source_type=SourceType.JSON,
                sha256=f"{i:064x}",
                text=text(i),
                status=DocumentStatus.INDEXED,
                progress=1.0,
                chunk_count=CHUNKS_PER_DOC,
                indexed_at=now,
                metadata=metadata(i),
                subject_keys=[key] if i < subject_docs else [],
            )
            for i in range(docs)
        ],
        batch_size=2000,
    )
    storage.drop_hnsw_index(collection)
    rng = np.random.default_rng(seed)

    def generate() -> Iterator[tuple[int, storage.ChunkRow, np.ndarray]]:
        for index, document in enumerate(rows):
            vectors = rng.standard_normal((CHUNKS_PER_DOC, collection.embedding_dimension)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            keys = [key] if index < subject_docs else []
            for ordinal in range(CHUNKS_PER_DOC):
                chunk = (
                    chunk_text(index, ordinal)
                    if chunk_text is not None
                    else f"Chunk {ordinal} of document {index}: synthetic text about topic {index % 97}."
                )
                yield document.pk, storage.ChunkRow(ordinal, chunk, 0, len(chunk), 12, keys), vectors[ordinal]

    storage.copy_rows(collection, generate())
    load_s = time.perf_counter() - started
    build_s = storage.build_hnsw_index(collection) if hnsw else 0.0
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {collection.partition}")
        cursor.execute("ANALYZE retrieval_document")
    return {"load_s": load_s, "build_s": build_s, "rows": docs * CHUNKS_PER_DOC}
