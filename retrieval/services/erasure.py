"""The retrieval participant of an erasure request (DESIGN section 9): documents, chunks, query logs.

Which items are the subject's: a document, chunk or query log row carrying one of `scope.keys`, or
one of `scope.name_keys` when the officer confirmed that very item ((kind, id) in `scope.confirmed`,
kinds "document" and "query_log"; a confirmed document takes its chunks with it). An item carrying
only name keys is reported by `find` as a `NameOnlyMatch` and left alone. Keys cover every stored
field: ingestion keys the text, title, external id, source and metadata values.

- find: GIN lookups on the keys, read only.
- erase (logical phase, one transaction): deletes the subject's documents (any version or status)
  and their chunks, and redacts the subject's query log rows (the query becomes "[erased under
  request <reference>]", the filters are emptied, the keys cleared; who asked, when, the PII counts
  and the cited chunk ids stay for Art. 12). Run again, it finds nothing: counts all zero. A crash
  half-way rolls the whole transaction back, so a rerun starts from the same state.
- purge (physical phase): VACUUM of the affected collections' partitions only (HNSW rebuilt, see
  storage.purge_partition), then the documents table (and the query log table when rows were
  redacted): VACUUM, REINDEX of their indexes that can hold values of deleted rows (the metadata GIN
  kept the e-mail as a live entry after a plain VACUUM; the btree of external ids), and ANALYZE of
  every touched table so `pg_stats` (most common values, histogram bounds) no longer shows them.
- verify, by keys: no document, chunk or query log row carries the keys (or is a confirmed item),
  through the GIN indexes, so the cost grows with the subject. By text (the raw identifiers, only
  here): a case-insensitive substring search of
    * every document's title, text, external id, source and metadata, in every collection, and every
      query log row's query and filters. This scope is deliberately not limited to the collections
      the keys point at: the text search exists for identifiers the scanner did not key (a phone
      number it did not recognise, a name split differently), and those can sit in any collection.
      A chunk's text is a slice of its document's text (same policy, same masking), so this search
      covers every chunk of every collection too;
    * the chunk text of the affected collections (those the request erased in, plus those still
      holding a document with the keys), as a direct check of what search can return.
  The text part reads the documents table once (no chunk partition outside the affected ones), so
  it grows with the corpus text, not with the vector index; it runs once per request, after the
  purge, off any request path. A field that cannot be searched (no identifiers given, a database
  error) makes verify answer ok: False and name it in `unsearchable`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from governance.models import AuditEvent
from governance.participants import ErasureScope, NameOnlyMatch
from governance.services.audit import audit_record
from retrieval import storage
from retrieval.models import Collection, Document, QueryLog

logger = logging.getLogger(__name__)

COUNT_NAMES = ("documents", "chunks", "query_logs")
# The retrieval events of one request are found again by (object type, object id = request id).
AUDIT_OBJECT_TYPE = "governance.erasurerequest"
ERASED_ACTION = "erasure.retrieval_erased"
DOCUMENTS_TABLE = Document._meta.db_table
QUERY_LOG_TABLE = QueryLog._meta.db_table
CHUNK_TABLE = "retrieval_chunk"


def _keys(keys: Sequence[str]) -> list[str]:
    return sorted({str(key) for key in keys if key})


def redaction(scope: ErasureScope) -> str:
    """What a redacted query log row's query says instead."""
    return f"[erased under request {scope.reference}]"


# --- Who is the subject's ------------------------------------------------------------------------


def _subject_where(scope: ErasureScope, kind: str) -> tuple[str, list[Any]]:
    """WHERE clause (on a table with `id` and `subject_keys`) selecting the subject's items of a kind."""
    clauses: list[str] = []
    params: list[Any] = []
    keys = _keys(scope.keys)
    if keys:
        clauses.append("subject_keys && %s::varchar(64)[]")
        params.append(keys)
    confirmed = scope.confirmed_ids(kind)
    names = _keys(scope.name_keys)
    if confirmed and names:
        clauses.append("(subject_keys && %s::varchar(64)[] AND id = ANY(%s))")
        params += [names, confirmed]
    if not clauses:
        return "FALSE", []
    return "(" + " OR ".join(clauses) + ")", params


def _name_only_where(scope: ErasureScope, kind: str) -> tuple[str, list[Any]]:
    """Items carrying a name key of the subject, none of their other keys, and not confirmed."""
    names = _keys(scope.name_keys)
    if not names:
        return "FALSE", []
    sql = "subject_keys && %s::varchar(64)[]"
    params: list[Any] = [names]
    keys = _keys(scope.keys)
    if keys:
        sql += " AND NOT (subject_keys && %s::varchar(64)[])"
        params.append(keys)
    confirmed = scope.confirmed_ids(kind)
    if confirmed:
        sql += " AND NOT (id = ANY(%s))"
        params.append(confirmed)
    return sql, params


