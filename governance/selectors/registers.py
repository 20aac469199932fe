"""Read-side queries for the registers."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from governance.choices import DPIAStatus
from governance.models import DPIA, AISystem, AuditEvent, Dataset, DatasetVersion


def ai_system_list() -> QuerySet[AISystem]:
    return AISystem.objects.select_related("owner").order_by("name")


def dataset_list() -> QuerySet[Dataset]:
    return Dataset.objects.select_related("owner").prefetch_related("ai_systems").order_by("name")


def dataset_version_list() -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.select_related("dataset").order_by("dataset_id", "-number")


def dpia_list() -> QuerySet[DPIA]:
    return DPIA.objects.select_related("ai_system", "created_by", "reviewer").prefetch_related("datasets")


def dpia_effective_for_dataset(dataset: Dataset, *, ai_system: AISystem | None = None) -> DPIA | None:
    """An approved DPIA covering the dataset whose review date has not passed (for that system, if named)."""
    dpias = DPIA.objects.filter(
        datasets=dataset, status=DPIAStatus.APPROVED, review_due__gte=timezone.localdate()
    )
    if ai_system is not None:
        dpias = dpias.filter(ai_system=ai_system)
    return dpias.order_by("-approved_at").first()


def dpia_effective_for_system(ai_system: AISystem) -> DPIA | None:
    """The newest approved DPIA of the AI system whose review date has not passed."""
    return (
        DPIA.objects.filter(
            ai_system=ai_system, status=DPIAStatus.APPROVED, review_due__gte=timezone.localdate()
        )
        .order_by("-approved_at")
        .first()
    )


def audit_event_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by("-sequence")
