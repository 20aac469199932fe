"""Hybrid retrieval: full-text lexemes per chunk, reciprocal rank fusion, titles embedded, grouping."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection, transaction

from retrieval import embedding, passages
from retrieval.choices import DocumentStatus, RetrievalMode
from retrieval.models import Chunk, QueryLog
from retrieval.services.search import retrieve
from tests.retrieval.conftest import doc

pytestmark = pytest.mark.django_db

FILLER = (
    "Our support team answers questions about orders, deliveries and invoices. "
    "Customers may write at any time and we reply within one working day. "
)
DOCS = [
    doc(
        "refunds",
        "Refunds are paid back to the original card within five working days.",
        title="Refund policy",
    ),
    doc("shipping", "Parcels are shipped by courier and usually arrive within two days.", title="Shipping"),
    doc(
        "gasket", "Replace the seal on model QX-7731 when the pump starts to leak.", title="Pump maintenance"
    ),
    doc(
        "passwords",
        "To reset your password open the login page and click forgot password.",
        title="Passwords",
    ),
]


def _query(client, collection, **body):
    return client.post(f"/api/v1/collections/{collection.pk}/query/", body, format="json")


@pytest.fixture
def indexed(collection, ingest):
    documents = ingest(collection, *DOCS)
    assert all(d.status == DocumentStatus.INDEXED for d in documents)
    return {d.external_id: d for d in documents}


def _ranked(collection, query, mode, k=4, group=False):
    vector = embedding.embed(embedding.load_model(collection.embedding_model), [query])[0]
    with transaction.atomic():
        return retrieve(collection, query, vector, k=k, mode=mode, group_by_document=group)


def test_each_partition_fills_lexemes_on_insert_with_the_heading_weighted_a(collection, indexed):
    chunk = Chunk.objects.get(document=indexed["gasket"])
    assert chunk.heading == "Pump maintenance"
    lexemes = str(Chunk.objects.filter(pk=chunk.pk).values_list("lexemes", flat=True).get())
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [collection.lexeme_index])
        index = cursor.fetchone()[0]
    assert "'pump':1A" in lexemes and "'mainten':2A" in lexemes  # english stemming, title weight A
    assert "'leak':15" in lexemes and "'qx':8" in lexemes  # the text, weight D (unmarked)
    assert "USING gin (lexemes)" in index


def test_a_rare_code_is_found_first_by_full_text_and_kept_first_by_fusion(api, engineer, collection, indexed):
    client = api(engineer)
    lexical = _query(client, collection, query="QX-7731", k=4, min_score=-1, mode="lexical").json()
    assert lexical["mode"] == "lexical"
    assert [r["citation"]["external_id"] for r in lexical["results"]] == ["gasket"]
    assert lexical["results"][0]["ranks"] == {"dense": None, "lexical": 1}
    hybrid = _query(client, collection, query="QX-7731", k=4, min_score=-1, mode="hybrid").json()
    assert hybrid["results"][0]["citation"]["external_id"] == "gasket"
    assert hybrid["results"][0]["ranks"]["lexical"] == 1
    assert hybrid["results"][0]["ranks"]["dense"] is not None


def test_the_threshold_judges_vector_only_hits_and_keeps_full_text_hits(api, engineer, collection, indexed):
    client = api(engineer)
    dense = _query(client, collection, query="QX-7731", k=4, min_score=0.9, mode="dense").json()
    assert dense["results"] == [] and dense["no_relevant_fragment"] is True
    for mode in ("lexical", "hybrid"):
        found = _query(client, collection, query="QX-7731", k=4, min_score=0.9, mode=mode).json()
        assert [r["citation"]["external_id"] for r in found["results"]] == ["gasket"], mode
        assert found["results"][0]["score"] < 0.9 and found["results"][0]["ranks"]["lexical"] == 1


@pytest.mark.parametrize(("rrf_k", "weight"), [(60, 1.0), (20, 0.5)])
def test_hybrid_order_is_the_reciprocal_rank_fusion_of_both_rankings(
    settings, collection, indexed, rrf_k, weight
):
    settings.RETRIEVAL_RRF_K, settings.RETRIEVAL_HYBRID_LEXICAL_WEIGHT = rrf_k, weight
    query = "when does my refund arrive on the card"
    dense = _ranked(collection, query, RetrievalMode.DENSE, k=40)
    lexical = _ranked(collection, query, RetrievalMode.LEXICAL, k=40)
    hybrid = _ranked(collection, query, RetrievalMode.HYBRID, k=4)
    scores: dict[int, float] = {}
    for ranking, w in ((dense, 1.0), (lexical, weight)):
        for rank, item in enumerate(ranking.ranked, start=1):
            scores[item.hit.chunk_id] = scores.get(item.hit.chunk_id, 0.0) + w / (rrf_k + rank)
    expected = sorted(scores, key=lambda chunk: -scores[chunk])[:4]
    assert [item.hit.chunk_id for item in hybrid.ranked] == expected
    assert [round(item.fused, 9) for item in hybrid.ranked] == [round(scores[c], 9) for c in expected]
    assert hybrid.ranked[0].hit.document_id == dense.ranked[0].hit.document_id


def test_filters_restrict_the_full_text_half_too(api, engineer, collection, indexed):
    body = {"query": "QX-7731 seal", "k": 4, "min_score": -1, "mode": "lexical"}
    kept = _query(api(engineer), collection, **body, filters={"external_id": ["refunds", "shipping"]}).json()
    assert all(r["citation"]["external_id"] in {"refunds", "shipping"} for r in kept["results"])
    assert kept["results"] == []
    log = QueryLog.objects.latest("pk")
    assert log.retrieval_mode == "lexical" and log.search_mode == "lexical"


def test_group_by_document_returns_k_distinct_documents(api, engineer, make_collection, ingest):
    collection = make_collection(chunk_size=32, chunk_overlap=0)
    long_text = " ".join(
        f"Refund rule {i}: refunds for order type {i} reach the card in {i} days." for i in range(12)
    )
    ingest(
        collection,
        doc("long", long_text, title="Refund rules"),
        *(
            doc(f"other-{i}", f"Refund note {i}: the card refund for case {i} was paid.", title=f"Note {i}")
            for i in range(4)
        ),
    )
    client = api(engineer)
    for mode in ("dense", "lexical", "hybrid"):
        flat = _query(
            client, collection, query="how long do refunds take", k=3, min_score=-1, mode=mode
        ).json()
        grouped = _query(
            client,
            collection,
            query="how long do refunds take",
            k=3,
            min_score=-1,
            mode=mode,
            group_by_document=True,
        ).json()
        ids = [r["citation"]["document_id"] for r in grouped["results"]]
        assert len(ids) == 3 and len(set(ids)) == 3, mode
        assert len(flat["results"]) == 3
    log = QueryLog.objects.latest("pk")
    assert log.group_by_document is True and log.retrieval_mode == "hybrid"
    assert all(set(r["ranks"]) == {"dense", "lexical"} for r in log.results)


def test_the_title_is_embedded_with_each_chunk_and_can_be_left_out(make_collection, ingest):
    titled = make_collection(chunk_size=64, chunk_overlap=8)
    plain = make_collection(chunk_size=64, chunk_overlap=8, embed_title=False)
    text = "Parcels are shipped by courier and usually arrive within two days."
    ingest(titled, doc("a", text, title="Shipping"))
    ingest(plain, doc("a", text, title="Shipping"))
    loaded = embedding.load_model(titled.embedding_model)
    with_title, without = embedding.embed(loaded, [f"Shipping\n{text}", text])
    stored_titled = np.asarray(Chunk.objects.get(collection=titled).embedding, dtype=np.float32)
    stored_plain = Chunk.objects.get(collection=plain)
    assert float(stored_titled @ with_title) == pytest.approx(1.0, abs=1e-5)
    assert stored_plain.heading == ""
    assert float(np.asarray(stored_plain.embedding, dtype=np.float32) @ without) == pytest.approx(
        1.0, abs=1e-5
    )


def test_the_header_and_a_long_title_fit_the_models_window(make_collection, ingest):
    collection = make_collection(chunk_header="Acme support handbook")
    loaded = embedding.load_model(collection.embedding_model)
    title = " ".join(["Extraordinarily"] * 30)
    ingest(collection, doc("long-title", " ".join(["word"] * 600), title=title))
    chunks = list(Chunk.objects.filter(collection=collection).order_by("ordinal"))
    heading_tokens = len(loaded.tokenizer(chunks[0].heading, add_special_tokens=False)["input_ids"])
    assert chunks[0].heading.startswith("Acme support handbook\nExtraordinarily")
    assert heading_tokens <= loaded.max_tokens // passages.HEADING_SHARE + 1
    assert all(c.token_count + heading_tokens <= loaded.max_tokens for c in chunks)
    assert max(c.token_count for c in chunks) == min(
        collection.chunk_size, loaded.max_tokens - heading_tokens
    )


def test_a_simple_text_search_configuration_keeps_words_unstemmed(api, engineer, make_collection, ingest):
    collection = make_collection(text_search_config="simple", embed_title=False)
    ingest(collection, doc("pl", "Zwroty są wypłacane na kartę w ciągu pięciu dni roboczych."))
    response = _query(api(engineer), collection, query="zwroty", k=3, min_score=-1, mode="lexical")
    assert [r["citation"]["external_id"] for r in response.json()["results"]] == ["pl"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"mode": "semantic"}, "validation_failed"),
        ({"group_by_document": "yes"}, "invalid_group_by_document"),
    ],
)
def test_bad_modes_are_refused_and_nothing_is_logged(api, engineer, collection, indexed, body, code):
    response = _query(api(engineer), collection, query="refund", k=3, **body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not QueryLog.objects.exists()


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"text_search_config": "klingon"}, "invalid_text_search_config"),
        ({"chunk_header": "Ask jan.kowalski@example.com"}, "header_contains_pii"),
    ],
)
def test_collection_text_search_settings_are_checked(api, engineer, ai_system, fields, code):
    body = {"name": "checked", "ai_system": ai_system.pk, **fields}
    response = api(engineer).post("/api/v1/collections/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_the_mode_changes_after_creation_but_the_language_does_not(api, engineer, collection):
    client = api(engineer)
    url = f"/api/v1/collections/{collection.pk}/"
    changed = client.patch(url, {"retrieval_mode": "dense"}, format="json")
    assert changed.status_code == 200 and changed.json()["retrieval_mode"] == "dense"
    refused = client.patch(url, {"text_search_config": "simple"}, format="json")
    assert refused.status_code == 400
    collection.refresh_from_db()
    assert collection.text_search_config == "english" and collection.retrieval_mode == "dense"


def test_the_terms_statement_counts_the_idf_n_as_the_service_does(collection, indexed):
    from retrieval import storage
    from retrieval.services.search import _total_chunks

    query = "refund paid back to the card"
    vector = embedding.embed(embedding.load_model(collection.embedding_model), [query])[0]
    total = _total_chunks(collection)
    assert [(t.lexeme, t.idf) for t in storage.term_weights(collection, query, None)] == [
        (t.lexeme, t.idf) for t in storage.term_weights(collection, query, total)
    ]
    counted = storage.lexical_search(collection, query, vector, limit=10, document_ids=None)
    given = storage.lexical_search(collection, query, vector, limit=10, document_ids=None, total=total)
    assert counted == given and counted[0].external_id == "refunds" and counted[0].title == "Refund policy"
