"""Ingestion: scan, policy, chunking on token boundaries, embedding and the atomic write."""

from __future__ import annotations

import numpy as np
import pytest

from governance import pii
from governance.models import AuditEvent
from retrieval.choices import DocumentStatus
from retrieval.models import Chunk
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


def test_each_chunk_stores_the_vector_of_its_own_passage_whatever_the_embedding_order(collection, ingest):
    # Chunks are embedded longest first across the documents of a batch and put back in chunk order;
    # documents of very different lengths make the two orders differ.
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
