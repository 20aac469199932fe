"""Ingestion: scan, policy, chunking on token boundaries, embedding and the atomic write."""

from __future__ import annotations

import numpy as np
import pytest

from governance import pii
from governance.models import AuditEvent
from retrieval.choices import DocumentStatus
from retrieval.models import Chunk, Document
from tests.conftest import wait_for
from tests.retrieval.conftest import PERSON_DOC, doc

pytestmark = pytest.mark.django_db


def test_it_indexes_a_document_into_chunks_with_character_spans(collection, ingest):
    text = " ".join(f"Sentence number {i} talks about invoices and refunds." for i in range(40))
    [document] = ingest(collection, doc("handbook", text, title="Handbook", source="wiki"))
    assert document.status == DocumentStatus.INDEXED
    chunks = list(Chunk.objects.filter(document=document).order_by("ordinal"))
    assert len(chunks) == document.chunk_count > 1
    for chunk in chunks:
        assert chunk.text == document.text[chunk.start_char : chunk.end_char]
        assert chunk.token_count <= collection.chunk_size
        assert len(chunk.embedding) == collection.embedding_dimension
    assert chunks[1].start_char < chunks[0].end_char  # neighbours overlap


def test_it_records_subject_keys_on_the_document_and_on_the_chunks_that_hold_them(collection, ingest):
    [document] = ingest(collection, doc("ticket", PERSON_DOC))
    email_key = pii.subject_key("email", "anna.kowalska@example.com")
    assert email_key in document.subject_keys
    assert document.pii_summary["EMAIL_ADDRESS"] == 1
    assert Chunk.objects.filter(document=document, subject_keys__contains=[email_key]).exists()
    assert AuditEvent.objects.filter(action="document.indexed", object_id=str(document.pk)).count() == 1


def test_each_chunk_stores_the_vector_of_its_own_passage(collection, ingest):
    # Chunks are embedded in slices that cross document boundaries (sentence-transformers sorts each
    # slice by length): documents of very different lengths make any mix-up of rows show.
    from retrieval import embedding, passages

    items = [
        doc(f"doc-{n}", " ".join(f"Paragraph {n}.{i} on refunds, invoices and delivery." for i in range(n)))
        for n in (3, 60, 1, 25)
    ]
    documents = ingest(collection, *items)
    chunks = list(Chunk.objects.filter(document__in=documents).order_by("document_id", "ordinal"))
    assert len({len(c.text) for c in chunks}) > 3

    expected = embedding.embed(
        embedding.load_model(collection.embedding_model),
        [passages.passage(c.heading, c.text) for c in chunks],
    )

    for chunk, vector in zip(chunks, expected, strict=True):
        assert float(np.dot(np.asarray(chunk.embedding, dtype=np.float32), vector)) > 0.9999, chunk.ordinal


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_documents_are_written_by_a_thread_beside_the_embedding(
    make_collection, engineer, monkeypatch
):
    # What a worker does: no caller transaction, so each document is finished by the writer thread as
    # its vectors come in; it closes its own connection when done. The task message is not sent, so
    # no session worker claims these documents first.
    from django.db import connection

    from retrieval.services import documents as service

    monkeypatch.setattr(service, "enqueue_on_commit", lambda *args, **kwargs: None)
    collection = make_collection(chunk_size=32, chunk_overlap=4, pii_policy="reject")
    items = [
        doc(f"clean-{n}", " ".join(f"Refund rule {n}.{i} for delayed parcels." for i in range(n)))
        for n in (2, 30, 9)
    ]
    items.insert(1, doc("ticket", PERSON_DOC))
    accepted = service.documents_ingest(actor=engineer, collection=collection, items=items)
    ids = service.documents_claim(document_ids=[d.pk for d in accepted.documents])
    assert len(ids) == 4

    def connections() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return int(cursor.fetchone()[0])

    before = connections()
    service.documents_process(document_ids=ids)

    stored = {d.external_id: d for d in Document.objects.filter(pk__in=ids)}
    assert stored["ticket"].status == DocumentStatus.REJECTED
    for name in ("clean-2", "clean-30", "clean-9"):
        assert (stored[name].status, stored[name].progress) == (DocumentStatus.INDEXED, 1.0)
        assert Chunk.objects.filter(document=stored[name]).count() == stored[name].chunk_count > 0
    assert AuditEvent.objects.filter(action="document.indexed").count() == 3
    assert wait_for(lambda: connections() <= before, timeout=10, interval=0.1)
