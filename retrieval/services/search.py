"""Cited search over a collection, with a filtered query that returns k rows whenever k rows match.

pgvector 0.6.2 applies a WHERE clause after the HNSW walk, so a selective filter returns fewer than
k rows (DESIGN section 5). Here a filter is first resolved to the matching documents and their chunk
count: a selective filter (few rows, or a small share of the collection) runs as exact search over
just those rows (a btree probe and a sort); a broad one walks the HNSW graph with ef_search raised
in proportion to 1/selectivity, doubled until k rows come back, with exact search as the last resort.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Q, Sum
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import is_naive, make_aware

from governance import pii
from governance.errors import ValidationFailed
from governance.jsonl import unstorable
from governance.policy import READ, require
from governance.roles import User, user_or_none
from retrieval import embedding, storage
from retrieval.choices import DocumentStatus, IndexState, RetrievalMode, SearchMode
from retrieval.models import Collection, Document, QueryLog

MAX_K = 50
HNSW_MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search
FILTER_FIELDS = (
    "external_id", "document_id", "source", "metadata", "created_after", "created_before", "indexed_after",
    "indexed_before",
)  # fmt: skip
MAX_FILTER_VALUES = 1000


def max_query_chars() -> int:
    return int(settings.RETRIEVAL_MAX_QUERY_CHARS)


# --- Filters -------------------------------------------------------------------------------------


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code="invalid_filter", details={"field": f"filters.{name}"})


def _many(name: str, value: Any, kind: type) -> list[Any]:
    values = value if isinstance(value, list) else [value]
    if (
        not values
        or len(values) > MAX_FILTER_VALUES
        or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values)
    ):
        raise _invalid(
            name, f"'{name}' must be a {kind.__name__} or a list of 1 to {MAX_FILTER_VALUES} of them"
        )
    return values


def _moment(name: str, value: Any) -> datetime:
    parsed = None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
            if parsed is None and (day := parse_date(value)) is not None:
                parsed = datetime(day.year, day.month, day.day)  # noqa: DTZ001 - made aware below
        except ValueError:  # well formed but impossible: month 13, 30 February, hour 25, offset +25:00
            parsed = None
    if parsed is None:
        raise _invalid(name, f"'{name}' must be an ISO 8601 date or date-time")
    return make_aware(parsed) if is_naive(parsed) else parsed


def filter_q(filters: dict[str, Any] | None) -> Q | None:
    """The document filter for a query's `filters`; an unknown field or a bad value is a 400."""
    if not filters:
        return None
    if not isinstance(filters, dict):
        raise ValidationFailed(
            "filters must be an object", code="invalid_filter", details={"field": "filters"}
        )
    unknown = sorted(set(filters) - set(FILTER_FIELDS))
    if unknown:
        raise ValidationFailed(
            f"unknown filter field '{unknown[0]}'",
            code="unknown_filter",
            details={"field": f"filters.{unknown[0]}", "allowed": list(FILTER_FIELDS)},
        )
    for name, value in filters.items():
        if (refused := unstorable(value)) is not None:
            raise _invalid(name, f"'{name}': {refused[1]}")
    q = Q()
    for name, value in filters.items():
        if name == "external_id":
            q &= Q(external_id__in=_many(name, value, str))
        elif name == "document_id":
            q &= Q(pk__in=_many(name, value, int))
        elif name == "source":
            q &= Q(source__in=_many(name, value, str))
        elif name == "metadata":
            if (
                not isinstance(value, dict)
                or not value
                or not all(isinstance(v, str | int | float | bool) for v in value.values())
            ):
                raise _invalid(name, "'metadata' must be a non-empty object of scalar values")
            q &= Q(metadata__contains=value)
        else:
            field, _, side = name.rpartition("_")
            lookup = "gte" if side == "after" else "lte"
            column = "created_at" if field == "created" else "indexed_at"
            q &= Q(**{f"{column}__{lookup}": _moment(name, value)})
    return q


# --- Search --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchResult:
    """What a search found and how."""

    hits: list[storage.Hit]
    mode: str


