"""One claim primitive for every background row (scan, ingest, index build, manifest, fine-tune job).

A row that a worker processes carries four columns: `attempts`, `worker_host`, `worker_pid` and
`heartbeat_at`. A task takes its row with a conditional UPDATE that matches the attempts count it read,
so of two racing deliveries exactly one wins. A delivery that finds the row held by a live owner (fresh
heartbeat; on this host, a process that still exists) stands down; one that finds it held by a dead
owner takes over and resumes. Each claim counts an attempt, so a row that kills its worker every time
is failed (by the caller's `on_exhausted`) instead of looping forever. The beat sweep
(`requeue_stale`) re-sends rows whose owner's heartbeat went stale, so a whole-worker SIGKILL is
recovered within minutes rather than after the broker's visibility timeout.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F
from django.utils import timezone

logger = logging.getLogger(__name__)

OWNER_FIELDS = ("attempts", "worker_host", "worker_pid", "heartbeat_at")


@dataclass(frozen=True)
class Claim:
    """A row this process holds: which attempt it is and whether it resumes an earlier owner's work."""

    model: type[models.Model]
    pk: int
    attempt: int
    resumed: bool


@dataclass(frozen=True)
class ClaimKind:
    """What the stale sweep needs to know about one claimable model."""

    name: str
    model: type[models.Model]
    claimable_statuses: Sequence[str]
    resend: Callable[[list[int]], None]
    status_field: str = "status"
    stale_after: Callable[[], timedelta] = lambda: default_stale_after()


_KINDS: dict[str, ClaimKind] = {}


def register(kind: ClaimKind) -> None:
    """Make a model's stale rows visible to the sweep (tasks modules register theirs on import)."""
    _KINDS[kind.name] = kind


def kinds() -> list[ClaimKind]:
    return list(_KINDS.values())


def default_stale_after() -> timedelta:
    return timedelta(seconds=settings.CLAIM_STALE_AFTER_S)


def default_max_attempts() -> int:
    return int(settings.CLAIM_MAX_ATTEMPTS)


def me() -> tuple[str, int]:
    """This process as an owner; read at call time because prefork children share the parent's import."""
    return socket.gethostname(), os.getpid()


def owner_alive(
    *, worker_host: str, worker_pid: int | None, heartbeat_at: Any, stale_after: timedelta
) -> bool:
    """Whether the recorded owner may still be working (a duplicate delivery must then stand down)."""
    if worker_pid is None or heartbeat_at is None:
        return False
    fresh = timezone.now() - heartbeat_at < stale_after
    host, pid = me()
    if worker_host != host:
        return fresh  # another host: only its heartbeat can tell
    if worker_pid == pid:
        return False  # our own earlier attempt in this very process ended without finishing the row
    try:
        os.kill(worker_pid, 0)
    except ProcessLookupError:
        return False  # the process that held it is gone (SIGKILL, out of memory): take over at once
    except PermissionError:
        return fresh
    return fresh


