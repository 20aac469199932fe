"""Read-side queries behind the reports: audit events of a period, their summary, the Art. 30 rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import Count, Max, Min, QuerySet

from governance.choices import DatasetVersionStatus
from governance.models import AISystem, AuditEvent, Dataset, DatasetVersion

# The columns of an exported event, in order: everything the hash covers, plus the two links.
AUDIT_COLUMNS = (
    "sequence",
    "timestamp",
    "actor",
    "action",
    "object_type",
    "object_id",
    "payload",
    "prev_hash",
    "hash",
)
# Rows of the "by actor" summary table; the rest is added up in one "others" line.
SUMMARY_ACTORS = 25


@dataclass(frozen=True)
class AuditFilter:
    """A report's period (start inclusive, end exclusive), its optional filters and the head it stops at."""

    start: datetime
    end: datetime
    object_type: str = ""
    object_id: str = ""
    action: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "object_type": self.object_type,
            "object_id": self.object_id,
            "action": self.action,
        }


def audit_events_for_report(*, where: AuditFilter, up_to_sequence: int) -> QuerySet[AuditEvent]:
    """Events of the period matching the filters, oldest first, none after the head the report names."""
    events = AuditEvent.objects.filter(
        timestamp__gte=where.start, timestamp__lt=where.end, sequence__lte=up_to_sequence
    )
    if where.object_type:
        events = events.filter(object_type=where.object_type)
    if where.object_id:
        events = events.filter(object_id=where.object_id)
    if where.action:
        events = events.filter(action=where.action)
    return events.order_by("sequence")


def audit_event_rows(events: QuerySet[AuditEvent], *, chunk_size: int = 2000) -> Iterator[tuple[Any, ...]]:
    """The events as tuples of AUDIT_COLUMNS through a server-side cursor: memory stays bounded."""
    return events.values_list(*AUDIT_COLUMNS).iterator(chunk_size=chunk_size)


def audit_summary(events: QuerySet[AuditEvent]) -> dict[str, Any]:
    """Counts over every event of the report (not only those a PDF prints), computed in the database."""
    bounds = events.aggregate(
        count=Count("pk"),
        first_sequence=Min("sequence"),
        last_sequence=Max("sequence"),
        first_timestamp=Min("timestamp"),
        last_timestamp=Max("timestamp"),
    )
    actors = _counted(events, "actor")
    others = sum(row["count"] for row in actors[SUMMARY_ACTORS:])
    return {
        "count": bounds["count"],
        "first_sequence": bounds["first_sequence"],
        "last_sequence": bounds["last_sequence"],
        "first_timestamp": _iso(bounds["first_timestamp"]),
        "last_timestamp": _iso(bounds["last_timestamp"]),
        "by_action": _counted(events, "action"),
        "by_object_type": _counted(events, "object_type"),
        "by_actor": actors[:SUMMARY_ACTORS],
        "other_actors": {"actors": max(len(actors) - SUMMARY_ACTORS, 0), "count": others},
    }


def _counted(events: QuerySet[AuditEvent], field: str) -> list[dict[str, Any]]:
    rows = events.order_by().values(field).annotate(count=Count("pk")).order_by("-count", field)
    return [{"name": row[field], "count": row["count"]} for row in rows]


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- Records of processing (GDPR Art. 30) ---------------------------------------------------------


def latest_scanned_version(dataset: Dataset) -> DatasetVersion | None:
    """The newest version whose scan finished (its PII summary is the dataset's current categories)."""
    return (
        DatasetVersion.objects.filter(dataset=dataset, status=DatasetVersionStatus.READY)
        .order_by("-number")
        .first()
    )


def processing_records() -> list[dict[str, Any]]:
    """One row per (AI system, dataset) pair; a system without datasets and a dataset without a system
    get a row of their own, so nothing registered is left out."""
    systems = list(AISystem.objects.prefetch_related("datasets").order_by("name"))
    rows: list[dict[str, Any]] = []
    linked: set[int] = set()
    for system in systems:
        datasets = sorted(system.datasets.all(), key=lambda d: d.name)
        linked.update(d.pk for d in datasets)
        rows.extend(_record(system, dataset) for dataset in datasets)
        if not datasets:
            rows.append(_record(system, None))
    unlinked = Dataset.objects.exclude(pk__in=linked).order_by("name")
    rows.extend(_record(None, dataset) for dataset in unlinked)
    return rows


def _record(system: AISystem | None, dataset: Dataset | None) -> dict[str, Any]:
    version = latest_scanned_version(dataset) if dataset is not None else None
    categories = sorted((version.pii_summary or {}).items()) if version is not None else []
    return {
        "ai_system": system.name if system is not None else "",
        "ai_system_id": system.pk if system is not None else None,
        "intended_purpose": system.intended_purpose if system is not None else "",
        "risk_class": system.risk_class if system is not None else "",
        "recipients": system.recipients if system is not None else "",
        "dataset": dataset.name if dataset is not None else "",
        "dataset_id": dataset.pk if dataset is not None else None,
        "dataset_purpose": dataset.get_purpose_display() if dataset is not None else "",
        "legal_basis": dataset.get_legal_basis_display() if dataset is not None else "",
        "contains_personal_data": bool(dataset and dataset.contains_personal_data),
        "personal_data_categories": [{"name": name, "count": count} for name, count in categories],
        "categories_from_version": version.number if version is not None else None,
        "retention_until": _iso(dataset.retention_until) if dataset is not None else None,
    }
