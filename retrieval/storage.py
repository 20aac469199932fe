"""SQL the ORM cannot express: per-collection partitions, their HNSW indexes, COPY, search and purge.

Every collection owns one LIST partition of `retrieval_chunk` (created with the collection). The
partition carries the collection's vector dimension as a CHECK and an HNSW index on the expression
`(embedding::vector(dim))` with the collection's m / ef_construction: an HNSW index needs a fixed
dimension while the parent column has none, and the planner uses the expression index when the query
orders by the same expression (EXPLAIN in tests/retrieval/test_storage.py). Queries name the
partition directly, so each one walks only its own collection's graph.

Each partition also has a BEFORE INSERT trigger that fills `lexemes` (the heading weighted A, the
chunk text D) with the collection's text search configuration, and a GIN index on it: the full-text
half of a hybrid query (migration 0004).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection

from retrieval.models import Collection

logger = logging.getLogger(__name__)

COPY_COLUMNS = (
    "collection_id", "document_id", "ordinal", "text", "start_char", "end_char", "token_count",
    "subject_keys", "embedding", "heading",
)  # fmt: skip
COPY_TYPES = ["int8", "int8", "int4", "text", "int4", "int4", "int4", "varchar[]", "vector", "text"]


def _ident(name: str) -> str:
    return connection.ops.quote_name(name)


def _vector_type(collection: Collection) -> str:
    return f"vector({int(collection.embedding_dimension)})"


def create_partition(collection: Collection) -> None:
    """Create the collection's partition with its dimension check and an (empty) HNSW index."""
    partition = _ident(collection.partition)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {partition} PARTITION OF retrieval_chunk "  # noqa: S608 - identifiers quoted
            f"(CONSTRAINT {_ident(collection.partition + '_dims')} "
            f"CHECK (vector_dims(embedding) = {int(collection.embedding_dimension)})) "
            f"FOR VALUES IN ({int(collection.pk)})"
        )
        cursor.execute(
            f"CREATE TRIGGER retrieval_chunk_lexemes BEFORE INSERT ON {partition} "
            "FOR EACH ROW EXECUTE FUNCTION retrieval_chunk_lexemes(%s)",
            [collection.text_search_config],
        )
        cursor.execute(f"CREATE INDEX {_ident(collection.lexeme_index)} ON {partition} USING gin (lexemes)")
    create_hnsw_index(collection)


def text_search_config_exists(name: str) -> bool:
    """Whether PostgreSQL knows the text search configuration (english, simple, german, ...)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = %s)", [name])
        return bool(cursor.fetchone()[0])


def text_search_configs() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT cfgname FROM pg_ts_config ORDER BY cfgname")
        return [row[0] for row in cursor.fetchall()]


def hnsw_index_sql(collection: Collection, *, concurrently: bool = False) -> str:
    concurrent = "CONCURRENTLY " if concurrently else ""
    return (
        f"CREATE INDEX {concurrent}IF NOT EXISTS {_ident(collection.hnsw_index)} "
        f"ON {_ident(collection.partition)} "
        f"USING hnsw ((embedding::{_vector_type(collection)}) vector_cosine_ops) "
        f"WITH (m = {int(collection.hnsw_m)}, ef_construction = {int(collection.hnsw_ef_construction)})"
    )


def create_hnsw_index(collection: Collection) -> None:
    with connection.cursor() as cursor:
        cursor.execute(hnsw_index_sql(collection))


def drop_hnsw_index(collection: Collection) -> None:
    """Drop the HNSW index before a bulk load; queries fall back to exact search until it is rebuilt."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {_ident(collection.hnsw_index)}")


def has_hnsw_index(collection: Collection) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [collection.hnsw_index])
        return bool(cursor.fetchone()[0])


