"""Admin pages: counts and statuses visible to every role, creation through the service, nothing deleted."""

from __future__ import annotations

import pytest
from django.test import Client

from governance.models import AuditEvent
from retrieval.models import Collection
from tests.retrieval.conftest import doc

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_collection_list_shows_document_counts_and_the_index_state(officer, collection, ingest):
    ingest(collection, doc("faq", "Refunds take five working days."))
    page = _client(officer).get("/admin/retrieval/collection/")
    assert page.status_code == 200
    assert collection.name in page.content.decode() and "ready" in page.content.decode().lower()


def test_the_document_pages_show_status_progress_and_error_to_an_auditor(auditor, collection, ingest):
    [document] = ingest(collection, doc("faq", "Refunds take five working days."))
    client = _client(auditor)
    assert client.get("/admin/retrieval/document/").status_code == 200
    detail = client.get(f"/admin/retrieval/document/{document.pk}/change/")
    assert detail.status_code == 200 and "indexed" in detail.content.decode()


def test_an_engineer_creates_a_collection_in_the_admin_through_the_service(engineer, ai_system):
    response = _client(engineer).post(
        "/admin/retrieval/collection/add/",
        {
            "name": "Admin KB",
            "ai_system": ai_system.pk,
            "embedding_model": "all-MiniLM-L6-v2",
            "pii_policy": "mask",
            "hnsw_m": 16,
            "hnsw_ef_construction": 64,
            "min_score": 0.3,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    collection = Collection.objects.get(name="Admin KB")
    assert collection.embedding_dimension == 384 and collection.chunk_size == 254
    assert AuditEvent.objects.filter(action="collection.created", object_id=str(collection.pk)).exists()


def test_the_admin_form_reports_a_model_path_that_does_not_exist(engineer, ai_system, tmp_path):
    response = _client(engineer).post(
        "/admin/retrieval/collection/add/",
        {
            "name": "Broken KB",
            "ai_system": ai_system.pk,
            "embedding_model": str(tmp_path / "nothing"),
            "pii_policy": "index",
            "hnsw_m": 16,
            "hnsw_ef_construction": 64,
            "min_score": 0.3,
        },
    )
    assert response.status_code == 200
    assert "does not exist" in response.content.decode()
    assert not Collection.objects.filter(name="Broken KB").exists()


def test_an_auditor_cannot_add_a_collection_in_the_admin(auditor):
    assert _client(auditor).get("/admin/retrieval/collection/add/").status_code == 403


def _add_collection(user, ai_system, name, **fields):
    """POST the admin's add form with the defaults a browser would send, plus `fields`."""
    form = {
        "name": name,
        "ai_system": ai_system.pk,
        "embedding_model": "all-MiniLM-L6-v2",
        "pii_policy": "index",
        "hnsw_m": 16,
        "hnsw_ef_construction": 64,
        "min_score": 0.3,
        **fields,
    }
    return _client(user).post("/admin/retrieval/collection/add/", form)


def test_the_admin_creates_a_collection_with_its_ranking_language_and_header(engineer, ai_system):
    response = _add_collection(
        engineer,
        ai_system,
        "Polish KB",
        retrieval_mode="lexical",
        text_search_config="simple",
        chunk_header="Baza wiedzy działu obsługi",
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    collection = Collection.objects.get(name="Polish KB")
    assert (collection.retrieval_mode, collection.text_search_config) == ("lexical", "simple")
    assert collection.chunk_header == "Baza wiedzy działu obsługi" and collection.embed_title is False


def test_the_admin_refuses_an_unknown_text_search_language_as_a_form_error(engineer, ai_system):
    response = _add_collection(engineer, ai_system, "Klingon KB", text_search_config="klingon")
    assert response.status_code == 200
    assert "text_search_config must be a PostgreSQL text search configuration" in response.content.decode()
    assert not Collection.objects.filter(name="Klingon KB").exists()
