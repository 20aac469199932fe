"""The retrieval side of an erasure request (DESIGN section 9), in two phases.

Logical: one transaction deletes every document and chunk carrying the subject's keys, so no query
can return them again. Physical: the affected collections' partitions (and only those) are purged
so the deleted rows and vectors leave the heap and the HNSW graph. Each function is idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from governance.services.audit import audit_record
from retrieval import storage
from retrieval.models import Chunk, Collection, Document


def _keys(keys: Sequence[str]) -> list[str]:
    return sorted({str(key) for key in keys if key})


def erasure_find(keys: Sequence[str]) -> dict[str, Any]:
    """The documents and chunks carrying any of the subject keys (GIN lookups), per collection."""
    wanted = _keys(keys)
    if not wanted:
        return {"documents": [], "chunks": 0, "collections": []}
    documents = list(Document.objects.filter(subject_keys__overlap=wanted).values_list("pk", "collection_id"))
    chunk_rows = list(
        Chunk.objects.filter(subject_keys__overlap=wanted).values_list("collection_id", "document_id")
    )
    collections = sorted({c for _, c in documents} | {c for c, _ in chunk_rows})
    return {
        "documents": sorted(pk for pk, _ in documents),
        "chunks": len(chunk_rows),
        "collections": collections,
    }


@transaction.atomic
def erasure_erase(keys: Sequence[str]) -> dict[str, Any]:
    """Logical phase: delete the subject's documents (any version or status) and chunks in one transaction."""
    started = time.monotonic()
    wanted = _keys(keys)
    if not wanted:
        return {"documents_deleted": 0, "chunks_deleted": 0, "collections": [], "seconds": 0.0}
    documents = list(
        Document.objects.select_for_update()
        .filter(subject_keys__overlap=wanted)
        .values_list("pk", "collection_id")
    )
    document_ids = [pk for pk, _ in documents]
    with connection.cursor() as cursor:
        # Chunks by key (a chunk may carry a key its document lost to a later version) and by document.
        cursor.execute(
            "DELETE FROM retrieval_chunk WHERE subject_keys && %s::varchar(64)[] OR document_id = ANY(%s) "
            "RETURNING collection_id",
            [wanted, document_ids],
        )
        chunk_collections = [row[0] for row in cursor.fetchall()]
    Document.objects.filter(pk__in=document_ids).delete()
    collections = sorted({c for _, c in documents} | set(chunk_collections))
    result = {
        "documents_deleted": len(document_ids),
        "chunks_deleted": len(chunk_collections),
        "collections": collections,
        "erased_at": timezone.now().isoformat(),
    }
    audit_record(
        actor=None,
        action="erasure.retrieval_erased",
        object_type="retrieval.collection",
        payload={
            "documents": len(document_ids),
            "chunks": len(chunk_collections),
            "collections": collections,
            "keys": len(wanted),
        },
    )
    result["seconds"] = round(time.monotonic() - started, 4)
    return result


def erasure_purge(erased: dict[str, Any]) -> dict[str, Any]:
    """Physical phase: purge only the partitions of the collections the logical phase touched."""
    if connection.in_atomic_block:
        raise RuntimeError("the purge runs VACUUM, which cannot run inside a transaction")
    started = time.monotonic()
    purged: dict[str, Any] = {}
    for collection in Collection.objects.filter(pk__in=erased.get("collections", [])).order_by("pk"):
        purged[str(collection.pk)] = storage.purge_partition(collection)
    # Documents are not partitioned, but their table has no HNSW index: its VACUUM is cheap.
    documents_s = storage.vacuum_table(Document._meta.db_table) if purged else 0.0
    result = {
        "collections": purged,
        "documents_vacuum_s": round(documents_s, 4),
        "seconds": round(time.monotonic() - started, 4),
        "purged_at": timezone.now().isoformat(),
    }
    with transaction.atomic():
        audit_record(
            actor=None,
            action="erasure.retrieval_purged",
            object_type="retrieval.collection",
            payload={"collections": sorted(purged), "seconds": result["seconds"]},
        )
    return result


def erasure_verify(keys: Sequence[str], identifiers: Sequence[str]) -> dict[str, Any]:
    """No row carries the keys, and no document or chunk text (any collection) contains an identifier."""
    wanted = _keys(keys)
    found = erasure_find(wanted)
    needles = sorted({identifier.strip() for identifier in identifiers if identifier and identifier.strip()})
    text_documents: list[int] = []
    text_chunks = 0
    if needles:
        patterns = ["%" + _escape_like(needle) + "%" for needle in needles]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM retrieval_document WHERE text ILIKE ANY(%s) OR title ILIKE ANY(%s) "
                "ORDER BY id",
                [patterns, patterns],
            )
            text_documents = [row[0] for row in cursor.fetchall()]
            cursor.execute("SELECT count(*) FROM retrieval_chunk WHERE text ILIKE ANY(%s)", [patterns])
            text_chunks = int(cursor.fetchone()[0])
    ok = not found["documents"] and not found["chunks"] and not text_documents and not text_chunks
    return {
        "ok": ok,
        "documents_with_keys": len(found["documents"]),
        "chunks_with_keys": found["chunks"],
        "documents_with_identifiers": text_documents,
        "chunks_with_identifiers": text_chunks,
    }


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