def _fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return list(cursor.fetchall())


def _subject_documents(scope: ErasureScope, *, lock: bool = False) -> list[tuple[int, int]]:
    where, params = _subject_where(scope, "document")
    suffix = " ORDER BY id FOR UPDATE" if lock else " ORDER BY id"
    rows = _fetch(f"SELECT id, collection_id FROM {DOCUMENTS_TABLE} WHERE {where}{suffix}", params)  # noqa: S608
    return [(int(pk), int(collection)) for pk, collection in rows]


def _chunk_where(scope: ErasureScope, document_ids: list[int]) -> tuple[str, list[Any]]:
    """Chunks by key (one may carry a key its document lost to a later version) and by document."""
    keys = _keys(scope.keys)
    clauses: list[str] = []
    params: list[Any] = []
    if keys:
        clauses.append("subject_keys && %s::varchar(64)[]")
        params.append(keys)
    if document_ids:
        clauses.append("document_id = ANY(%s)")
        params.append(document_ids)
    if not clauses:
        return "FALSE", []
    return "(" + " OR ".join(clauses) + ")", params


def _collections_by_id(ids: set[int]) -> dict[int, str]:
    return dict(Collection.objects.filter(pk__in=ids).values_list("pk", "name"))


def _name_only(scope: ErasureScope) -> list[NameOnlyMatch]:
    where, params = _name_only_where(scope, "document")
    documents = _fetch(
        f"SELECT id, collection_id FROM {DOCUMENTS_TABLE} WHERE {where} ORDER BY id",  # noqa: S608
        params,
    )
    where, params = _name_only_where(scope, "query_log")
    logs = _fetch(
        f"SELECT id, collection_id FROM {QUERY_LOG_TABLE} WHERE {where} ORDER BY id",  # noqa: S608
        params,
    )
    names = _collections_by_id({int(c) for _, c in documents} | {int(c) for _, c in logs})
    matches = [
        NameOnlyMatch(
            kind="document", object_id=int(pk), label=f"document {pk} in collection '{names.get(c, c)}'"
        )
        for pk, c in documents
    ]
    matches += [
        NameOnlyMatch(
            kind="query_log", object_id=int(pk), label=f"query log {pk} of collection '{names.get(c, c)}'"
        )
        for pk, c in logs
    ]
    return matches


# --- find ----------------------------------------------------------------------------------------


def erasure_find(scope: ErasureScope) -> dict[str, Any]:
    """What erase would remove (counts, collections) and the name-only items to confirm; reads only."""
    documents = _subject_documents(scope)
    where, params = _chunk_where(scope, [pk for pk, _ in documents])
    chunk_rows = _fetch(
        f"SELECT collection_id, count(*) FROM {CHUNK_TABLE} WHERE {where} GROUP BY collection_id",  # noqa: S608
        params,
    )
    where, params = _subject_where(scope, "query_log")
    logs = _fetch(f"SELECT count(*) FROM {QUERY_LOG_TABLE} WHERE {where}", params)  # noqa: S608
    collections = sorted({c for _, c in documents} | {int(c) for c, _ in chunk_rows})
    return {
        "counts": {
            "documents": len(documents),
            "chunks": sum(int(n) for _, n in chunk_rows),
            "query_logs": int(logs[0][0]),
        },
        "collections": collections,
        "name_only": _name_only(scope),
    }


# --- erase ---------------------------------------------------------------------------------------