@dataclass(frozen=True)
class _Scope:
    """The rows a filter leaves: all (ids None), none, or these documents' chunks."""

    ids: list[int] | None
    matching: int | None  # chunks matching the filter; None without one
    selectivity: float
    empty: bool = False


def _indexed(collection: Collection) -> Any:
    return Document.objects.filter(collection=collection, status=DocumentStatus.INDEXED)


def _total_chunks(collection: Collection) -> int:
    return int(_indexed(collection).aggregate(total=Sum("chunk_count"))["total"] or 0)


def _scope(collection: Collection, q: Q | None) -> _Scope:
    if q is None:
        return _Scope(None, None, 1.0)
    rows = list(_indexed(collection).filter(q).values_list("pk", "chunk_count"))
    matching = sum(count for _, count in rows)
    if matching == 0:
        return _Scope([], 0, 0.0, empty=True)
    total = _total_chunks(collection)
    if matching < total:
        return _Scope([pk for pk, _ in rows], matching, matching / max(1, total))
    return _Scope(None, matching, 1.0)


def best_per_document(hits: Sequence[storage.Hit], limit: int) -> list[storage.Hit]:
    """The first (best) hit of each document, in order, at most `limit` of them."""
    seen: set[int] = set()
    kept: list[storage.Hit] = []
    for hit in hits:
        if hit.document_id not in seen:
            seen.add(hit.document_id)
            kept.append(hit)
            if len(kept) == limit:
                break
    return kept


def search_vectors(
    collection: Collection,
    vector: np.ndarray,
    *,
    k: int,
    q: Q | None = None,
    group_by_document: bool = False,
    scope: _Scope | None = None,
) -> SearchResult:
    """Top-k chunks of the collection's indexed documents matching `q`; k of them whenever k match.

    With `group_by_document`, the best chunk of each of the top-k documents: HNSW over-fetches chunks
    (doubling) until k documents are among them, and exact search groups in SQL.
    Needs no transaction: each HNSW statement carries its own ef_search (storage.execute_with_ef_search).
    """
    scope = scope or _scope(collection, q)
    if scope.empty:
        return SearchResult([], SearchMode.NONE)
    ids, matching, selectivity = scope.ids, scope.matching, scope.selectivity
    exact_rows = int(settings.RETRIEVAL_EXACT_MAX_ROWS)
    exact_share = float(settings.RETRIEVAL_EXACT_MAX_FRACTION)

    def exact() -> SearchResult:
        hits = storage.search(
            collection, vector, k=k, document_ids=ids, exact=True, group_by_document=group_by_document
        )
        return SearchResult(hits, SearchMode.EXACT)

    if collection.index_state != IndexState.READY or (
        ids is not None and matching is not None and (matching <= exact_rows or selectivity <= exact_share)
    ):
        return exact()
    fetch = min(HNSW_MAX_EF_SEARCH, k * GROUP_OVERFETCH) if group_by_document else k
    base = max(int(settings.RETRIEVAL_HNSW_EF_SEARCH), 2 * fetch)
    ef = min(HNSW_MAX_EF_SEARCH, max(base, math.ceil(2 * fetch / selectivity)))
    available = matching if matching is not None else None
    while True:
        hits = storage.search(collection, vector, k=fetch, document_ids=ids, exact=False, ef_search=ef)
        found = best_per_document(hits, k) if group_by_document else hits
        if len(found) >= k:
            return SearchResult(found, SearchMode.HNSW)
        if available is None:
            available = _total_chunks(collection)
        if len(hits) >= available:
            return SearchResult(found, SearchMode.HNSW)
        if group_by_document and len(hits) >= fetch and fetch < HNSW_MAX_EF_SEARCH:
            # Every fetched row came back but they cover fewer than k documents: fetch more rows.
            fetch = min(HNSW_MAX_EF_SEARCH, fetch * 2)
            ef = min(HNSW_MAX_EF_SEARCH, max(ef, fetch))
            continue
        if ef >= HNSW_MAX_EF_SEARCH:
            break
        ef = min(HNSW_MAX_EF_SEARCH, ef * 2)
    return exact()


