"""Write services for collections and their per-collection index."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from governance import claim, pii
from governance.errors import Conflict, ValidationFailed
from governance.models import AISystem
from governance.roles import User, user_or_none
from governance.services.audit import audit_record
from retrieval import embedding, storage
from retrieval.choices import IN_FLIGHT, IndexState, PiiPolicy, RetrievalMode
from retrieval.models import Collection, Document
from retrieval.models.collections import DEFAULT_EMBEDDING_MODEL

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 512
DEFAULT_CHUNK_OVERLAP = 64
UPDATABLE = ("name", "description", "min_score", "pii_policy", "retrieval_mode", "document_retention_days")


def _check_chunking(chunk_size: int | None, chunk_overlap: int | None, max_tokens: int) -> tuple[int, int]:
    # The model truncates anything past its window (MiniLM: 256 tokens including [CLS] and [SEP]),
    # so a larger chunk would be stored whole but embedded in part: refuse it rather than index text
    # the vector does not represent. Without a value, the default is 512 capped at the model's window.
    size = min(DEFAULT_CHUNK_SIZE, max_tokens) if chunk_size is None else int(chunk_size)
    if size > max_tokens:
        raise ValidationFailed(
            f"chunk_size {size} exceeds the {max_tokens} tokens the embedding model reads per chunk",
            code="chunk_size_exceeds_model",
            details={"field": "chunk_size", "max": max_tokens},
        )
    overlap = min(DEFAULT_CHUNK_OVERLAP, size // 2) if chunk_overlap is None else int(chunk_overlap)
    if not 0 <= overlap < size:
        raise ValidationFailed(
            "chunk_overlap must be at least 0 and smaller than chunk_size",
            code="invalid_chunk_overlap",
            details={"field": "chunk_overlap"},
        )
    return size, overlap


def _check_text_search(config: str, header: str) -> None:
    """The language must be one PostgreSQL knows; the header, embedded with every chunk, holds no PII."""
    if not isinstance(config, str) or not storage.text_search_config_exists(config):
        raise ValidationFailed(
            "text_search_config must be a PostgreSQL text search configuration",
            code="invalid_text_search_config",
            details={"field": "text_search_config", "allowed": storage.text_search_configs()},
        )
    if header.strip() and pii.scan_text(header).findings:
        # Every chunk would carry the identifier, and no erasure request could remove it chunk by chunk.
        raise ValidationFailed(
            "chunk_header contains personal data",
            code="header_contains_pii",
            details={"field": "chunk_header"},
        )


# A hundred years: longer is "keep", and a far larger count overflows PostgreSQL's timestamps in the
# retention sweep's date arithmetic.
MAX_RETENTION_DAYS = 36_500


def check_retention_days(days: Any) -> None:
    """None keeps documents until deleted; otherwise a whole number of days, 1 to MAX_RETENTION_DAYS."""
    if days is None:
        return
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_RETENTION_DAYS:
        raise ValidationFailed(
            f"document_retention_days must be 1 to {MAX_RETENTION_DAYS} days, or empty to keep documents",
            code="invalid_retention_days",
            details={"field": "document_retention_days"},
        )


def collection_check(
    *,
    embedding_model: str = DEFAULT_EMBEDDING_MODEL,
    embedding_dimension: int | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    hnsw_m: int | None = 16,
    hnsw_ef_construction: int | None = 64,
    text_search_config: str = "english",
    chunk_header: str = "",
) -> tuple[embedding.LoadedModel, int, int]:
    """Load the model and check the dimension, chunking and HNSW parameters against it."""
    _check_text_search(text_search_config, chunk_header)
    loaded = embedding.load_model(embedding_model or DEFAULT_EMBEDDING_MODEL)  # slow the first time
    if embedding_dimension is not None and int(embedding_dimension) != loaded.dimension:
        raise ValidationFailed(
            f"the model produces {loaded.dimension}-dimensional vectors, not {embedding_dimension}",
            code="dimension_mismatch",
            details={"field": "embedding_dimension", "model_dimension": loaded.dimension},
        )
    size, overlap = _check_chunking(chunk_size, chunk_overlap, loaded.max_tokens)
    if (hnsw_ef_construction or 64) < 2 * (hnsw_m or 16):
        raise ValidationFailed(
            "hnsw_ef_construction must be at least twice hnsw_m",
            code="invalid_hnsw_parameters",
            details={"field": "hnsw_ef_construction"},
        )
    return loaded, size, overlap


def collection_create(
    *,
    actor: User,
    name: str,
    ai_system: AISystem,
    embedding_model: str = DEFAULT_EMBEDDING_MODEL,
    embedding_dimension: int | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    pii_policy: str = PiiPolicy.INDEX,
    hnsw_m: int = 16,
    hnsw_ef_construction: int = 64,
    min_score: float | None = None,
    description: str = "",
    retrieval_mode: str = RetrievalMode.DENSE,
    text_search_config: str = "english",
    embed_title: bool = True,
    chunk_header: str = "",
    document_retention_days: int | None = None,
) -> Collection:
    """Check the model (it loads, its dimension matches) and create the collection with its partition."""
    check_retention_days(document_retention_days)
    loaded, size, overlap = collection_check(
        embedding_model=embedding_model,
        embedding_dimension=embedding_dimension,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        hnsw_m=hnsw_m,
        hnsw_ef_construction=hnsw_ef_construction,
        text_search_config=text_search_config,
        chunk_header=chunk_header,
    )
    return _store_collection(
        actor,
        Collection(
            name=name,
            ai_system=ai_system,
            description=description,
            embedding_model=embedding_model,
            embedding_dimension=loaded.dimension,
            model_max_tokens=loaded.max_tokens,
            chunk_size=size,
            chunk_overlap=overlap,
            pii_policy=pii_policy,
            hnsw_m=hnsw_m,
            hnsw_ef_construction=hnsw_ef_construction,
            min_score=float(settings.RETRIEVAL_DEFAULT_MIN_SCORE) if min_score is None else min_score,
            retrieval_mode=retrieval_mode,
            text_search_config=text_search_config,
            embed_title=embed_title,
            chunk_header=chunk_header.strip(),
            document_retention_days=document_retention_days,
            created_by=user_or_none(actor),
        ),
    )


@transaction.atomic
def _store_collection(actor: User, collection: Collection) -> Collection:
    if Collection.objects.filter(name=collection.name).exists():
        raise Conflict("a collection with this name exists", code="duplicate_name", details={"field": "name"})
    collection.full_clean()
    collection.save()
    storage.create_partition(collection)
    audit_record(
        actor=actor,
        action="collection.created",
        obj=collection,
        payload={
            "ai_system": collection.ai_system_id,
            "embedding_dimension": collection.embedding_dimension,
            "chunk_size": collection.chunk_size,
            "chunk_overlap": collection.chunk_overlap,
            "pii_policy": collection.pii_policy,
            "hnsw_m": collection.hnsw_m,
            "hnsw_ef_construction": collection.hnsw_ef_construction,
            "bundled_model": collection.embedding_model == DEFAULT_EMBEDDING_MODEL,
            "retrieval_mode": collection.retrieval_mode,
            "text_search_config": collection.text_search_config,
            "embed_title": collection.embed_title,
            "chunk_header": bool(collection.chunk_header),
            "document_retention_days": collection.document_retention_days,
        },
    )
    return collection


@transaction.atomic
def collection_update(*, actor: User, collection: Collection, **fields: Any) -> Collection:
    """Change a collection's name, description, default threshold or PII policy (for future ingests)."""
    unknown = sorted(set(fields) - set(UPDATABLE))
    if unknown:
        raise ValidationFailed(
            f"'{unknown[0]}' cannot be changed after creation: the index depends on it",
            code="immutable_field",
            details={"field": unknown[0]},
        )
    if "document_retention_days" in fields:
        check_retention_days(fields["document_retention_days"])
    locked = Collection.objects.select_for_update().get(pk=collection.pk)
    changed = sorted(key for key, value in fields.items() if getattr(locked, key) != value)
    if not changed:
        return locked
    if "name" in changed and Collection.objects.filter(name=fields["name"]).exclude(pk=locked.pk).exists():
        raise Conflict("a collection with this name exists", code="duplicate_name", details={"field": "name"})
    for key in changed:
        setattr(locked, key, fields[key])
    locked.full_clean()
    locked.save()
    audit_record(actor=actor, action="collection.updated", obj=locked, payload={"changed": changed})
    return locked