@transaction.atomic
def erasure_erase(scope: ErasureScope) -> dict[str, Any]:
    """Logical phase, one transaction: delete documents and chunks, redact query log rows."""
    started = time.monotonic()
    documents = _subject_documents(scope, lock=True)
    document_ids = [pk for pk, _ in documents]
    where, params = _chunk_where(scope, document_ids)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {CHUNK_TABLE} WHERE {where} RETURNING collection_id", params)  # noqa: S608
        chunk_collections = [int(row[0]) for row in cursor.fetchall()]
        if document_ids:
            cursor.execute(f"DELETE FROM {DOCUMENTS_TABLE} WHERE id = ANY(%s)", [document_ids])  # noqa: S608
        log_where, log_params = _subject_where(scope, "query_log")
        # The keys are emptied with the text: a second run finds nothing (idempotent, counts zero).
        cursor.execute(
            f"UPDATE {QUERY_LOG_TABLE} SET query_masked = %s, filters = '{{}}'::jsonb, "  # noqa: S608
            f"subject_keys = '{{}}'::varchar(64)[] WHERE {log_where} RETURNING collection_id",
            [redaction(scope), *log_params],
        )
        log_collections = sorted({int(row[0]) for row in cursor.fetchall()})
        query_logs = int(cursor.rowcount)
    collections = sorted({c for _, c in documents} | set(chunk_collections))
    counts = {"documents": len(document_ids), "chunks": len(chunk_collections), "query_logs": query_logs}
    if any(counts.values()):
        audit_record(
            actor=None,
            action=ERASED_ACTION,
            object_type=AUDIT_OBJECT_TYPE,
            object_id=str(scope.request_id),
            payload={
                "request": scope.request_id,
                "counts": counts,
                "collections": collections,
                "query_log_collections": log_collections,
            },
        )
    return {
        "counts": counts,
        "collections": collections,
        "query_log_collections": log_collections,
        "erased_at": timezone.now().isoformat(),
        "seconds": round(time.monotonic() - started, 4),
    }


# --- purge ---------------------------------------------------------------------------------------


def _execute(sql: str) -> float:
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(sql)
    return time.monotonic() - started


def _table_indexes(table: str) -> list[str]:
    """Every index of a table except its primary key (ids only, never a value of a deleted row)."""
    rows = _fetch(
        "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_class t ON t.oid = x.indrelid WHERE t.relname = %s AND NOT x.indisprimary ORDER BY 1",
        [table],
    )
    return [row[0] for row in rows]


def _has_stats(table: str) -> bool:
    return bool(_fetch("SELECT EXISTS (SELECT 1 FROM pg_stats WHERE tablename = %s)", [table])[0][0])


def scrub_table(table: str) -> dict[str, float]:
    """VACUUM a table, rebuild its value-bearing indexes from the live rows, and re-ANALYZE it."""
    ident = connection.ops.quote_name(table)
    timings = {"vacuum_s": _execute(f"VACUUM (INDEX_CLEANUP ON) {ident}")}
    step = time.monotonic()
    for index in _table_indexes(table):
        # CONCURRENTLY: reads and writes go on while the fresh index (live rows only) is built.
        _execute(f"REINDEX INDEX CONCURRENTLY {connection.ops.quote_name(index)}")
    timings["reindex_s"] = time.monotonic() - step
    timings["analyze_s"] = _execute(f"ANALYZE {ident}")
    return {name: round(value, 4) for name, value in timings.items()}


def purge_collection(collection: Collection) -> dict[str, Any]:
    """One collection's partition: deleted rows and vectors off disk, then fresh statistics."""
    timings = storage.purge_partition(collection)
    timings["analyze_s"] = _execute(f"ANALYZE {connection.ops.quote_name(collection.partition)}")
    return timings


def erasure_purge(scope: ErasureScope, erased: dict[str, Any]) -> dict[str, Any]:
    """Physical phase: the affected partitions only, then the documents and query log tables.

    Idempotent: every step rebuilds from the live rows, so a rerun after a crash repeats it safely.
    """
    if connection.in_atomic_block:
        raise RuntimeError("the purge runs VACUUM, which cannot run inside a transaction")
    started = time.monotonic()
    purged: dict[str, Any] = {}
    collections = list(Collection.objects.filter(pk__in=erased.get("collections", [])).order_by("pk"))
    for collection in collections:
        purged[str(collection.pk)] = purge_collection(collection)
    result: dict[str, Any] = {"collections": purged}
    counts = erased.get("counts", {})
    if collections or counts.get("documents"):
        result["documents_table"] = scrub_table(DOCUMENTS_TABLE)
        # The partitioned parent has statistics only when someone ANALYZEd it by name (autovacuum does
        # not): those were sampled across partitions and may quote chunk text. Refresh them if present.
        if _has_stats(CHUNK_TABLE):
            result["chunk_parent_analyze_s"] = round(_execute(f"ANALYZE {CHUNK_TABLE}"), 4)
    if counts.get("query_logs") or erased.get("query_log_collections"):
        result["query_log_table"] = scrub_table(QUERY_LOG_TABLE)
    result["seconds"] = round(time.monotonic() - started, 4)
    result["purged_at"] = timezone.now().isoformat()
    with transaction.atomic():
        audit_record(
            actor=None,
            action="erasure.retrieval_purged",
            object_type=AUDIT_OBJECT_TYPE,
            object_id=str(scope.request_id),
            payload={
                "request": scope.request_id,
                "collections": sorted(purged),
                "tables": sorted(name for name in ("documents_table", "query_log_table") if name in result),
                "seconds": result["seconds"],
            },
        )
    return result


