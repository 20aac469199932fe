"""Cited search through the API: scores, citations, the threshold, the query log, and bad queries."""

from __future__ import annotations

import json

import pytest
from django.db import connection, transaction

from retrieval import storage
from retrieval.choices import DocumentStatus
from retrieval.models import QueryLog
from tests.retrieval.conftest import doc

pytestmark = pytest.mark.django_db

DOCS = [
    doc(
        "refunds",
        "Refunds are paid back to the original card within five working days.",
        title="Refund policy",
        source="kb/refunds",
        metadata={"lang": "en", "team": "billing"},
    ),
    doc(
        "shipping",
        "Parcels are shipped by courier and usually arrive within two days.",
        title="Shipping",
        source="kb/shipping",
        metadata={"lang": "en", "team": "logistics"},
    ),
    doc(
        "passwords",
        "To reset your password open the login page and click 'forgot password'.",
        title="Passwords",
        source="kb/passwords",
        metadata={"lang": "en", "team": "it"},
    ),
]


@pytest.fixture
def indexed(collection, ingest):
    documents = ingest(collection, *DOCS)
    assert all(d.status == DocumentStatus.INDEXED for d in documents)
    return {d.external_id: d for d in documents}


def _query(client, collection, **body):
    return client.post(f"/api/v1/collections/{collection.pk}/query/", body, format="json")


def test_it_returns_the_relevant_chunk_first_with_its_score_and_citation(api, engineer, collection, indexed):
    response = _query(api(engineer), collection, query="how long does a refund take?", k=3, min_score=0)
    assert response.status_code == 200
    body = response.json()
    assert body["no_relevant_fragment"] is False
    first = body["results"][0]
    document = indexed["refunds"]
    assert first["citation"] == {
        "document_id": document.pk,
        "external_id": "refunds",
        "title": "Refund policy",
        "source": "kb/refunds",
        "start": 0,
        "end": len(document.text),
    }
    assert first["text"] == document.text
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1


def test_k_defaults_to_five_and_caps_at_what_the_collection_holds(api, engineer, collection, indexed):
    body = _query(api(engineer), collection, query="anything", min_score=-1).json()
    assert len(body["results"]) == 3


def test_below_the_threshold_it_answers_no_relevant_fragment(api, engineer, collection, indexed):
    body = _query(api(engineer), collection, query="quantum chromodynamics lattice", min_score=0.9).json()
    assert body == {
        "mode": "dense",
        "results": [],
        "no_relevant_fragment": True,
        "query_log_id": body["query_log_id"],
    }
    assert QueryLog.objects.get(pk=body["query_log_id"]).no_relevant_fragment is True


def test_every_query_is_logged_with_its_text_masked(api, engineer, collection, indexed):
    body = _query(
        api(engineer), collection, query="refund for jan.nowak@example.com please", k=2, min_score=0
    ).json()
    log = QueryLog.objects.get(pk=body["query_log_id"])
    assert log.user == engineer and log.collection == collection and log.k == 2
    assert "jan.nowak@example.com" not in log.query_masked and "<EMAIL_ADDRESS>" in log.query_masked
    assert log.query_pii_summary == {"EMAIL_ADDRESS": 1}
    assert [r["chunk_id"] for r in log.results] == [r["chunk_id"] for r in body["results"]]
    assert [r["score"] for r in log.results] == [r["score"] for r in body["results"]]


def test_filters_on_metadata_and_external_id_restrict_the_results(api, engineer, collection, indexed):
    client = api(engineer)
    by_team = _query(
        client, collection, query="refund", filters={"metadata": {"team": "it"}}, min_score=-1
    ).json()
    assert {r["citation"]["external_id"] for r in by_team["results"]} == {"passwords"}
    by_id = _query(
        client, collection, query="refund", filters={"external_id": ["shipping", "passwords"]}, min_score=-1
    ).json()
    assert {r["citation"]["external_id"] for r in by_id["results"]} == {"shipping", "passwords"}


def test_a_date_filter_in_the_future_matches_nothing(api, engineer, collection, indexed):
    body = _query(api(engineer), collection, query="refund", filters={"indexed_after": "2999-01-01"}).json()
    assert body["results"] == [] and body["no_relevant_fragment"] is True


def test_a_deleted_document_is_never_returned_again(api, engineer, collection, indexed):
    client = api(engineer)
    refund = indexed["refunds"]
    assert client.delete(f"/api/v1/documents/{refund.pk}/").status_code == 204
    body = _query(client, collection, query="how long does a refund take?", k=50, min_score=-1).json()
    assert refund.pk not in {r["citation"]["document_id"] for r in body["results"]}
    assert len(body["results"]) == 2