@contextmanager
def maintenance_settings() -> Iterator[None]:
    """Session settings for index builds (DESIGN section 5: 246 s at 64 MB, 58 s at 1 GB + 2 workers)."""
    memory = str(settings.RETRIEVAL_MAINTENANCE_WORK_MEM)
    workers = int(settings.RETRIEVAL_MAINTENANCE_WORKERS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('maintenance_work_mem', %s, false)", [memory])
        cursor.execute("SELECT set_config('max_parallel_maintenance_workers', %s, false)", [str(workers)])
        try:
            yield
        finally:
            cursor.execute("RESET maintenance_work_mem")
            cursor.execute("RESET max_parallel_maintenance_workers")


def build_hnsw_index(collection: Collection) -> float:
    """Build the HNSW index over the partition's rows after a bulk load; returns the seconds taken."""
    started = time.monotonic()
    with maintenance_settings():
        create_hnsw_index(collection)
    with connection.cursor() as cursor:
        # The COPY left the chunks' words in the full-text GIN index's pending list (fastupdate), which
        # every full-text lookup reads through in full until autovacuum merges it: up to 4 MB, 5 ms a
        # lookup. Merged now, in one pass.
        cursor.execute("SELECT gin_clean_pending_list(to_regclass(%s))", [collection.lexeme_index])
        # Fresh statistics after a bulk load: the full-text ranking reads word frequencies from them.
        cursor.execute(f"ANALYZE {_ident(collection.partition)}")
    return time.monotonic() - started


# --- Writing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkRow:
    """A chunk ready to be written."""

    ordinal: int
    text: str
    start: int
    end: int
    token_count: int
    subject_keys: list[str]
    heading: str = ""


def _register_vector() -> Any:
    from pgvector.psycopg import register_vector

    connection.ensure_connection()
    raw = connection.connection
    if not getattr(raw, "_retrieval_vector_registered", False):
        register_vector(raw)
        raw._retrieval_vector_registered = True  # type: ignore[union-attr]
    return raw


def copy_chunks(
    collection: Collection, document_id: int, rows: Sequence[ChunkRow], vectors: np.ndarray
) -> None:
    """COPY a document's chunks (binary, straight into its partition) inside the caller's transaction."""
    if len(rows) != len(vectors):
        raise ValueError("one vector per chunk is required")
    copy_rows(collection, ((document_id, row, vector) for row, vector in zip(rows, vectors, strict=True)))


def copy_rows(collection: Collection, rows: Iterable[tuple[int, ChunkRow, np.ndarray]]) -> int:
    """COPY (document id, chunk, vector) rows into the collection's partition; returns the count."""
    _register_vector()
    columns = ", ".join(COPY_COLUMNS)
    count = 0
    with connection.cursor() as cursor:
        raw_cursor = cursor.cursor  # the psycopg cursor under Django's wrapper
        statement = f"COPY {_ident(collection.partition)} ({columns}) FROM STDIN WITH (FORMAT BINARY)"
        with raw_cursor.copy(statement) as copy:
            copy.set_types(COPY_TYPES)
            for document_id, row, vector in rows:
                copy.write_row(
                    (
                        collection.pk,
                        document_id,
                        row.ordinal,
                        row.text,
                        row.start,
                        row.end,
                        row.token_count,
                        row.subject_keys,
                        vector,
                        row.heading,
                    )
                )
                count += 1
    return count


def delete_document_chunks(collection: Collection, document_ids: Sequence[int]) -> int:
    """Delete the chunks of documents in one partition; returns the number of rows deleted."""
    if not document_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {_ident(collection.partition)} WHERE document_id = ANY(%s)",  # noqa: S608
            [list(document_ids)],
        )
        return int(cursor.rowcount)


# --- Search -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """A chunk returned by a search, with its cosine similarity and its document's citation fields."""

    chunk_id: int
    document_id: int
    text: str
    start: int
    end: int
    score: float
    external_id: str
    title: str
    source: str


# Every search joins the document for the citation (no second round trip for titles); the chunk's
# FOREIGN KEY (ON DELETE CASCADE) means the join drops no row.
HIT_COLUMNS = (
    "h.id, h.document_id, h.text, h.start_char, h.end_char, 1 - h.distance, d.external_id, d.title, d.source"
)