# Reciprocal rank fusion (Cormack et al., 2009): score = sum over rankings of weight / (RRF_K + rank),
# with the customary k = 60 and equal weights by default (settings RETRIEVAL_RRF_K and
# RETRIEVAL_HYBRID_LEXICAL_WEIGHT; the quality benchmark reports what other values do).
# Chunks first fetched per query from each of the rankings a hybrid or grouped query fuses.
GROUP_OVERFETCH = 4


@dataclass(frozen=True)
class Ranked:
    """A retrieved chunk with its place in each ranking (1-based; None where absent) and fused score."""

    hit: storage.Hit
    dense_rank: int | None
    lexical_rank: int | None
    fused: float


@dataclass(frozen=True)
class Retrieved:
    """A query's ranked chunks, the mode it ran in, and how the vector part ran."""

    ranked: list[Ranked]
    mode: str
    search_mode: str


def _fuse(dense: Sequence[storage.Hit], lexical: Sequence[storage.Hit]) -> list[Ranked]:
    k = int(settings.RETRIEVAL_RRF_K)
    weights = (1.0, float(settings.RETRIEVAL_HYBRID_LEXICAL_WEIGHT))
    by_id: dict[int, storage.Hit] = {}
    ranks: dict[int, list[int | None]] = {}
    for position, hits in enumerate((dense, lexical)):
        for rank, hit in enumerate(hits, start=1):
            by_id.setdefault(hit.chunk_id, hit)
            ranks.setdefault(hit.chunk_id, [None, None])[position] = rank
    fused = [
        Ranked(
            by_id[chunk],
            d,
            lx,
            sum(w / (k + r) for w, r in zip(weights, (d, lx), strict=True) if r is not None),
        )
        for chunk, (d, lx) in ranks.items()
    ]
    # Ties (a chunk first in one ranking against one first in the other) go to the closer vector.
    fused.sort(key=lambda r: (-r.fused, -r.hit.score, r.hit.chunk_id))
    return fused


def _grouped(ranked: list[Ranked], k: int, group_by_document: bool) -> list[Ranked]:
    if not group_by_document:
        return ranked[:k]
    best = {id(hit): None for hit in best_per_document([r.hit for r in ranked], k)}
    return [r for r in ranked if id(r.hit) in best]


def retrieve(
    collection: Collection,
    query: str,
    vector: np.ndarray,
    *,
    k: int,
    q: Q | None = None,
    mode: str | None = None,
    group_by_document: bool = False,
) -> Retrieved:
    """The top k chunks (or documents) by the embedding, by full-text search, or by both fused.

    Hybrid: each ranking contributes its top max(k x 4, RETRIEVAL_HYBRID_CANDIDATES) chunks, both
    restricted to the filter's documents, fused by reciprocal rank; with `group_by_document` the
    candidates grow (doubling) until they hold k documents or the filter's rows run out.
    Needs no transaction (each statement reads committed rows, as it would inside one).
    """
    mode = mode or collection.retrieval_mode
    scope = _scope(collection, q)
    if scope.empty:
        return Retrieved([], mode, SearchMode.NONE)
    if mode == RetrievalMode.DENSE:
        found = search_vectors(collection, vector, k=k, group_by_document=group_by_document, scope=scope)
        k_rrf = int(settings.RETRIEVAL_RRF_K)
        ranked = [Ranked(hit, rank, None, 1.0 / (k_rrf + rank)) for rank, hit in enumerate(found.hits, 1)]
        return Retrieved(ranked, mode, found.mode)
    limit = max(k * GROUP_OVERFETCH, int(settings.RETRIEVAL_HYBRID_CANDIDATES))
    while True:
        # The idf's N (the collection's indexed chunks) is counted in the same statement as the terms.
        lexical = storage.lexical_search(collection, query, vector, limit=limit, document_ids=scope.ids)
        if mode == RetrievalMode.LEXICAL:
            dense: list[storage.Hit] = []
            search_mode = str(SearchMode.LEXICAL)
        else:
            found = search_vectors(collection, vector, k=limit, scope=scope)
            dense, search_mode = found.hits, found.mode
        ranked = _grouped(_fuse(dense, lexical), k, group_by_document)
        exhausted = len(lexical) < limit and len(dense) < limit
        if len(ranked) >= k or exhausted or limit >= HNSW_MAX_EF_SEARCH:
            return Retrieved(ranked, mode, search_mode)
        limit = min(HNSW_MAX_EF_SEARCH, limit * 2)