@pytest.mark.parametrize("k", [0, 51, "5", "five", 2.5, True, None])
def test_it_refuses_a_k_outside_1_to_50_or_not_an_integer(api, engineer, collection, k):
    response = _query(api(engineer), collection, query="refund", k=k)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_k", "validation_failed"}
    assert not QueryLog.objects.exists()


@pytest.mark.parametrize("query", ["", "   "])
def test_it_refuses_an_empty_query(api, engineer, collection, query):
    response = _query(api(engineer), collection, query=query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "empty_query"


def test_it_refuses_a_100_kb_query(api, engineer, collection):
    response = _query(api(engineer), collection, query="refund " * 15_000)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "query_too_long"
    assert not QueryLog.objects.exists()


def test_it_refuses_a_filter_on_an_unknown_field(api, engineer, collection):
    response = _query(api(engineer), collection, query="refund", filters={"colour": "red"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_filter" and error["details"]["field"] == "filters.colour"


@pytest.mark.parametrize(
    "filters",
    [{"indexed_after": "yesterday"}, {"metadata": {"a": [1]}}, {"document_id": "x"}, "not-an-object"],
)
def test_it_refuses_a_malformed_filter_value(api, engineer, collection, filters):
    response = _query(api(engineer), collection, query="refund", filters=filters)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_filter"


@pytest.mark.parametrize(
    "filters",
    [
        {"created_after": "2026-13-45"},
        {"created_after": "2026-02-30"},
        {"indexed_before": "2026-01-01T25:00:00"},
        {"created_before": "2026-01-01T10:00:00+25:00"},
        {"source": "\ud800"},
        {"external_id": ["ok", "\udc00"]},
        {"metadata": {"a": "\udc00"}},
        {"metadata": {"\ud800": "a"}},
    ],
)
def test_a_well_formed_but_impossible_filter_value_is_a_400_not_a_500(api, engineer, collection, filters):
    # Sent as ASCII JSON: "\ud800" escapes are valid JSON, and a lone surrogate is what arrives.
    body = json.dumps({"query": "refund", "filters": filters})
    response = api(engineer).post(
        f"/api/v1/collections/{collection.pk}/query/", body, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_filter"
    assert not QueryLog.objects.exists()


def test_it_refuses_an_unknown_body_field(api, engineer, collection):
    response = _query(api(engineer), collection, query="refund", top_k=3)
    assert response.status_code == 400


def test_a_query_to_a_collection_that_does_not_exist_is_404(api, engineer):
    response = api(engineer).post("/api/v1/collections/999999/query/", {"query": "refund"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def _ef_search() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT '[1]'::vector, current_setting('hnsw.ef_search')")  # pgvector loaded
        return str(cursor.fetchone()[1])


def _ef_search_seen_by_a_search_statement(ef_search: int) -> str:
    with storage._bound_cursor() as cursor:
        storage.execute_with_ef_search(cursor, ef_search, "SELECT current_setting('hnsw.ef_search')", [])
        return str(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_a_search_sets_ef_search_for_its_own_statement_and_it_never_leaks():
    default = _ef_search()
    assert default != "77"
    # Outside a transaction (a query's search runs in autocommit): the setting and the statement share
    # the pipeline's implicit transaction, and it ends there.
    assert _ef_search_seen_by_a_search_statement(77) == "77"
    assert _ef_search() == default
    # Inside one: SET LOCAL, until the transaction ends.
    with transaction.atomic():
        assert _ef_search_seen_by_a_search_statement(77) == "77"
        assert _ef_search() == "77"
    assert _ef_search() == default


@pytest.mark.django_db(transaction=True)
def test_outside_any_transaction_a_query_walks_the_index_cites_and_is_logged(
    api, engineer, collection, indexed
):
    default = _ef_search()
    body = _query(api(engineer), collection, query="how long does a refund take?", k=2, min_score=-1).json()
    first = body["results"][0]
    assert first["citation"]["external_id"] == "refunds" and first["citation"]["title"] == "Refund policy"
    log = QueryLog.objects.get(pk=body["query_log_id"])
    assert log.search_mode == "hnsw"
    assert [r["chunk_id"] for r in log.results] == [r["chunk_id"] for r in body["results"]]
    assert _ef_search() == default
