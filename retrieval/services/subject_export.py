"""The retrieval participant's export (GDPR Art. 15 and 20): the subject's documents, chunks, query logs.

Reads only. The items are chosen by the erasure module's own selection (`_subject_documents`,
`_chunk_where`, `_subject_where`), so an access request lists exactly what an erasure request would
delete or redact: an item carrying one of the subject's keys, or a name-only item the officer
confirmed. A query log item carries what the row holds about the subject (the masked query, its
filters, the PII types found, when and where it was asked) and not who asked it or which other
documents came back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from governance.participants import ErasureScope
from governance.services.processing_contexts import RETENTION_NOT_SET, system_context, unique
from retrieval.models import Collection, Document, QueryLog
from retrieval.services.erasure import (
    CHUNK_TABLE,
    QUERY_LOG_TABLE,
    _chunk_where,
    _fetch,
    _subject_documents,
    _subject_where,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _pii_types(summary: dict[str, Any]) -> list[str]:
    return sorted(summary or {})


def _document_item(document: Document, collections: dict[int, Collection]) -> dict[str, Any]:
    return {
        "kind": "document",
        "id": document.pk,
        "portable": True,
        "collection": collections[document.collection_id].name,
        "collection_id": document.collection_id,
        "external_id": document.external_id,
        "version": document.version,
        "title": document.title,
        "source": document.source,
        "source_type": document.source_type,
        "metadata": document.metadata,
        "status": document.status,
        "created_at": _iso(document.created_at),
        "indexed_at": _iso(document.indexed_at),
        "text": document.text,
        "pii_types": _pii_types(document.pii_summary),
    }


def _chunk_items(scope: ErasureScope, document_ids: list[int]) -> list[tuple[int, dict[str, Any]]]:
    """(collection id, item) of every chunk erase would delete: by key, and of the subject's documents."""
    where, params = _chunk_where(scope, document_ids)
    rows = _fetch(
        f"SELECT id, collection_id, document_id, ordinal, text, start_char, end_char "  # noqa: S608
        f"FROM {CHUNK_TABLE} WHERE {where} ORDER BY document_id, ordinal, id",
        params,
    )
    return [
        (
            int(collection_id),
            {
                "kind": "chunk",
                "id": int(pk),
                "portable": True,
                "document_id": int(document_id),
                "ordinal": int(ordinal),
                "start_char": int(start),
                "end_char": int(end),
                "text": text,
            },
        )
        for pk, collection_id, document_id, ordinal, text, start, end in rows
    ]


def _query_log_item(log: QueryLog, collections: dict[int, Collection]) -> dict[str, Any]:
    return {
        "kind": "query_log",
        "id": log.pk,
        "portable": True,
        "collection": collections[log.collection_id].name,
        "collection_id": log.collection_id,
        "created_at": _iso(log.created_at),
        "query": log.query_masked,
        "filters": log.filters,
        "pii_types": _pii_types(log.query_pii_summary),
        "search_mode": log.search_mode,
        "retrieval_mode": log.retrieval_mode,
        "no_relevant_fragment": log.no_relevant_fragment,
    }


def _collection_context(collection: Collection) -> dict[str, Any]:
    days = collection.document_retention_days
    return system_context(
        register="collection",
        pk=collection.pk,
        name=collection.name,
        system=collection.ai_system,
        source=collection.description,
        retention=f"{days} days after a document is stored" if days else RETENTION_NOT_SET,
    )


def _collections(ids: Iterable[int]) -> dict[int, Collection]:
    return Collection.objects.select_related("ai_system").in_bulk(sorted(set(ids)))


def erasure_export(scope: ErasureScope) -> dict[str, Any]:
    """What retrieval holds about the subject, chosen as erase chooses it, with its collections' facts."""
    documents = _subject_documents(scope)
    document_ids = [pk for pk, _ in documents]
    chunks = _chunk_items(scope, document_ids)
    where, params = _subject_where(scope, "query_log")
    log_ids = [int(row[0]) for row in _fetch(f"SELECT id FROM {QUERY_LOG_TABLE} WHERE {where}", params)]  # noqa: S608
    logs = list(QueryLog.objects.filter(pk__in=log_ids).order_by("created_at", "pk"))
    collections = _collections(
        [c for _, c in documents] + [c for c, _ in chunks] + [log.collection_id for log in logs]
    )
    items = [
        _document_item(document, collections)
        for document in Document.objects.filter(pk__in=document_ids).order_by("pk")
    ]
    items += [{**item, "collection": collections[c].name} for c, item in chunks]
    items += [_query_log_item(log, collections) for log in logs]
    return {
        "items": items,
        "processing": unique(_collection_context(collections[pk]) for pk in sorted(collections)),
    }
