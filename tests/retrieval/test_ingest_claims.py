"""Document ingests under the claim primitive, and the stale-heartbeat sweep that rescues them."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from governance import tasks as governance_tasks
from retrieval import tasks
from retrieval.models import Document
from retrieval.services import documents
from tests.conftest import dead_pid, wait_for
from tests.retrieval.conftest import doc


def _accepted(engineer: Any, collection: Any, count: int = 2) -> list[int]:
    items = [doc(f"d{i}", f"Refunds for order {i} are paid within five days.") for i in range(count)]
    accepted = documents.documents_ingest(actor=engineer, collection=collection, items=items)
    return [d.pk for d in accepted.documents]


def _held(ids: list[int], *, pid: int, attempts: int = 1, age_s: float = 0) -> None:
    Document.objects.filter(pk__in=ids).update(
        status="processing",
        attempts=attempts,
        worker_host=socket.gethostname(),
        worker_pid=pid,
        heartbeat_at=timezone.now() - timedelta(seconds=age_s),
    )


@pytest.mark.django_db
def test_a_duplicate_ingest_delivery_while_the_first_is_alive_stands_down(engineer, collection, live_pid):
    ids = _accepted(engineer, collection)
    _held(ids, pid=live_pid)
    tasks.ingest_documents(ids)
    rows = Document.objects.filter(pk__in=ids)
    assert sorted(rows.values_list("status", "attempts", "worker_pid")) == [("processing", 1, live_pid)] * 2
    assert not any(rows.values_list("chunk_count", flat=True))


@pytest.mark.django_db
def test_an_ingest_delivery_after_its_owner_died_takes_over_and_indexes(engineer, collection):
    ids = _accepted(engineer, collection)
    _held(ids, pid=dead_pid())
    tasks.ingest_documents(ids)
    assert (
        sorted(Document.objects.filter(pk__in=ids).values_list("status", "attempts")) == [("indexed", 2)] * 2
    )


@pytest.mark.django_db
def test_a_document_that_kills_its_worker_every_time_fails_after_the_attempts_cap(
    engineer, collection, settings
):
    settings.CLAIM_MAX_ATTEMPTS = 3
    ids = _accepted(engineer, collection, count=1)
    _held(ids, pid=dead_pid(), attempts=3)
    tasks.ingest_documents(ids)
    document = Document.objects.get(pk=ids[0])
    assert (document.status, document.error_code, document.attempts) == ("failed", "worker_lost", 3)
    assert document.text == ""  # a document that never reaches the index keeps no text


@pytest.mark.django_db
def test_a_document_taken_over_by_another_worker_is_not_written_by_the_first(engineer, collection):
    ids = _accepted(engineer, collection, count=1)
    assert documents.documents_claim(document_ids=ids) == ids
    Document.objects.filter(pk__in=ids).update(worker_pid=dead_pid())  # another run holds it now
    assert documents.documents_process(document_ids=ids) == set()
    assert Document.objects.get(pk=ids[0]).status == "processing"


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.slow
def test_documents_left_processing_by_a_killed_worker_are_requeued_by_the_sweep_and_indexed(
    engineer, collection, celery_worker, monkeypatch, settings
):
    # A whole worker SIGKILLed: rows held by a dead process, their message still invisible in the broker
    # (2 h). Nothing is queued for them; only the sweep, run by the real worker, can bring them back.
    monkeypatch.setattr(documents, "enqueue_on_commit", lambda *args, **kwargs: None)
    ids = _accepted(engineer, collection)
    _held(ids, pid=dead_pid(), age_s=settings.CLAIM_STALE_AFTER_S + 60)
    governance_tasks.requeue_stale_claims.delay()
    wait_for(lambda: Document.objects.filter(pk__in=ids, status="indexed").count() == 2, timeout=180)
    assert sorted(Document.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == [2, 2]
