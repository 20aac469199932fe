"""The physical purge: only the affected partitions, then indexes and planner statistics of the tables."""

from __future__ import annotations

import pytest
from django.db import connection

from governance import pii
from retrieval import storage
from retrieval.models import Chunk, Document
from retrieval.services import erasure
from tests.retrieval.conftest import PERSON_DOC, doc, ingest_now, random_unit_vectors
from tests.retrieval.helpers import synthetic_documents
from tests.retrieval.test_erasure import EMAIL, scope

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_collections(make_collection, engineer):
    affected = make_collection(chunk_size=32, chunk_overlap=4)
    other = make_collection(chunk_size=32, chunk_overlap=4)
    ingest_now(engineer, affected, [doc("ticket", PERSON_DOC), doc("faq", "Refunds take five working days.")])
    ingest_now(engineer, other, [doc("manual", "The printer on floor two needs new toner every month.")])
    return affected, other


def _vacuums(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT last_vacuum, vacuum_count FROM pg_stat_user_tables WHERE relname = %s", [table]
        )
        return cursor.fetchone()


def _filenode(index):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_filenode(%s::regclass)", [index])
        return cursor.fetchone()[0]


def _stats_quote(table, needle):
    """Columns of `table` whose planner statistics quote `needle` (most common values, histogram)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname FROM pg_stats WHERE tablename = %s AND "
            "(most_common_vals::text ILIKE %s OR histogram_bounds::text ILIKE %s) ORDER BY 1",
            [table, f"%{needle}%", f"%{needle}%"],
        )
        return [row[0] for row in cursor.fetchall()]


def test_purge_vacuums_only_the_affected_partition_and_rebuilds_the_documents_indexes(two_collections):
    affected, other = two_collections
    ingest_now(None, other, [doc("manual", "The printer on floor two needs new toner every week.")])
    erased = erasure.erasure_erase(scope())
    other_before = _vacuums(other.partition)
    gin_before = _filenode("document_metadata_gin")
    lexemes_before = (_filenode(affected.lexeme_index), _filenode(other.lexeme_index))
    purged = erasure.erasure_purge(scope(), erased)
    assert list(purged["collections"]) == [str(affected.pk)]
    # The full-text GIN keeps a deleted row's words as entries: rebuilt in the affected partition only.
    assert _filenode(affected.lexeme_index) != lexemes_before[0]
    assert _filenode(other.lexeme_index) == lexemes_before[1]
    assert purged["collections"][str(affected.pk)]["method"] == "reindex"
    assert _vacuums(affected.partition)[1] >= 1
    assert _vacuums(other.partition) == other_before
    assert _filenode("document_metadata_gin") != gin_before  # rebuilt from the live rows only
    assert storage.has_hnsw_index(affected)
    assert "query_log_table" not in purged


def test_purge_with_nothing_erased_touches_no_partition_and_no_table(two_collections):
    affected, other = two_collections
    before = (_vacuums(affected.partition), _vacuums(other.partition), _filenode("document_metadata_gin"))
    erased = erasure.erasure_erase(scope(keys=[pii.subject_key("email", "nobody@example.org")]))
    purged = erasure.erasure_purge(scope(), erased)
    assert purged["collections"] == {} and "documents_table" not in purged
    after = (_vacuums(affected.partition), _vacuums(other.partition), _filenode("document_metadata_gin"))
    assert after == before


def test_purge_twice_is_harmless(two_collections):
    erased = erasure.erasure_erase(scope())
    erasure.erasure_purge(scope(), erased)
    erasure.erasure_purge(scope(), erased)
    assert erasure.erasure_verify(scope(identifiers=[EMAIL]))["ok"] is True


def test_planner_statistics_quote_the_identifier_before_the_purge_and_not_after(make_collection):
    collection = make_collection()
    key = pii.subject_key("email", EMAIL)
    metadata = [{"contact": EMAIL} if i < 6 else {"contact": f"desk {i % 3}"} for i in range(30)]
    documents = synthetic_documents(collection, random_unit_vectors(30, 384, seed=3), metadata=metadata)
    subject = [d.pk for d in documents[:6]]
    Document.objects.filter(pk__in=subject).update(subject_keys=[key], title=f"Ticket from {EMAIL}")
    Chunk.objects.filter(document_id__in=subject).update(subject_keys=[key])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE retrieval_document")
        cursor.execute(f"ANALYZE {collection.partition}")
    assert {"metadata", "title"} <= set(_stats_quote("retrieval_document", EMAIL))
    erased = erasure.erasure_erase(scope(keys=[key]))
    assert erased["counts"]["documents"] == 6
    purged = erasure.erasure_purge(scope(keys=[key]), erased)
    assert purged["documents_table"]["analyze_s"] >= 0
    assert _stats_quote("retrieval_document", EMAIL) == []
    assert erasure.erasure_verify(scope(keys=[key], identifiers=[EMAIL]))["ok"] is True


def test_purge_after_a_query_log_redaction_scrubs_the_query_log_table(two_collections, engineer):
    from retrieval.services.search import collection_query

    affected, _ = two_collections
    collection_query(actor=engineer, collection=affected, query=f"refund for {EMAIL}", k=1)
    erased = erasure.erasure_erase(scope())
    before = _vacuums("retrieval_querylog")
    purged = erasure.erasure_purge(scope(), erased)
    assert set(purged["query_log_table"]) == {"vacuum_s", "reindex_s", "analyze_s"}
    assert _vacuums("retrieval_querylog") != before


@pytest.mark.parametrize("method", ["full", "vacuum"])
def test_the_other_purge_methods_also_keep_the_index_and_the_search_working(
    two_collections, method, settings
):
    from django.db import transaction

    from retrieval.services.search import search_vectors

    settings.RETRIEVAL_PURGE_METHOD = method
    affected, _ = two_collections
    purged = erasure.erasure_purge(scope(), erasure.erasure_erase(scope()))
    assert purged["collections"][str(affected.pk)]["method"] == method
    assert storage.has_hnsw_index(affected)
    with transaction.atomic():
        hits = search_vectors(affected, random_unit_vectors(1, 384)[0], k=5).hits
    assert {h.document_id for h in hits} == set(
        Document.objects.filter(collection=affected).values_list("pk", flat=True)
    )


def test_purge_refuses_to_run_inside_a_transaction(two_collections):
    from django.db import transaction

    with transaction.atomic(), pytest.raises(RuntimeError):
        erasure.erasure_purge(scope(), {"collections": [two_collections[0].pk]})
