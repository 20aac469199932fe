"""Collections: the model and its dimension are checked on creation; each gets its own partition."""

from __future__ import annotations

import pytest

from governance.models import AuditEvent
from retrieval import storage
from retrieval.models import Collection

pytestmark = pytest.mark.django_db


def _body(ai_system, **fields):
    return {"name": "Support KB", "ai_system": ai_system.pk, **fields}


def test_it_creates_a_collection_on_the_bundled_model_with_its_dimension_and_window(api, engineer, ai_system):
    response = api(engineer).post("/api/v1/collections/", _body(ai_system), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["embedding_dimension"] == 384
    # MiniLM reads 256 tokens including [CLS] and [SEP]: the 512 default is capped at its window.
    assert body["chunk_size"] == body["model_max_tokens"] == 254
    assert body["chunk_overlap"] == 64
    assert body["documents"]["indexed"] == 0
    collection = Collection.objects.get(pk=body["id"])
    assert storage.has_hnsw_index(collection)
    assert AuditEvent.objects.filter(action="collection.created", object_id=str(collection.pk)).count() == 1


def test_it_refuses_a_model_path_that_does_not_exist(api, engineer, ai_system, tmp_path):
    body = _body(ai_system, embedding_model=str(tmp_path / "no-such-model"))
    response = api(engineer).post("/api/v1/collections/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "model_not_found"
    assert not Collection.objects.exists()


def test_it_refuses_a_dimension_the_model_does_not_produce(api, engineer, ai_system):
    response = api(engineer).post(
        "/api/v1/collections/", _body(ai_system, embedding_dimension=768), format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "dimension_mismatch"
    assert error["details"]["model_dimension"] == 384
    assert not Collection.objects.exists()


def test_it_refuses_a_chunk_size_the_model_would_truncate(api, engineer, ai_system):
    response = api(engineer).post("/api/v1/collections/", _body(ai_system, chunk_size=512), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "chunk_size_exceeds_model"


def test_it_refuses_an_overlap_as_large_as_the_chunk(api, engineer, ai_system):
    body = _body(ai_system, chunk_size=100, chunk_overlap=100)
    response = api(engineer).post("/api/v1/collections/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_chunk_overlap"


def test_it_refuses_to_change_the_embedding_model_after_creation(api, engineer, collection):
    response = api(engineer).patch(
        f"/api/v1/collections/{collection.pk}/", {"embedding_model": "/elsewhere"}, format="json"
    )
    assert response.status_code == 400
    assert Collection.objects.get(pk=collection.pk).embedding_model == collection.embedding_model


def test_it_updates_the_default_threshold_with_one_audit_event(api, engineer, collection):
    response = api(engineer).patch(f"/api/v1/collections/{collection.pk}/", {"min_score": 0.5}, format="json")
    assert response.status_code == 200
    assert response.json()["min_score"] == 0.5
    assert AuditEvent.objects.filter(action="collection.updated", object_id=str(collection.pk)).count() == 1


def test_each_collection_gets_its_own_partition_with_its_own_hnsw_index(make_collection):
    first, second = make_collection(), make_collection()
    assert first.partition != second.partition
    assert storage.has_hnsw_index(first) and storage.has_hnsw_index(second)
