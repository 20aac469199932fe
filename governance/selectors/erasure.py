"""Reads of erasure requests: lists, the overdue ones, the certificate file."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from governance.choices import ErasureStatus
from governance.errors import NotFound
from governance.models import ErasureRequest, SuppressedKey

OPEN_STATUSES = (
    ErasureStatus.RECEIVED,
    ErasureStatus.IN_PROGRESS,
    ErasureStatus.ERASED,
    ErasureStatus.FAILED,
    ErasureStatus.ON_HOLD,
)


def erasure_request_list(*, kind: str | None = "erasure") -> QuerySet[ErasureRequest]:
    """Requests of one kind (erasure by default), or of every kind with kind=None."""
    requests = ErasureRequest.objects.all()
    return requests if kind is None else requests.filter(kind=kind)


def erasure_request_overdue() -> QuerySet[ErasureRequest]:
    """Requests past their due date that have not ended (Art. 12(3) deadline missed)."""
    return ErasureRequest.objects.filter(due_at__lt=timezone.now(), status__in=OPEN_STATUSES).order_by(
        "due_at"
    )


def overdue_q() -> Q:
    return Q(due_at__lt=timezone.now(), status__in=OPEN_STATUSES)


def is_overdue(request: ErasureRequest) -> bool:
    return request.status in OPEN_STATUSES and request.due_at < timezone.now()


def suppression_list() -> QuerySet[SuppressedKey]:
    return SuppressedKey.objects.select_related("request", "lifted_by")


def certificate_path(request: ErasureRequest) -> Path:
    """The stored certificate PDF; NotFound if the file went missing from MEDIA_ROOT."""
    path = Path(settings.MEDIA_ROOT) / request.certificate_file
    if not request.certificate_file or not path.is_file():
        raise NotFound("the certificate file is missing", code="certificate_missing")
    return path