# --- The query service ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryAnswer:
    """The cited results of a query, and the log entry recording it."""

    results: list[dict[str, Any]]
    no_relevant_fragment: bool
    log: QueryLog


def _check_query(query: Any, k: Any, min_score: Any) -> None:
    if not isinstance(query, str) or not query.strip():
        raise ValidationFailed("the query must not be empty", code="empty_query", details={"field": "query"})
    if len(query) > max_query_chars():
        raise ValidationFailed(
            f"the query is longer than {max_query_chars()} characters",
            code="query_too_long",
            details={"field": "query", "max": max_query_chars()},
        )
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ValidationFailed(
            f"k must be an integer from 1 to {MAX_K}", code="invalid_k", details={"field": "k"}
        )
    if min_score is not None and (
        isinstance(min_score, bool) or not isinstance(min_score, int | float) or not -1 <= min_score <= 1
    ):
        raise ValidationFailed(
            "min_score must be a number from -1 to 1",
            code="invalid_min_score",
            details={"field": "min_score"},
        )


@dataclass(frozen=True)
class _Masked:
    """What the query log keeps of a query: masked text and filters, PII counts, subject keys."""

    query: str
    summary: dict[str, int]
    filters: dict[str, Any]
    subject_keys: list[str]


def _masked_strings(query: str, filters: dict[str, Any] | None) -> _Masked:
    """The query and the filters' string values with identifiers masked, for the log.

    The same scan gives the subject keys of every identifier found (query and filter strings): the
    log row carries them so an erasure request finds and redacts it without reading any text.
    """
    strings: list[str] = [query]
    for value in (filters or {}).values():
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, list):
            strings += [v for v in value if isinstance(v, str)]
        elif isinstance(value, dict):
            strings += [v for v in value.values() if isinstance(v, str)]
    # One by one: for a handful of short strings the batched path's setup costs more than it saves.
    results = [pii.scan_text(text) for text in strings]
    masked = {text: pii.mask_text(text, result) for text, result in zip(strings, results, strict=True)}
    summary = results[0].summary()

    def mask(value: Any) -> Any:
        if isinstance(value, str):
            return masked.get(value, value)
        if isinstance(value, list):
            return [mask(v) for v in value]
        if isinstance(value, dict):
            return {key: mask(v) for key, v in value.items()}
        return value

    keys = sorted({key for result in results for key in result.subject_keys()})
    return _Masked(masked[query], summary, mask(filters or {}), keys)


def _check_mode(mode: Any, group_by_document: Any) -> None:
    if mode is not None and mode not in RetrievalMode.values:
        raise ValidationFailed(
            f"mode must be one of {', '.join(RetrievalMode.values)}",
            code="invalid_mode",
            details={"field": "mode", "allowed": list(RetrievalMode.values)},
        )
    if not isinstance(group_by_document, bool):
        raise ValidationFailed(
            "group_by_document must be true or false",
            code="invalid_group_by_document",
            details={"field": "group_by_document"},
        )


def _results(found: Retrieved, threshold: float) -> list[dict[str, Any]]:
    # The threshold is the vector ranking's notion of relevance: a chunk the full-text ranking found
    # holds the query's words (an order number, a product code), which is evidence of its own, so it
    # stays even when its cosine is low. In dense mode every hit is judged by its cosine.
    return [_cited(r) for r in found.ranked if r.lexical_rank is not None or r.hit.score >= threshold]