def _hits(rows: Iterable[Sequence[Any]]) -> list[Hit]:
    return [
        Hit(int(r[0]), int(r[1]), r[2], int(r[3]), int(r[4]), float(r[5]), r[6], r[7], r[8]) for r in rows
    ]


@contextmanager
def _bound_cursor() -> Iterator[Any]:
    """A Django cursor on the same connection that binds parameters on the server (extended protocol).

    Django's default (client-side binding) would spell a query vector as a 384-float text literal, twice
    per statement, for the server to parse back; bound with `%(q)b` it travels as pgvector's binary form.
    Django's wrapper keeps its error classes, execute wrappers and query log.
    """
    import psycopg
    from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

    raw = _register_vector()
    wrapper = CursorDebugWrapper if connection.queries_logged else CursorWrapper
    with connection.wrap_database_errors, wrapper(psycopg.Cursor(raw), connection) as cursor:
        yield cursor


def _document_table() -> str:
    from retrieval.models import Document

    return _ident(Document._meta.db_table)


def search(
    collection: Collection,
    vector: np.ndarray,
    *,
    k: int,
    document_ids: Sequence[int] | None,
    exact: bool,
    ef_search: int = 40,
    group_by_document: bool = False,
) -> list[Hit]:
    """Top-k chunks by cosine distance: through the HNSW index, or exactly (no index) when `exact`.

    `group_by_document` (exact search only) keeps each document's best chunk, so k documents come back.
    Needs no transaction: the HNSW walk's ef_search is set with the statement (execute_with_ef_search).
    """
    vtype = _vector_type(collection)
    # Adding 0 makes the ORDER BY expression differ from the index expression: the planner cannot use
    # the HNSW index and sorts the (filtered) rows exactly.
    distance = f"(embedding::{vtype} <=> %(q)b::{vtype})"
    order = distance + (" + 0" if exact else "")
    where = "WHERE document_id = ANY(%(ids)s::bigint[])" if document_ids is not None else ""
    columns = "id, document_id, text, start_char, end_char"
    partition = _ident(collection.partition)
    if group_by_document:
        if not exact:
            raise ValueError("grouping by document in SQL needs exact search")
        inner = (
            f"SELECT * FROM (SELECT DISTINCT ON (document_id) {columns}, {distance} AS distance "  # noqa: S608
            f"FROM {partition} {where} ORDER BY document_id, distance, ordinal) best "
            f"ORDER BY distance, id LIMIT %(k)s"
        )
    else:
        inner = (
            f"SELECT {columns}, {distance} AS distance FROM {partition} {where} ORDER BY {order} LIMIT %(k)s"  # noqa: S608
        )
    # The k winners are re-sorted after the join: by distance as before, ties by chunk id.
    sql = (
        f"SELECT {HIT_COLUMNS} FROM ({inner}) h "  # noqa: S608
        f"JOIN {_document_table()} d ON d.id = h.document_id ORDER BY h.distance, h.id"
    )
    params: dict[str, Any] = {"q": vector, "k": int(k)}
    if document_ids is not None:
        params["ids"] = list(document_ids)
    with _bound_cursor() as cursor:
        if exact:
            cursor.execute(sql, params)
        else:
            execute_with_ef_search(cursor, ef_search, sql, params)
        return _hits(cursor.fetchall())


def execute_with_ef_search(cursor: Any, ef_search: int, sql: str, params: Any) -> None:
    """Run `sql` on a _bound_cursor with hnsw.ef_search set for it.

    SET LOCAL and the statement go in one pipeline (one round trip): inside a transaction the setting
    lasts until its end; outside one it ends with the implicit transaction the pipeline's statements
    share (up to its Sync). Either way it never leaks into the pooled connection.
    """
    with cursor.connection.pipeline():
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(int(ef_search))])
        cursor.execute(sql, params)


