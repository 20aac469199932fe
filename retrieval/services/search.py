"""Cited search over a collection, with a filtered query that returns k rows whenever k rows match.

pgvector 0.6.2 applies a WHERE clause after the HNSW walk, so a selective filter returns fewer than
k rows (DESIGN section 5). Here a filter is first resolved to the matching documents and their chunk
count: a selective filter (few rows, or a small share of the collection) runs as exact search over
just those rows (a btree probe and a sort); a broad one walks the HNSW graph with ef_search raised
in proportion to 1/selectivity, doubled until k rows come back, with exact search as the last resort.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import is_naive, make_aware

from governance import pii
from governance.errors import ValidationFailed
from governance.policy import READ, require
from governance.roles import User, user_or_none
from retrieval import embedding, storage
from retrieval.choices import DocumentStatus, IndexState, SearchMode
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
        parsed = parse_datetime(value)
        if parsed is None and (day := parse_date(value)) is not None:
            parsed = datetime(day.year, day.month, day.day)  # noqa: DTZ001 - made aware below
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


def _indexed(collection: Collection) -> Any:
    return Document.objects.filter(collection=collection, status=DocumentStatus.INDEXED)


def _total_chunks(collection: Collection) -> int:
    return sum(_indexed(collection).values_list("chunk_count", flat=True))


def search_vectors(collection: Collection, vector: np.ndarray, *, k: int, q: Q | None = None) -> SearchResult:
    """Top-k chunks of the collection's indexed documents matching `q`; k of them whenever k match.

    Runs inside a transaction (SET LOCAL hnsw.ef_search must not leak into the pooled connection).
    """
    ids: list[int] | None = None
    selectivity = 1.0
    matching = None
    if q is not None:
        rows = list(_indexed(collection).filter(q).values_list("pk", "chunk_count"))
        matching = sum(count for _, count in rows)
        if matching == 0:
            return SearchResult([], SearchMode.NONE)
        total = _total_chunks(collection)
        if matching < total:
            ids, selectivity = [pk for pk, _ in rows], matching / max(1, total)
    exact_rows = int(settings.RETRIEVAL_EXACT_MAX_ROWS)
    exact_share = float(settings.RETRIEVAL_EXACT_MAX_FRACTION)
    if collection.index_state != IndexState.READY or (
        ids is not None and matching is not None and (matching <= exact_rows or selectivity <= exact_share)
    ):
        return SearchResult(
            storage.search(collection, vector, k=k, document_ids=ids, exact=True), SearchMode.EXACT
        )
    base = max(int(settings.RETRIEVAL_HNSW_EF_SEARCH), 2 * k)
    ef = min(HNSW_MAX_EF_SEARCH, max(base, math.ceil(2 * k / selectivity)))
    while True:
        hits = storage.search(collection, vector, k=k, document_ids=ids, exact=False, ef_search=ef)
        if len(hits) >= k:
            return SearchResult(hits, SearchMode.HNSW)
        available = matching if matching is not None else _total_chunks(collection)
        if len(hits) >= available:
            return SearchResult(hits, SearchMode.HNSW)
        if ef >= HNSW_MAX_EF_SEARCH:
            break
        ef = min(HNSW_MAX_EF_SEARCH, ef * 2)
    return SearchResult(
        storage.search(collection, vector, k=k, document_ids=ids, exact=True), SearchMode.EXACT
    )


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


def collection_query(
    *,
    actor: User,
    collection: Collection,
    query: str,
    k: int = 5,
    filters: dict[str, Any] | None = None,
    min_score: float | None = None,
) -> QueryAnswer:
    """Embed the query, search the collection, cite each chunk, and log the query (masked) for Art. 12."""
    started = time.monotonic()
    _check_query(query, k, min_score)
    q = filter_q(filters)
    threshold = collection.min_score if min_score is None else float(min_score)
    loaded = embedding.load_model(collection.embedding_model)
    vector = embedding.embed(loaded, [query])[0]
    masked = _masked_strings(query, filters)
    with transaction.atomic():
        found = search_vectors(collection, vector, k=k, q=q)
        hits = [hit for hit in found.hits if hit.score >= threshold]
        documents = Document.objects.only("pk", "external_id", "title", "source").in_bulk(
            {hit.document_id for hit in hits}
        )
        results = [_cited(hit, documents[hit.document_id]) for hit in hits if hit.document_id in documents]
        log = QueryLog.objects.create(
            user=user_or_none(actor),
            collection=collection,
            query_masked=masked.query,
            query_pii_summary=masked.summary,
            subject_keys=masked.subject_keys,
            k=k,
            min_score=threshold,
            filters=masked.filters,
            results=[
                {"chunk_id": r["chunk_id"], "document_id": r["citation"]["document_id"], "score": r["score"]}
                for r in results
            ],
            no_relevant_fragment=not results,
            search_mode=found.mode,
            duration_ms=round((time.monotonic() - started) * 1000, 3),
        )
    return QueryAnswer(results=results, no_relevant_fragment=not results, log=log)


def collection_retrieve(
    *, actor: User, collection: Collection, query: str, k: int = 5, min_score: float | None = None
) -> list[dict[str, Any]]:
    """The cited chunks above the threshold, without a query log row.

    For a caller that keeps its own Art. 12 record of the retrieval (an answer record holds the chunk
    ids and scores): one record per question, and the question is scanned for PII once, by the caller.
    """
    require(actor, "collection", READ)
    _check_query(query, k, min_score)
    threshold = collection.min_score if min_score is None else float(min_score)
    vector = embedding.embed(embedding.load_model(collection.embedding_model), [query])[0]
    with transaction.atomic():
        found = search_vectors(collection, vector, k=k)
        hits = [hit for hit in found.hits if hit.score >= threshold]
        documents = Document.objects.only("pk", "external_id", "title", "source").in_bulk(
            {hit.document_id for hit in hits}
        )
    return [_cited(hit, documents[hit.document_id]) for hit in hits if hit.document_id in documents]


def _cited(hit: storage.Hit, document: Document) -> dict[str, Any]:
    return {
        "chunk_id": hit.chunk_id,
        "text": hit.text,
        "score": round(hit.score, 6),
        "citation": {
            "document_id": document.pk,
            "external_id": document.external_id,
            "title": document.title,
            "source": document.source,
            "start": hit.start,
            "end": hit.end,
        },
    }


def ids_of(hits: Sequence[storage.Hit]) -> list[int]:
    return [hit.chunk_id for hit in hits]
