"""The one way services start background work: a task by name, with primary keys, after commit."""

from __future__ import annotations

from typing import Any

from django.db import transaction


def enqueue_on_commit(task_name: str, *args: Any, queue: str | None = None) -> None:
    """Send `task_name` once the current transaction commits (at once outside one).

    By name, so services never import tasks (tasks import services); after commit, so a worker never
    reads a row that is not there yet, and a rolled-back request sends nothing. Arguments are primary
    keys only: a message in the broker must carry no personal data.
    """
    transaction.on_commit(lambda: send_now(task_name, *args, queue=queue))


def send_now(task_name: str, *args: Any, queue: str | None = None) -> None:
    """Send a task by name immediately (for callers with no transaction of their own: the sweep)."""
    from governance.celery import app

    options: dict[str, Any] = {"queue": queue} if queue else {}
    app.send_task(task_name, args=list(args), **options)
