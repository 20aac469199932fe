"""Ingestion through the real Celery worker and broker, including a bulk load that builds the index after."""

from __future__ import annotations

import pytest

from retrieval import storage
from retrieval.choices import IndexState
from retrieval.models import Collection, Document
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.slow]


def _indexed(ids):
    return Document.objects.filter(pk__in=ids, status="indexed").count() == len(ids)


def test_uploaded_documents_are_indexed_by_the_worker_and_found_by_a_query(
    api, engineer, collection, celery_worker
):
    client = api(engineer)
    body = [
        {"external_id": "refunds", "text": "Refunds are paid back to the original card within five days."},
        {"external_id": "shipping", "text": "Parcels are shipped by courier and arrive within two days."},
    ]
    response = client.post(f"/api/v1/collections/{collection.pk}/documents/", body, format="json")
    assert response.status_code == 202
    ids = [d["id"] for d in response.json()["documents"]]
    wait_for(lambda: _indexed(ids), timeout=180)
    answer = client.post(
        f"/api/v1/collections/{collection.pk}/query/",
        {"query": "when is my refund paid?", "k": 1},
        format="json",
    ).json()
    assert answer["results"][0]["citation"]["external_id"] == "refunds"


def test_a_bulk_load_drops_the_index_and_the_worker_builds_it_when_the_load_ends(
    api, engineer, collection, celery_worker, settings
):
    settings.RETRIEVAL_BULK_MIN_CHUNKS = 1
    body = [{"external_id": f"d{i}", "text": f"Document {i} about topic {i % 3}."} for i in range(5)]
    response = api(engineer).post(f"/api/v1/collections/{collection.pk}/documents/", body, format="json")
    assert response.json()["bulk_load"] is True
    assert Collection.objects.get(pk=collection.pk).index_state == IndexState.DEFERRED
    assert not storage.has_hnsw_index(collection)
    ids = [d["id"] for d in response.json()["documents"]]
    wait_for(lambda: _indexed(ids), timeout=180)
    wait_for(lambda: Collection.objects.get(pk=collection.pk).index_state == IndexState.READY, timeout=120)
    assert storage.has_hnsw_index(collection)