# --- verify --------------------------------------------------------------------------------------


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


DOCUMENT_TEXT_FIELDS = {
    "document_title": "title",
    "document_text": "text",
    "document_external_id": "external_id",
    "document_source": "source",
    "document_metadata": "metadata::text",
}
QUERY_LOG_TEXT_FIELDS = {"query_log_query": "query_masked", "query_log_filters": "filters::text"}


def _count_by_keys(scope: ErasureScope) -> tuple[dict[str, int], list[int]]:
    documents = _subject_documents(scope)
    where, params = _chunk_where(scope, [pk for pk, _ in documents])
    chunks = _fetch(
        f"SELECT collection_id, count(*) FROM {CHUNK_TABLE} WHERE {where} GROUP BY collection_id",  # noqa: S608
        params,
    )
    where, params = _subject_where(scope, "query_log")
    logs = _fetch(f"SELECT count(*) FROM {QUERY_LOG_TABLE} WHERE {where}", params)  # noqa: S608
    counts = {
        "documents": len(documents),
        "chunks": sum(int(n) for _, n in chunks),
        "query_logs": int(logs[0][0]),
    }
    return counts, sorted({c for _, c in documents} | {int(c) for c, _ in chunks})


def _text_counts(
    table: str, fields: dict[str, str], patterns: list[str], unsearchable: list[str]
) -> dict[str, int]:
    """Rows of `table` whose field contains an identifier, per field, in one pass over the table."""
    select = ", ".join(f"count(*) FILTER (WHERE {expr} ILIKE ANY(%s))" for expr in fields.values())
    try:
        with transaction.atomic():
            row = _fetch(f"SELECT {select} FROM {table}", [patterns] * len(fields))[0]  # noqa: S608
    except DatabaseError as exc:
        logger.warning("erasure verify could not search %s: %s", table, type(exc).__name__)
        unsearchable.extend(fields)
        return {}
    return {name: int(count) for name, count in zip(fields, row, strict=True)}


def _chunk_text_counts(collection_ids: list[int], patterns: list[str], unsearchable: list[str]) -> int:
    total = 0
    for collection in Collection.objects.filter(pk__in=collection_ids).order_by("pk"):
        try:
            with transaction.atomic():
                row = _fetch(
                    f"SELECT count(*) FROM {connection.ops.quote_name(collection.partition)} "  # noqa: S608
                    "WHERE text ILIKE ANY(%s)",
                    [patterns],
                )[0]
        except DatabaseError as exc:
            logger.warning(
                "erasure verify could not search collection %s: %s", collection.pk, type(exc).__name__
            )
            unsearchable.append(f"chunk_text:{collection.pk}")
            continue
        total += int(row[0])
    return total


def erased_collections(scope: ErasureScope) -> set[int]:
    """The collections this request's erase runs touched, from their audit events (ids only)."""
    payloads = AuditEvent.objects.filter(
        action=ERASED_ACTION, object_type=AUDIT_OBJECT_TYPE, object_id=str(scope.request_id)
    ).values_list("payload", flat=True)
    return {int(c) for payload in payloads for c in payload.get("collections", [])}


def erasure_verify(scope: ErasureScope) -> dict[str, Any]:
    """Nothing of the subject is left: no item carries the keys, no stored text holds an identifier."""
    unsearchable: list[str] = []
    by_keys, holding = _count_by_keys(scope)
    affected = erased_collections(scope)
    needles = sorted({value.strip() for value in scope.identifiers if value and value.strip()})
    by_text: dict[str, int] = {}
    collections = sorted(set(affected) | set(holding))
    if needles:
        patterns = ["%" + _escape_like(needle) + "%" for needle in needles]
        by_text.update(_text_counts(DOCUMENTS_TABLE, DOCUMENT_TEXT_FIELDS, patterns, unsearchable))
        by_text.update(_text_counts(QUERY_LOG_TABLE, QUERY_LOG_TEXT_FIELDS, patterns, unsearchable))
        by_text["chunk_text"] = _chunk_text_counts(collections, patterns, unsearchable)
    else:
        unsearchable.append("text: no identifiers were given")
    ok = not unsearchable and not any(by_keys.values()) and not any(by_text.values())
    return {
        "ok": ok,
        "by_keys": by_keys,
        "by_text": by_text,
        "chunk_text_collections": collections,
        "unsearchable": unsearchable,
    }
