"""The retrieval pages of the officer's web UI: a collection read like a document, "Try a query" through
the API's own service, the view-only query log, live document progress, and the dashboard's cards."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from governance import dashboard
from retrieval.choices import DocumentStatus
from retrieval.dashboard import retrieval_cards, retrieval_section
from retrieval.models import Collection, Document, QueryLog
from tests.retrieval.conftest import doc

pytestmark = pytest.mark.django_db

REFUNDS = doc(
    "refunds",
    "Refunds are paid back to the original card within five working days.",
    title="Refund policy",
    source="kb/refunds",
)
SHIPPING = doc(
    "shipping", "Parcels are shipped by courier and usually arrive within two days.", title="Shipping"
)


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _row(collection: Collection, external_id: str, status: str, **fields: Any) -> Document:
    """A document in a given state, made directly (the pages only read it)."""
    return Document.objects.create(
        collection=collection,
        external_id=external_id,
        source_type="txt",
        sha256="a" * 64,
        status=status,
        **fields,
    )


def _query_url(collection: Collection) -> str:
    return reverse("admin:retrieval_collection_query", args=[collection.pk])


@pytest.fixture
def indexed(collection: Collection, ingest: Any) -> dict[str, Document]:
    documents = ingest(collection, REFUNDS, SHIPPING)
    assert all(d.status == DocumentStatus.INDEXED for d in documents)
    return {d.external_id: d for d in documents}


# --- The collection's page ---------------------------------------------------------------------


def test_the_collection_page_shows_its_settings_and_lists_its_documents_with_their_statuses(
    officer, collection, indexed
):
    _row(collection, "broken", DocumentStatus.FAILED, error_code="extraction_failed", error="no text")
    page = _client(officer).get(f"/admin/retrieval/collection/{collection.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    # Settings, with the PII policy as a badge.
    assert collection.embedding_model in html and "64 tokens per chunk, 8 shared" in html
    assert 'class="gv-badge gv-info">Index as is' in html
    # Every document linked, with its status as a badge; counts per status link to the filtered list.
    for document in indexed.values():
        assert f'/admin/retrieval/document/{document.pk}/change/">{document}</a>' in html
    assert html.count('class="gv-badge gv-ok">Indexed</span>') == 2
    assert 'class="gv-badge gv-bad">Failed</span>' in html and "extraction_failed" in html
    assert "Indexed: 2" in html and "Failed: 1" in html and "3 in all" in html
    assert f"collection__id__exact={collection.pk}&amp;status__exact=failed" in html
    # Nothing is on its way in: the documents box does not poll.
    assert "data-poll=" not in html
    # The query box sits outside the change form and posts to the collection's query page.
    assert f'action="{_query_url(collection)}"' in html
    assert html.index('id="try-a-query"') > html.index("</form>")


def test_the_documents_box_polls_while_a_document_is_pending_and_stops_when_none_is(
    engineer, collection, indexed
):
    pending = _row(collection, "new", DocumentStatus.PENDING)
    client = _client(engineer)
    page = client.get(f"/admin/retrieval/collection/{collection.pk}/change/").content.decode()
    assert f'data-poll="/admin/retrieval/collection/{collection.pk}/fragment/documents_box/"' in page
    fragment = client.get(f"/admin/retrieval/collection/{collection.pk}/fragment/documents_box/")
    assert fragment.status_code == 200 and "data-poll-done" not in fragment.content.decode()
    assert 'class="gv-badge gv-wait">Pending</span>' in fragment.content.decode()
    pending.delete()
    fragment = client.get(f"/admin/retrieval/collection/{collection.pk}/fragment/documents_box/")
    assert "data-poll-done" in fragment.content.decode()


# --- Try a query -----------------------------------------------------------------------------------


def test_try_a_query_shows_cited_results_and_records_the_query_like_the_api(officer, collection, indexed):
    response = _client(officer).post(
        _query_url(collection), {"query": "how long does a refund take?", "k": "2", "min_score": "0"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    refunds = indexed["refunds"]
    log = QueryLog.objects.get()  # one row, as the API's query writes
    assert log.user == officer and log.collection == collection and log.k == 2 and log.min_score == 0
    assert log.no_relevant_fragment is False and log.results[0]["document_id"] == refunds.pk
    # The best result first: its document linked, its citation fields and an excerpt of the chunk.
    first = html.index('class="gv-result"')
    assert html.index(f'/admin/retrieval/document/{refunds.pk}/change/">{refunds}</a>', first) > first
    assert "Refund policy" in html and "kb/refunds" in html and "within five working days" in html
    assert f'data-chunk="{log.results[0]["chunk_id"]}"' in html
    assert f"{log.results[0]['score']:.3f}" in html
    assert 'data-outcome="answered"' in html
    # An officer may read the query log: the entry is a link.
    assert f'/admin/retrieval/querylog/{log.pk}/change/">query log entry {log.pk}</a>' in html


def test_try_a_query_runs_full_text_one_result_per_document_and_shows_both_ranks(
    officer, collection, indexed
):
    response = _client(officer).post(
        _query_url(collection),
        {"query": "refund card", "k": "3", "min_score": "-1", "mode": "lexical", "group_by_document": "on"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    log = QueryLog.objects.get()
    assert log.retrieval_mode == "lexical" and log.group_by_document is True
    assert log.results[0]["document_id"] == indexed["refunds"].pk
    assert log.results[0]["ranks"] == {"dense": None, "lexical": 1}
    assert "vector rank" in html and "full-text rank" in html and "Full-text search only" in html
    row = html[html.index('class="gv-result"') :]
    assert re.search(r"<td>1</td>\s*<td>[-0-9.]+</td>\s*<td>-</td>\s*<td>1</td>", row)


def test_a_query_below_the_threshold_answers_no_relevant_fragment(auditor, collection, indexed):
    response = _client(auditor).post(
        _query_url(collection), {"query": "how long does a refund take?", "min_score": "0.99"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        'data-outcome="none"' in html and "no relevant fragment" in html and 'class="gv-result"' not in html
    )
    log = QueryLog.objects.get()
    assert log.no_relevant_fragment is True and log.results == [] and log.user == auditor


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"query": ""}, "empty_query"),
        ({"query": "   "}, "empty_query"),
        ({"query": "x" * 2001}, "query_too_long"),
        ({"query": "refunds", "k": "0"}, "invalid_k"),
        ({"query": "refunds", "min_score": "2"}, "invalid_min_score"),
    ],
)
def test_bad_input_shows_the_service_error_code_and_logs_nothing(engineer, collection, settings, form, code):
    settings.RETRIEVAL_MAX_QUERY_CHARS = 2000
    response = _client(engineer).post(_query_url(collection), form)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'data-error-code="{code}"' in html and f'class="gv-badge gv-bad">{code}</span>' in html
    assert not QueryLog.objects.exists()


def test_a_form_value_of_the_wrong_type_is_a_form_error_not_a_500(engineer, collection):
    client = _client(engineer)
    response = client.post(_query_url(collection), {"query": "refunds", "k": "five"})
    assert response.status_code == 400 and "Enter a whole number" in response.content.decode()
    response = client.post(_query_url(collection), {"query": "refunds\x00"})
    assert response.status_code == 400 and "Null characters are not allowed" in response.content.decode()
    assert not QueryLog.objects.exists()


def test_the_query_page_shows_an_empty_form_on_get_and_an_engineer_sees_no_log_link(
    engineer, collection, indexed
):
    client = _client(engineer)
    page = client.get(_query_url(collection))
    assert page.status_code == 200 and 'name="query"' in page.content.decode()
    assert not QueryLog.objects.exists()
    response = client.post(_query_url(collection), {"query": "parcel delivery time", "min_score": "0"})
    log = QueryLog.objects.get()
    html = response.content.decode()
    assert f"query log entry {log.pk}" in html and "/admin/retrieval/querylog/" not in html


def test_the_query_page_refuses_anonymous_and_unknown_collections(officer, collection):
    assert Client().post(_query_url(collection), {"query": "refunds"}).status_code == 302
    assert _client(officer).get("/admin/retrieval/collection/999999/query/").status_code == 404
    assert not QueryLog.objects.exists()


# --- The query log ---------------------------------------------------------------------------------


@pytest.fixture
def logs(officer, collection, indexed) -> dict[str, QueryLog]:
    client = _client(officer)
    client.post(_query_url(collection), {"query": "how long does a refund take?", "k": "2", "min_score": "0"})
    client.post(_query_url(collection), {"query": "how long does a refund take?", "min_score": "0.99"})
    return {
        "answered": QueryLog.objects.get(no_relevant_fragment=False),
        "none": QueryLog.objects.get(no_relevant_fragment=True),
    }


def test_the_query_log_list_says_in_words_whether_a_query_was_answered(auditor, logs):
    page = _client(auditor).get("/admin/retrieval/querylog/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="gv-badge gv-ok">answered</span>' in html
    assert 'class="gv-badge gv-off">no relevant fragment</span>' in html
    assert "icon-no.svg" not in html and "icon-yes.svg" not in html  # no boolean crosses
    assert (
        '<td class="field-results_count">2</td>' in html and '<td class="field-results_count">0</td>' in html
    )
    only = _client(auditor).get("/admin/retrieval/querylog/?outcome=none").content.decode()
    assert "no relevant fragment</span>" in only and ">answered</span>" not in only


def test_a_query_log_entry_is_view_only_with_tables_and_links(officer, logs, indexed):
    entry = logs["answered"]
    client = _client(officer)
    page = client.get(f"/admin/retrieval/querylog/{entry.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html and 'name="_continue"' not in html and "Save" not in html
    refunds = indexed["refunds"]
    assert f'/admin/retrieval/document/{refunds.pk}/change/">{refunds}</a>' in html
    assert 'class="gv-grid"' in html and 'class="gv-badge gv-ok">answered</span>' in html
    # Nothing can be added or changed.
    assert client.get("/admin/retrieval/querylog/add/").status_code == 403
    response = client.post(f"/admin/retrieval/querylog/{entry.pk}/change/", {"k": "9"})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.k == 2


def test_the_query_log_shortens_subject_keys(officer, collection):
    log = QueryLog.objects.create(
        collection=collection,
        query_masked="call <PHONE>",
        query_pii_summary={"phone": 1},
        subject_keys=["b" * 64],
        k=5,
        min_score=0.2,
        search_mode="exact",
        no_relevant_fragment=True,
    )
    html = _client(officer).get(f"/admin/retrieval/querylog/{log.pk}/change/").content.decode()
    assert f'<code title="{"b" * 64}">{"b" * 12}…</code>' in html
    assert "<th scope='row'>phone</th><td>1</td>" in html


def test_an_engineer_gets_403_on_the_query_log(engineer, logs):
    client = _client(engineer)
    assert client.get("/admin/retrieval/querylog/").status_code == 403
    assert client.get(f"/admin/retrieval/querylog/{logs['answered'].pk}/change/").status_code == 403


# --- The document's page -----------------------------------------------------------------------


def test_an_indexed_documents_progress_fragment_says_it_is_done(auditor, indexed):
    document = indexed["refunds"]
    client = _client(auditor)
    fragment = client.get(f"/admin/retrieval/document/{document.pk}/fragment/progress_box/")
    assert fragment.status_code == 200 and "no-store" in fragment["Cache-Control"]
    html = fragment.content.decode()
    assert "data-poll-done" in html and 'class="gv-badge gv-ok">Indexed</span>' in html and "100%" in html
    page = client.get(f"/admin/retrieval/document/{document.pk}/change/").content.decode()
    assert "data-poll=" not in page and "data-poll-done" in page
    assert f'<code title="{document.sha256}">{document.sha256[:12]}…</code>' in page
    assert f'/admin/retrieval/collection/{document.collection_id}/change/">{document.collection}</a>' in page


def test_a_pending_documents_page_polls_its_progress(officer, collection):
    document = _row(collection, "incoming", DocumentStatus.PROCESSING, progress=0.4, metadata={"lang": "pl"})
    client = _client(officer)
    page = client.get(f"/admin/retrieval/document/{document.pk}/change/").content.decode()
    assert f'data-poll="/admin/retrieval/document/{document.pk}/fragment/progress_box/"' in page
    assert "<th scope='row'>lang</th><td>pl</td>" in page  # metadata as a table
    fragment = client.get(f"/admin/retrieval/document/{document.pk}/fragment/progress_box/").content.decode()
    assert "data-poll-done" not in fragment and "40%" in fragment
    assert 'class="gv-badge gv-wait">Processing</span>' in fragment


def test_a_rejected_documents_fragment_is_done_and_gives_the_reason(officer, collection):
    document = _row(
        collection,
        "pii",
        DocumentStatus.REJECTED,
        error_code="pii_rejected",
        error="the collection's policy rejects personal data; found: email",
        pii_summary={"email": 2},
    )
    client = _client(officer)
    fragment = client.get(f"/admin/retrieval/document/{document.pk}/fragment/progress_box/").content.decode()
    assert "data-poll-done" in fragment and "pii_rejected" in fragment
    page = client.get(f"/admin/retrieval/document/{document.pk}/change/").content.decode()
    assert "<th scope='row'>email</th><td>2</td>" in page  # the PII summary as a table


# --- Dashboard cards and the AI system's story -------------------------------------------------


def _card_count(html: str, key: str) -> int:
    match = re.search(rf'data-card="{key}".*?data-count="(\d+)"', html, re.S)
    assert match, key
    return int(match.group(1))


def test_the_document_cards_count_what_the_database_holds_and_link_to_the_same_rows(
    officer, collection, indexed
):
    _row(collection, "f1", DocumentStatus.FAILED, error_code="extraction_failed", error="no text layer")
    _row(collection, "f2", DocumentStatus.REJECTED, error_code="pii_rejected", error="found: email")
    _row(
        collection,
        "old",
        DocumentStatus.FAILED,
        error_code="superseded",
        error="a newer version was uploaded",
    )
    _row(collection, "p1", DocumentStatus.PENDING)
    _row(collection, "p2", DocumentStatus.PROCESSING, progress=0.5)
    failed = (
        Document.objects.filter(status__in=["failed", "rejected"]).exclude(error_code="superseded").count()
    )
    indexing = Document.objects.filter(status__in=["pending", "processing"]).count()
    assert (failed, indexing) == (2, 2)

    cards = {card.key: card for card in retrieval_cards(officer)}
    assert cards["documents_failed"].count == failed and cards["documents_failed"].tone == "bad"
    assert cards["documents_indexing"].count == indexing and cards["documents_indexing"].tone == "wait"
    lines = " ".join(cards["documents_failed"].lines)
    assert (
        "extraction_failed: no text layer" in lines and "pii_rejected" in lines and "superseded" not in lines
    )

    client = _client(officer)
    index = client.get("/admin/").content.decode()
    assert _card_count(index, "documents_failed") == failed
    assert _card_count(index, "documents_indexing") == indexing
    # The card's link shows exactly the rows it counted.
    listed = client.get(cards["documents_failed"].url).content.decode()
    assert "f1</a>" in listed and "f2</a>" in listed and "old</a>" not in listed
    listed = client.get(cards["documents_indexing"].url).content.decode()
    assert "p1</a>" in listed and "p2</a>" in listed and "refunds</a>" not in listed


def test_with_nothing_wrong_the_cards_are_calm(engineer, indexed):
    cards = {card.key: card for card in dashboard.cards_for(engineer)}
    assert cards["documents_failed"].count == 0 and cards["documents_failed"].tone == "ok"
    assert cards["documents_indexing"].count == 0 and not cards["documents_indexing"].attention


def test_the_story_section_lists_the_systems_collections_with_counts_per_status(
    auditor, ai_system, collection, indexed
):
    _row(collection, "broken", DocumentStatus.FAILED)
    section = retrieval_section(ai_system, auditor)
    assert section is not None and section.key == "retrieval" and section.order == 30 and section.count == 1
    assert f'/admin/retrieval/collection/{collection.pk}/change/">{collection.name}</a>' in section.html
    assert "Indexed: 2" in section.html and "Failed: 1" in section.html
    assert f"collection__id__exact={collection.pk}&amp;status__exact=indexed" in section.html
    assert any(s.key == "retrieval" for s in dashboard.story_sections(ai_system, auditor))


def test_the_ai_systems_story_page_carries_the_retrieval_section(officer, ai_system, collection, indexed):
    page = _client(officer).get(f"/admin/governance/aisystem/{ai_system.pk}/story/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'/admin/retrieval/collection/{collection.pk}/change/">{collection.name}</a>' in html
    assert "Indexed: 2" in html
