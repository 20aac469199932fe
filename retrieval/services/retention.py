"""Documents past their collection's retention (GDPR Art. 5(1)(e)): the retrieval store of the sweep.

Registered with governance (governance/services/retention.py) as a RetentionStore. A document row (one
stored version) expires `document_retention_days` after its `created_at`. Removal is erasure's, keyed
by document id instead of subject keys: the documents are locked (`FOR UPDATE`, as the erasure
participant locks the subject's documents, so the two take turns), their chunks and then they are
deleted in the caller's transaction, and the purge runs the erasure purge on the affected partitions
and the documents table (VACUUM, HNSW rebuilt, indexes and statistics refreshed) outside it.
Documents still being ingested are skipped until a later sweep.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import DateTimeField, ExpressionWrapper, F
from django.db.models.functions import TruncDate
from django.utils import timezone

from governance.services.retention import DueItems, RetentionStore
from retrieval.choices import IN_FLIGHT
from retrieval.models import Collection, Document
from retrieval.services import erasure

RULE = "collection_document_retention"


def _with_expiry(collections: Any) -> Any:
    """Documents of collections with a retention, annotated with the moment each expires."""
    return (
        Document.objects.filter(collection__in=collections)
        .exclude(status__in=IN_FLIGHT)
        .annotate(
            expires_at=ExpressionWrapper(
                F("created_at") + F("collection__document_retention_days") * timedelta(days=1),
                output_field=DateTimeField(),
            )
        )
    )


def _limited() -> Any:
    return Collection.objects.filter(document_retention_days__isnull=False)


def _grouped(documents: Any) -> list[DueItems]:
    rows = (
        documents.annotate(due_on=TruncDate("expires_at"))
        .values("collection_id", "collection__name", "due_on")
        .order_by("collection_id", "due_on")
    )
    counted: dict[tuple[int, str, date], int] = {}
    for row in rows:
        key = (row["collection_id"], row["collection__name"], row["due_on"])
        counted[key] = counted.get(key, 0) + 1
    return [DueItems(target_id=c, target_name=n, due_on=d, count=k) for (c, n, d), k in counted.items()]


def upcoming(now: datetime, until: datetime) -> list[DueItems]:
    """Documents that expire after `now` and by `until`, per collection and day."""
    return _grouped(_with_expiry(_limited()).filter(expires_at__gt=now, expires_at__lte=until))


def expired(now: datetime) -> list[DueItems]:
    """Collections holding documents expired by `now` (due today)."""
    ids = sorted(
        set(_with_expiry(_limited()).filter(expires_at__lte=now).values_list("collection_id", flat=True))
    )
    today = timezone.localdate(now)
    names = dict(Collection.objects.filter(pk__in=ids).values_list("pk", "name"))
    counts = {pk: _expired(pk, now).count() for pk in ids}
    return [DueItems(target_id=pk, target_name=names[pk], due_on=today, count=counts[pk]) for pk in ids]


def _expired(collection_id: int, now: datetime) -> Any:
    return _with_expiry(Collection.objects.filter(pk=collection_id)).filter(expires_at__lte=now)


def erase(collection_id: int, now: datetime) -> dict[str, Any]:
    """Delete the collection's expired documents and their chunks (inside the caller's transaction)."""
    # Locked like the erasure participant locks the subject's documents: the second of the two waits,
    # then finds only rows the first left (a row deleted meanwhile is skipped by FOR UPDATE).
    ids = sorted(_expired(collection_id, now).select_for_update(of=("self",)).values_list("pk", flat=True))
    if not ids:
        return {"counts": {"documents": 0, "chunks": 0}, "ids": {}, "collections": []}
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {erasure.CHUNK_TABLE} WHERE collection_id = %s AND document_id = ANY(%s)",  # noqa: S608
            [collection_id, ids],
        )
        chunks = int(cursor.rowcount)
        cursor.execute(f"DELETE FROM {erasure.DOCUMENTS_TABLE} WHERE id = ANY(%s)", [ids])  # noqa: S608
        documents = int(cursor.rowcount)
    return {
        "counts": {"documents": documents, "chunks": chunks},
        "ids": {"documents": ids},
        "collections": [collection_id],
    }


def purge(erased: dict[str, Any]) -> dict[str, Any]:
    """Erasure's physical purge of the affected partition and the documents table (outside a transaction)."""
    collections = list(Collection.objects.filter(pk__in=erased.get("collections", [])).order_by("pk"))
    purged: dict[str, Any] = {}
    for collection in collections:
        purged[str(collection.pk)] = erasure.purge_collection(collection)
    result: dict[str, Any] = {"collections": purged}
    if erased.get("counts", {}).get("documents"):
        result["documents_table"] = erasure.scrub_table(erasure.DOCUMENTS_TABLE)
    return result


store = RetentionStore(
    name="retrieval",
    rule=RULE,
    target_type="collection",
    upcoming=upcoming,
    expired=expired,
    erase=erase,
    purge=purge,
    hold_field="collection",
)