def collection_index_build_due(*, collection_id: int) -> bool:
    """Whether a deferred index should be built now: every in-flight document of the collection is written."""
    if Document.objects.filter(collection_id=collection_id, status__in=IN_FLIGHT).exists():
        return False
    return Collection.objects.filter(pk=collection_id, index_state=IndexState.DEFERRED).exists()


def collection_build_index(*, collection_id: int) -> Collection:
    """Claim and build a deferred HNSW index (outside any transaction), then mark it ready."""
    claimed = claim.claim_row(
        Collection,
        collection_id,
        status_field="index_state",
        claimable_statuses=[IndexState.DEFERRED, IndexState.BUILDING],
        running_status=IndexState.BUILDING,
        on_exhausted=_index_build_exhausted,
    )
    collection = Collection.objects.get(pk=collection_id)
    if claimed is None:
        return collection  # built already, nothing deferred, or a live worker is building it
    try:
        seconds = storage.build_hnsw_index(collection)
    except Exception:
        # Back to deferred so a later run (task retry, `manage.py` or the next ingest) tries again.
        claim.release(Collection, [collection_id], index_state=IndexState.DEFERRED)
        raise
    return _finish_index_build(collection_id, seconds)


def _index_build_exhausted(collection_id: int, attempts: int) -> None:
    # Queries stay correct without the index (exact search), so the collection stays deferred rather
    # than failed; the next bulk load resets the attempts and tries again.
    logger.error(
        "index build of collection %s killed its worker %d times; left deferred", collection_id, attempts
    )
    Collection.objects.filter(pk=collection_id).update(index_state=IndexState.DEFERRED, worker_pid=None)


@transaction.atomic
def _finish_index_build(collection_id: int, seconds: float) -> Collection:
    collection = Collection.objects.select_for_update().get(pk=collection_id)
    if collection.index_state != IndexState.BUILDING or not claim.is_mine(collection):
        return collection  # another run took the build over; its outcome stands
    collection.index_state = IndexState.READY
    collection.save(update_fields=["index_state"])
    chunks = sum(Document.objects.filter(collection=collection).values_list("chunk_count", flat=True))
    audit_record(
        actor=None,
        action="collection.index_built",
        obj=collection,
        payload={"seconds": round(seconds, 3), "chunks": chunks},
    )
    return collection


def collection_defer_index(*, collection: Collection) -> bool:
    """Drop the HNSW index for a bulk load (inside the caller's transaction); False if already deferred."""
    claimed = Collection.objects.filter(pk=collection.pk, index_state=IndexState.READY).update(
        index_state=IndexState.DEFERRED, attempts=0, worker_pid=None
    )
    if claimed:
        storage.drop_hnsw_index(collection)
    return bool(claimed)