def collection_query(
    *,
    actor: User,
    collection: Collection,
    query: str,
    k: int = 5,
    filters: dict[str, Any] | None = None,
    min_score: float | None = None,
    mode: str | None = None,
    group_by_document: bool = False,
) -> QueryAnswer:
    """Embed the query, search the collection, cite each chunk, and log the query (masked) for Art. 12.

    `mode` (dense, lexical or hybrid; the collection's default when None) picks the rankings;
    `min_score` is a floor on the cosine similarity of chunks only the vector ranking found.
    """
    started = time.monotonic()
    _check_query(query, k, min_score)
    _check_mode(mode, group_by_document)
    q = filter_q(filters)
    threshold = collection.min_score if min_score is None else float(min_score)
    loaded = embedding.load_model(collection.embedding_model)
    vector = embedding.embed(loaded, [query])[0]
    # The PII scan for the log (spaCy, regexes) runs in this process: the raw query never leaves it,
    # and the log row is written only once the masked text exists, so no unmasked query is ever stored.
    # It runs beside the search, where this thread waits for PostgreSQL, not beside the embedding:
    # spaCy holds the GIL, and beside torch both ran slower than one after the other (the embedding
    # took 15.7 ms alone and 21.9 ms beside the scan, which takes 4.7 ms alone).
    masking = _mask_pool().submit(_masked_strings, query, filters)
    try:
        found = retrieve(collection, query, vector, k=k, q=q, mode=mode, group_by_document=group_by_document)
        results = _results(found, threshold)
        masked = masking.result()
    finally:
        masking.cancel()
    log = _log(actor, collection, masked, k, threshold, results, found, group_by_document, started)
    return QueryAnswer(results=results, no_relevant_fragment=not results, log=log)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _mask_pool() -> ThreadPoolExecutor:
    """Threads that scan queries for the log, shared by the process's request threads."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(
                    max_workers=int(settings.RETRIEVAL_MASK_THREADS), thread_name_prefix="query-mask"
                )
    return _pool


def _log(
    actor: User,
    collection: Collection,
    masked: _Masked,
    k: int,
    threshold: float,
    results: list[dict[str, Any]],
    found: Retrieved,
    group_by_document: bool,
    started: float,
) -> QueryLog:
    return QueryLog.objects.create(
        user=user_or_none(actor),
        collection=collection,
        query_masked=masked.query,
        query_pii_summary=masked.summary,
        subject_keys=masked.subject_keys,
        k=k,
        min_score=threshold,
        filters=masked.filters,
        results=[
            {
                "chunk_id": r["chunk_id"],
                "document_id": r["citation"]["document_id"],
                "score": r["score"],
                "ranks": r["ranks"],
            }
            for r in results
        ],
        no_relevant_fragment=not results,
        search_mode=found.search_mode,
        retrieval_mode=found.mode,
        group_by_document=group_by_document,
        duration_ms=round((time.monotonic() - started) * 1000, 3),
    )


def collection_retrieve(
    *, actor: User, collection: Collection, query: str, k: int = 5, min_score: float | None = None
) -> list[dict[str, Any]]:
    """The cited chunks above the threshold, in the collection's retrieval mode, without a query log row.

    For a caller that keeps its own Art. 12 record of the retrieval (an answer record holds the chunk
    ids and scores): one record per question, and the question is scanned for PII once, by the caller.
    """
    require(actor, "collection", READ)
    _check_query(query, k, min_score)
    threshold = collection.min_score if min_score is None else float(min_score)
    vector = embedding.embed(embedding.load_model(collection.embedding_model), [query])[0]
    return _results(retrieve(collection, query, vector, k=k), threshold)


def _cited(ranked: Ranked) -> dict[str, Any]:
    hit = ranked.hit
    return {
        "chunk_id": hit.chunk_id,
        "text": hit.text,
        "score": round(hit.score, 6),
        "ranks": {"dense": ranked.dense_rank, "lexical": ranked.lexical_rank},
        "citation": {
            "document_id": hit.document_id,
            "external_id": hit.external_id,
            "title": hit.title,
            "source": hit.source,
            "start": hit.start,
            "end": hit.end,
        },
    }


def ids_of(hits: Sequence[storage.Hit]) -> list[int]:
    return [hit.chunk_id for hit in hits]