# --- Full-text ranking (BM25-style) ---------------------------------------------------------------

# PostgreSQL's ts_rank and ts_rank_cd know nothing of how common a word is in the collection, so on a
# natural-language question the frequent words decide the order (nDCG@10 0.30 against 0.60 for BM25 on
# the quality benchmark). Here each query term is weighted by its inverse document frequency (Okapi
# BM25's idf), counted in the partition, and a chunk scores the idf of each term it holds, once more
# when the term is in its heading (the title: weight A), as BM25F weights a title field.
TITLE_BOOST = 1.0
# A term in more than this share of the chunks does not bring candidates in by itself (it still
# scores), unless every term of the query is that common: the candidate set stays small.
COMMON_TERM_SHARE = 0.1
# Counting a term's chunks stops here; above it the planner statistics' frequency is used when
# ANALYZE has collected one, else this count (an idf lower than the truth, never a slow query).
COUNT_CAP = 5000


@dataclass(frozen=True)
class Term:
    lexeme: str
    chunks: int  # chunks of the partition holding it (counted, capped, or from the statistics)
    idf: float
    total: int  # the idf's N


def _tsquery(lexeme: str, weights: str = "") -> str:
    """One normalised lexeme as tsquery text (quoted, so no operator in it is ever parsed)."""
    quoted = "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"
    return f"{quoted}:{weights}" if weights else quoted


# One round trip: the query's lexemes (to_tsvector: normalised, stop words out), each one's share of
# chunks from ANALYZE's most common elements where listed, else its chunk count through the GIN index
# (capped), and (when asked) the collection's indexed chunk count. pg_stats's frequency array has three
# more entries than the element array (minimum, maximum, empty share): unnest pads the elements with
# NULL there, and those rows match no lexeme.
# Each lexeme becomes a quoted tsquery literal (backslash and quote escaped), never parsed as syntax.
TERMS_SQL = (
    "WITH terms AS (SELECT DISTINCT lexeme FROM "
    "unnest(tsvector_to_array(to_tsvector(%(config)s::regconfig, %(query)s::text))) lexeme), "
    "frequent AS (SELECT element, frequency FROM pg_stats s, "
    "unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS u(element, frequency) "
    "WHERE s.tablename = %(partition)s::name AND s.attname = 'lexemes') "
    "SELECT t.lexeme, f.frequency, CASE WHEN f.frequency IS NULL THEN ("
    "SELECT count(*) FROM (SELECT 1 FROM {partition} c WHERE c.lexemes @@ "
    "(chr(39) || replace(replace(t.lexeme, chr(92), chr(92) || chr(92)), chr(39), chr(39) || chr(39)) "
    "|| chr(39))::tsquery LIMIT %(cap)s) found) END, {total} "
    "FROM terms t LEFT JOIN frequent f ON f.element = t.lexeme ORDER BY t.lexeme"
)
# The idf's N when the caller does not pass it: what search._total_chunks counts, in the same statement.
TOTAL_SQL = (
    "(SELECT coalesce(sum(chunk_count), 0) FROM {documents} "
    "WHERE collection_id = %(collection)s AND status = %(indexed)s)"
)


def term_weights(collection: Collection, query: str, total: int | None) -> list[Term]:
    """The query's lexemes with their chunk counts in the partition and their BM25 idf.

    `total` is the idf's N (the collection's indexed chunks); None counts it in the same statement.
    """
    from retrieval.choices import DocumentStatus

    params: dict[str, Any] = {
        "config": collection.text_search_config,
        "query": query,
        "partition": collection.partition,
        "cap": COUNT_CAP,
    }
    counted_total = "NULL::bigint"
    if total is None:
        counted_total = TOTAL_SQL.format(documents=_document_table())
        params.update(collection=collection.pk, indexed=str(DocumentStatus.INDEXED))
    with _bound_cursor() as cursor:
        cursor.execute(TERMS_SQL.format(partition=_ident(collection.partition), total=counted_total), params)
        rows = cursor.fetchall()
    if total is None:
        total = int(rows[0][3]) if rows else 0
    total = max(total, 1)
    terms = []
    for lexeme, frequency, counted, _ in rows:
        chunks = round(float(frequency) * total) if frequency is not None else int(counted)
        chunks = min(chunks, total)
        terms.append(Term(lexeme, chunks, math.log(1 + (total - chunks + 0.5) / (chunks + 0.5)), total))
    return terms


