"""The erasure participant: find by subject keys, delete logically, purge only affected partitions, verify."""

from __future__ import annotations

import pytest
from django.db import connection

from governance import pii
from governance.participants import erasure_participants
from retrieval import storage
from retrieval.models import Chunk, Document
from retrieval.services import erasure
from tests.retrieval.conftest import PERSON_DOC, doc, ingest_now

EMAIL = "anna.kowalska@example.com"
PHONE = "+48 601 234 567"


@pytest.fixture
def keys():
    return [pii.subject_key("email", EMAIL), pii.subject_key("phone", PHONE)]


@pytest.fixture
def two_collections(make_collection, engineer):
    affected = make_collection(chunk_size=32, chunk_overlap=4)
    other = make_collection(chunk_size=32, chunk_overlap=4)
    ingest_now(engineer, affected, [doc("ticket", PERSON_DOC), doc("faq", "Refunds take five working days.")])
    ingest_now(engineer, other, [doc("manual", "The printer on floor two needs new toner every month.")])
    return affected, other


@pytest.mark.django_db
def test_retrieval_registers_its_erasure_functions_with_governance():
    participant = erasure_participants()["retrieval"]
    assert participant.find is erasure.erasure_find and participant.purge is erasure.erasure_purge


@pytest.mark.django_db
def test_find_names_the_subjects_documents_chunks_and_collections(two_collections, keys):
    affected, _ = two_collections
    found = erasure.erasure_find(keys)
    ticket = Document.objects.get(external_id="ticket")
    assert found["documents"] == [ticket.pk]
    assert found["chunks"] >= 1 and found["collections"] == [affected.pk]


@pytest.mark.django_db
def test_find_with_keys_nobody_carries_finds_nothing(two_collections):
    assert erasure.erasure_find([pii.subject_key("email", "nobody@example.org")]) == {
        "documents": [],
        "chunks": 0,
        "collections": [],
    }


@pytest.mark.django_db
def test_erase_deletes_the_subjects_documents_and_chunks_and_nothing_else(two_collections, keys):
    affected, other = two_collections
    result = erasure.erasure_erase(keys)
    assert result["documents_deleted"] == 1 and result["chunks_deleted"] >= 1
    assert result["collections"] == [affected.pk]
    assert not Document.objects.filter(external_id="ticket").exists()
    assert Document.objects.filter(external_id__in=["faq", "manual"]).count() == 2
    assert Chunk.objects.filter(collection=other).count() == 1


@pytest.mark.django_db
def test_erase_is_idempotent(two_collections, keys):
    erasure.erasure_erase(keys)
    again = erasure.erasure_erase(keys)
    assert again["documents_deleted"] == 0 and again["chunks_deleted"] == 0


@pytest.mark.django_db
def test_erase_also_removes_failed_and_older_rows_carrying_the_keys(make_collection, engineer, keys):
    collection = make_collection(pii_policy="mask", chunk_size=32, chunk_overlap=4)
    ingest_now(engineer, collection, [doc("ticket", PERSON_DOC)])
    assert erasure.erasure_erase(keys)["documents_deleted"] == 1
    assert erasure.erasure_verify(keys, [EMAIL, PHONE])["ok"] is True


@pytest.mark.django_db
def test_verify_fails_while_rows_carry_the_keys_or_text_holds_the_identifiers(two_collections, keys):
    result = erasure.erasure_verify(keys, [EMAIL])
    assert result["ok"] is False
    assert result["documents_with_keys"] == 1 and result["chunks_with_keys"] >= 1
    assert result["documents_with_identifiers"] and result["chunks_with_identifiers"] >= 1


@pytest.mark.django_db
def test_verify_passes_after_erasure_with_no_key_and_no_raw_identifier_left(two_collections, keys):
    erasure.erasure_erase(keys)
    assert erasure.erasure_verify(keys, [EMAIL, PHONE, "Anna Kowalska"]) == {
        "ok": True,
        "documents_with_keys": 0,
        "chunks_with_keys": 0,
        "documents_with_identifiers": [],
        "chunks_with_identifiers": 0,
    }
    assert not Chunk.objects.filter(text__icontains="kowalska").exists()


def _stats(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        # Dead-tuple counts are flushed lazily by other backends; the vacuum count and time are not.
        cursor.execute(
            "SELECT last_vacuum, vacuum_count FROM pg_stat_user_tables WHERE relname = %s", [table]
        )
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_purge_vacuums_only_the_affected_collections_partition(two_collections, keys):
    affected, other = two_collections
    # The other collection gets dead rows too (a replaced document): a purge must leave them alone.
    ingest_now(None, other, [doc("manual", "The printer on floor two needs new toner every week.")])
    erased = erasure.erasure_erase(keys)
    other_before = _stats(other.partition)
    purged = erasure.erasure_purge(erased)
    assert list(purged["collections"]) == [str(affected.pk)]
    assert purged["collections"][str(affected.pk)]["method"] == "reindex"
    assert _stats(affected.partition)[1] >= 1
    assert _stats(other.partition) == other_before
    assert storage.has_hnsw_index(affected)


@pytest.mark.django_db(transaction=True)
def test_purge_with_nothing_erased_touches_no_partition(two_collections):
    affected, other = two_collections
    before = (_stats(affected.partition), _stats(other.partition))
    assert erasure.erasure_purge({"collections": []})["collections"] == {}
    assert (_stats(affected.partition), _stats(other.partition)) == before


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method", ["full", "vacuum"])
def test_the_other_purge_methods_also_keep_the_index_and_the_search_working(
    two_collections, keys, method, settings
):
    from django.db import transaction

    from retrieval.services.search import search_vectors
    from tests.retrieval.conftest import random_unit_vectors

    settings.RETRIEVAL_PURGE_METHOD = method
    affected, _ = two_collections
    purged = erasure.erasure_purge(erasure.erasure_erase(keys))
    assert purged["collections"][str(affected.pk)]["method"] == method
    assert storage.has_hnsw_index(affected)
    with transaction.atomic():
        hits = search_vectors(affected, random_unit_vectors(1, 384)[0], k=5).hits
    assert {h.document_id for h in hits} == set(
        Document.objects.filter(collection=affected).values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_purge_refuses_to_run_inside_a_transaction(two_collections):
    with pytest.raises(RuntimeError):
        erasure.erasure_purge({"collections": [two_collections[0].pk]})
