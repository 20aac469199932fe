"""Fixtures for retrieval: an AI system, collections on the bundled model, synchronous ingestion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from retrieval import intake
from retrieval.models import Collection, Document
from retrieval.services import collections, documents
from tests.factories import AISystemFactory

PERSON_DOC = (
    "Support ticket 4411. Anna Kowalska wrote from anna.kowalska@example.com and asked us to call her back "
    "on +48 601 234 567 about the delayed refund for her order."
)


@pytest.fixture
def ai_system(engineer: Any) -> Any:
    return AISystemFactory(owner=engineer)


@pytest.fixture
def make_collection(engineer: Any, ai_system: Any) -> Callable[..., Collection]:
    counter = iter(range(1, 10_000))

    def make(**fields: Any) -> Collection:
        fields.setdefault("name", f"Collection {next(counter)}")
        return collections.collection_create(actor=engineer, ai_system=ai_system, **fields)

    return make


@pytest.fixture
def collection(make_collection: Callable[..., Collection]) -> Collection:
    return make_collection(chunk_size=64, chunk_overlap=8)


def doc(external_id: str, text: str, **fields: Any) -> intake.IncomingDocument:
    return intake.document_from_object({"external_id": external_id, "text": text, **fields})


def ingest_now(actor: Any, collection: Collection, items: list[intake.IncomingDocument]) -> list[Document]:
    """Accept documents and run the pipeline in this process (what the Celery task does).

    In a transactional test the ingest task is sent at once, and a session Celery worker started by an
    earlier test may claim some of the documents first: wait until it has finished them too.
    """
    from retrieval.choices import IN_FLIGHT
    from tests.conftest import wait_for

    accepted = documents.documents_ingest(actor=actor, collection=collection, items=items)
    ids = [d.pk for d in accepted.documents if d.pk not in accepted.unchanged]
    claimed = documents.documents_claim(document_ids=ids)
    documents.documents_process(document_ids=claimed)
    wait_for(lambda: not Document.objects.filter(pk__in=ids, status__in=IN_FLIGHT).exists(), timeout=240)
    return [Document.objects.get(pk=d.pk) for d in accepted.documents]


@pytest.fixture
def ingest(engineer: Any) -> Callable[..., list[Document]]:
    def run(collection: Collection, *items: intake.IncomingDocument) -> list[Document]:
        return ingest_now(engineer, collection, list(items))

    return run


def random_unit_vectors(count: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