def lexical_search(
    collection: Collection,
    query: str,
    vector: np.ndarray,
    *,
    limit: int,
    document_ids: Sequence[int] | None,
    total: int | None = None,
) -> list[Hit]:
    """Chunks holding the query's words (full-text, the collection's language), best BM25-style first.

    The query is normalised by to_tsvector (no operator syntax from the user reaches the tsquery
    parser: each lexeme is quoted). Candidates are the chunks holding any term that is not common
    (see COMMON_TERM_SHARE), found through the GIN index; each scores the sum of the idf of the
    terms it holds, a title hit counting 1 + TITLE_BOOST times. Every hit carries its cosine
    similarity to the query vector, so thresholds mean the same in every mode. `total` is the
    collection's indexed chunk count (the idf's N); None counts it with the terms.
    """
    terms = term_weights(collection, query, total)
    total = terms[0].total if terms else 0
    terms = [t for t in terms if t.chunks > 0]
    if not terms:
        return []
    rare = [t for t in terms if t.chunks <= max(COMMON_TERM_SHARE * total, 1)]
    generating = rare or terms
    vtype = _vector_type(collection)
    params: dict[str, Any] = {
        "q": vector,
        "limit": int(limit),
        "any": " | ".join(_tsquery(t.lexeme) for t in generating),
    }
    parts = []
    for i, term in enumerate(terms):
        params[f"t{i}"], params[f"a{i}"] = _tsquery(term.lexeme), _tsquery(term.lexeme, "A")
        # Weights as numeric from their shortest decimal form: the rank is summed exactly. A chunk
        # without the term skips its title test (a title hit implies a hit): 8.0 -> 5.1 ms a query on
        # 20k chunks, the same ranks.
        params[f"w{i}"], params[f"b{i}"] = repr(term.idf), repr(term.idf * TITLE_BOOST)
        parts.append(
            f"CASE WHEN lexemes @@ %(t{i})s::tsquery THEN CASE WHEN lexemes @@ %(a{i})s::tsquery "
            f"THEN %(w{i})s::numeric + %(b{i})s::numeric ELSE %(w{i})s::numeric END ELSE 0 END"
        )
    where = "AND document_id = ANY(%(ids)s::bigint[])" if document_ids is not None else ""
    if document_ids is not None:
        params["ids"] = list(document_ids)
    partition = _ident(collection.partition)
    sql = (
        # Ranked on ids and scores only; text, vector and document are read for the `limit` winners alone.
        f"WITH top AS (SELECT id, {' + '.join(parts)} AS rank FROM {partition} "  # noqa: S608
        f"WHERE lexemes @@ %(any)s::tsquery {where} ORDER BY rank DESC, id LIMIT %(limit)s) "
        f"SELECT {HIT_COLUMNS} FROM (SELECT c.id, c.document_id, c.text, c.start_char, c.end_char, "
        f"(c.embedding::{vtype} <=> %(q)b::{vtype}) AS distance, top.rank FROM top "
        f"JOIN {partition} c ON c.collection_id = %(collection)s AND c.id = top.id) h "
        f"JOIN {_document_table()} d ON d.id = h.document_id ORDER BY h.rank DESC, h.id"
    )
    params["collection"] = collection.pk
    with _bound_cursor() as cursor:
        cursor.execute(sql, params)
        return _hits(cursor.fetchall())