def claim_row(
    model: type[models.Model],
    pk: int,
    *,
    claimable_statuses: Sequence[str],
    running_status: str,
    on_exhausted: Callable[[int, int], None],
    stale_after: timedelta | None = None,
    max_attempts: int | None = None,
    status_field: str = "status",
    **fields: Any,
) -> Claim | None:
    """Take a row for this process; None when it is finished, held by a live owner, or out of attempts."""
    stale_after = stale_after or default_stale_after()
    limit = max_attempts or default_max_attempts()
    row = model._default_manager.filter(pk=pk).values(status_field, *OWNER_FIELDS).first()
    if row is None or row[status_field] not in claimable_statuses:
        return None  # deleted or already finished: a redelivery has nothing to do
    held = row["worker_pid"] is not None
    if held and owner_alive(
        worker_host=row["worker_host"],
        worker_pid=row["worker_pid"],
        heartbeat_at=row["heartbeat_at"],
        stale_after=stale_after,
    ):
        logger.info(
            "%s %s is held by live process %s on %s",
            model.__name__,
            pk,
            row["worker_pid"],
            row["worker_host"],
        )
        return None
    if row["attempts"] >= limit:
        on_exhausted(pk, row["attempts"])
        return None
    host, pid = me()
    # Matching the status and attempts count we read makes two racing deliveries unable to both win:
    # every claim bumps attempts, so the loser's UPDATE matches no row.
    claimed = model._default_manager.filter(
        pk=pk, **{status_field: row[status_field]}, attempts=row["attempts"]
    ).update(
        **{status_field: running_status},
        attempts=F("attempts") + 1,
        worker_host=host,
        worker_pid=pid,
        heartbeat_at=timezone.now(),
        **fields,
    )
    if not claimed:
        logger.info("%s %s: someone else got there first", model.__name__, pk)
        return None
    return Claim(model=model, pk=pk, attempt=row["attempts"] + 1, resumed=held)


def claim_rows(model: type[models.Model], pks: Iterable[int], **options: Any) -> list[Claim]:
    """claim_row for each of several rows (one task ingests a group of documents)."""
    return [c for pk in pks if (c := claim_row(model, pk, **options)) is not None]


def owned(queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
    """The rows of `queryset` this process holds; writes filter on it so a taken-over owner writes nothing."""
    host, pid = me()
    return queryset.filter(worker_host=host, worker_pid=pid)


def is_mine(row: models.Model) -> bool:
    return (getattr(row, "worker_host", None), getattr(row, "worker_pid", None)) == me()


def heartbeat(model: type[models.Model], pks: Sequence[int], **fields: Any) -> int:
    """Refresh the heartbeat (and progress fields) of rows this process holds; 0 = the claim was lost."""
    return owned(model._default_manager.filter(pk__in=list(pks))).update(
        heartbeat_at=timezone.now(), **fields
    )


def release(model: type[models.Model], pks: Sequence[int], **fields: Any) -> int:
    """Give rows back without finishing them (they stay claimable by the next delivery at once)."""
    return owned(model._default_manager.filter(pk__in=list(pks))).update(worker_pid=None, **fields)


def stale_rows(kind: ClaimKind) -> list[int]:
    """Rows of a kind that an owner took and stopped heartbeating (its whole worker was killed)."""
    cutoff = timezone.now() - kind.stale_after()
    return list(
        kind.model._default_manager.filter(
            **{f"{kind.status_field}__in": list(kind.claimable_statuses)},
            worker_pid__isnull=False,
            heartbeat_at__lt=cutoff,
        ).values_list("pk", flat=True)
    )


def requeue_stale(kind: ClaimKind) -> list[int]:
    """Re-send the task of each stale row; the delivery then finds the owner dead and takes over.

    The sweep clears the dead owner with a conditional UPDATE that matches the heartbeat it read, so a
    live owner's heartbeat landing in between wins, and the next sweep does not re-send the same row
    before it has been stale for another `stale_after`.
    """
    requeued: list[int] = []
    for row in kind.model._default_manager.filter(pk__in=stale_rows(kind)).values(
        "pk", "worker_pid", "heartbeat_at"
    ):
        cleared = kind.model._default_manager.filter(
            pk=row["pk"], worker_pid=row["worker_pid"], heartbeat_at=row["heartbeat_at"]
        ).update(worker_pid=None, heartbeat_at=timezone.now())
        if cleared:
            requeued.append(row["pk"])
    if requeued:
        logger.warning(
            "re-sending %d stale %s row(s): their worker stopped heartbeating", len(requeued), kind.name
        )
        kind.resend(requeued)
    return requeued


def requeue_all_stale() -> dict[str, int]:
    """The beat task's body: every registered kind, swept once."""
    return {kind.name: len(requeue_stale(kind)) for kind in kinds()}