def explain_search(collection: Collection, vector: np.ndarray, *, k: int, exact: bool) -> str:
    """The plan of an unfiltered search, for tests and the README's claim that the index is used."""
    vtype = _vector_type(collection)
    order = f"(embedding::{vtype} <=> %b::{vtype})" + (" + 0" if exact else "")
    with _bound_cursor() as cursor:
        cursor.execute(
            f"EXPLAIN SELECT id FROM {_ident(collection.partition)} ORDER BY {order} LIMIT %s",  # noqa: S608
            [vector, int(k)],
        )
        return "\n".join(row[0] for row in cursor.fetchall())


# --- Physical purge -----------------------------------------------------------------------------


PURGE_METHODS = ("reindex", "full", "vacuum")


def purge_partition(collection: Collection, *, method: str | None = None) -> dict[str, Any]:
    """Remove deleted rows of one collection from disk, touching no other collection's storage.

    `reindex` (default): VACUUM with an HNSW index present repairs the graph around every deleted
    element, which on pgvector 0.6.2 costs far more than a rebuild (retrieval benchmark; DESIGN
    section 5). So the heap is vacuumed without index cleanup (the dead tuples' storage is freed),
    the HNSW index is rebuilt CONCURRENTLY (a fresh graph without the deleted vectors replaces the
    old one while queries keep using the old one), then a plain VACUUM, now cheap, reclaims the line
    pointers and cleans the btree and GIN indexes.
    `full`: VACUUM FULL rewrites the partition and all its indexes into new files (nothing of the
    deleted rows survives even in free space) but blocks the collection's queries while it runs.
    `vacuum`: a plain VACUUM with index cleanup (pgvector repairs the graph in place).
    """
    method = method or str(settings.RETRIEVAL_PURGE_METHOD)
    if method not in PURGE_METHODS:
        raise ValueError(f"RETRIEVAL_PURGE_METHOD must be one of {', '.join(PURGE_METHODS)}")
    if connection.in_atomic_block:
        raise RuntimeError("purge must run outside a transaction (VACUUM cannot run inside one)")
    partition = _ident(collection.partition)
    timings: dict[str, Any] = {"method": method}
    started = time.monotonic()
    with connection.cursor() as cursor, maintenance_settings():
        if method == "full":
            cursor.execute(f"VACUUM (FULL) {partition}")
        elif method == "vacuum":
            cursor.execute(f"VACUUM (INDEX_CLEANUP ON) {partition}")
            timings["lexeme_reindex_s"] = _reindex_lexemes(cursor, collection)
        else:
            cursor.execute(f"VACUUM (INDEX_CLEANUP OFF) {partition}")
            timings["heap_vacuum_s"] = time.monotonic() - started
            if has_hnsw_index(collection):
                step = time.monotonic()
                cursor.execute(f"REINDEX INDEX CONCURRENTLY {_ident(collection.hnsw_index)}")
                timings["reindex_s"] = time.monotonic() - step
            timings["lexeme_reindex_s"] = _reindex_lexemes(cursor, collection)
            step = time.monotonic()
            cursor.execute(f"VACUUM (INDEX_CLEANUP ON) {partition}")
            timings["final_vacuum_s"] = time.monotonic() - step
    timings["total_s"] = time.monotonic() - started
    return timings


def _reindex_lexemes(cursor: Any, collection: Collection) -> float:
    """Rebuild the full-text GIN from the live rows: GIN keeps a deleted row's words as entries."""
    started = time.monotonic()
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [collection.lexeme_index])
    if cursor.fetchone()[0]:
        cursor.execute(f"REINDEX INDEX CONCURRENTLY {_ident(collection.lexeme_index)}")
    return time.monotonic() - started


def vacuum_table(table: str) -> float:
    """VACUUM one ordinary table (documents: btree and GIN only, so this is cheap)."""
    if connection.in_atomic_block:
        raise RuntimeError("VACUUM cannot run inside a transaction")
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (INDEX_CLEANUP ON) {_ident(table)}")
    return time.monotonic() - started
