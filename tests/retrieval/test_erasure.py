"""The retrieval erasure participant: find, erase (documents, chunks, query logs), name keys, verify."""

from __future__ import annotations

from unittest import mock

import pytest

from governance import pii
from governance.participants import ErasureScope, NameOnlyMatch, erasure_participants
from retrieval.models import Chunk, Document, QueryLog
from retrieval.services import erasure
from retrieval.services.search import collection_query
from tests.retrieval.conftest import PERSON_DOC, doc, ingest_now

EMAIL = "anna.kowalska@example.com"
PHONE = "+48 601 234 567"
NAME_KEY = pii.subject_key("person", "Jan Wisniewski")


def scope(*, keys=None, name_keys=(), confirmed=(), identifiers=()):
    keys = keys if keys is not None else [pii.subject_key("email", EMAIL), pii.subject_key("phone", PHONE)]
    return ErasureScope(
        request_id=7,
        reference="ER-2026-007",
        keys=tuple(keys),
        name_keys=tuple(name_keys),
        confirmed=frozenset(confirmed),
        identifiers=tuple(identifiers),
    )


@pytest.fixture
def two_collections(make_collection, engineer):
    affected = make_collection(chunk_size=32, chunk_overlap=4)
    other = make_collection(chunk_size=32, chunk_overlap=4)
    ingest_now(engineer, affected, [doc("ticket", PERSON_DOC), doc("faq", "Refunds take five working days.")])
    ingest_now(engineer, other, [doc("manual", "The printer on floor two needs new toner every month.")])
    return affected, other


def _name_only_document(collection, external_id):
    """A document that carries only the subject's name key (a namesake, until an officer says)."""
    document = Document.objects.get(collection=collection, external_id=external_id)
    Document.objects.filter(pk=document.pk).update(subject_keys=[NAME_KEY])
    Chunk.objects.filter(document_id=document.pk).update(subject_keys=[NAME_KEY])
    return document


@pytest.mark.django_db
def test_retrieval_registers_as_a_participant_with_its_order_and_count_names():
    participant = erasure_participants()["retrieval"]
    assert participant.find is erasure.erasure_find and participant.erase is erasure.erasure_erase
    assert participant.purge is erasure.erasure_purge and participant.verify is erasure.erasure_verify
    assert participant.order == 30
    assert tuple(participant.count_names) == ("documents", "chunks", "query_logs")


@pytest.mark.django_db
def test_find_counts_the_subjects_documents_chunks_and_collections(two_collections):
    affected, _ = two_collections
    found = erasure.erasure_find(scope())
    ticket = Document.objects.get(external_id="ticket")
    assert found["counts"] == {
        "documents": 1,
        "chunks": Chunk.objects.filter(document=ticket).count(),
        "query_logs": 0,
    }
    assert found["collections"] == [affected.pk] and found["name_only"] == []


@pytest.mark.django_db
def test_find_with_keys_nobody_carries_finds_nothing(two_collections):
    found = erasure.erasure_find(scope(keys=[pii.subject_key("email", "nobody@example.org")]))
    assert found["counts"] == {"documents": 0, "chunks": 0, "query_logs": 0} and found["collections"] == []


@pytest.mark.django_db
def test_erase_deletes_the_subjects_documents_and_chunks_and_nothing_else(two_collections):
    affected, other = two_collections
    chunks = Chunk.objects.filter(document__external_id="ticket").count()
    result = erasure.erasure_erase(scope())
    assert result["counts"] == {"documents": 1, "chunks": chunks, "query_logs": 0}
    assert result["collections"] == [affected.pk]
    assert not Document.objects.filter(external_id="ticket").exists()
    assert not Chunk.objects.filter(text__icontains="kowalska").exists()
    assert Document.objects.filter(external_id__in=["faq", "manual"]).count() == 2
    assert Chunk.objects.filter(collection=other).count() == 1


@pytest.mark.django_db
def test_erase_twice_counts_zero_the_second_time(two_collections):
    erasure.erasure_erase(scope())
    assert erasure.erasure_erase(scope())["counts"] == {"documents": 0, "chunks": 0, "query_logs": 0}


@pytest.mark.django_db
def test_a_crash_half_way_leaves_nothing_half_done_and_a_rerun_ends_the_same(two_collections, engineer):
    affected, _ = two_collections
    collection_query(actor=engineer, collection=affected, query=f"refund for {EMAIL}?", k=1)
    before = (Document.objects.count(), Chunk.objects.count(), list(QueryLog.objects.values()))
    # The audit event is the last write of the transaction: failing there undoes every delete above it.
    with (
        mock.patch.object(erasure, "audit_record", side_effect=RuntimeError("worker killed")),
        pytest.raises(RuntimeError),
    ):
        erasure.erasure_erase(scope())
    assert (Document.objects.count(), Chunk.objects.count(), list(QueryLog.objects.values())) == before
    result = erasure.erasure_erase(scope())
    assert result["counts"]["documents"] == 1 and result["counts"]["query_logs"] == 1
    assert erasure.erasure_verify(scope(identifiers=[EMAIL, PHONE]))["ok"] is True


@pytest.mark.django_db
def test_name_only_documents_are_listed_by_find_and_left_by_erase(two_collections):
    affected, _ = two_collections
    namesake = _name_only_document(affected, "faq")
    found = erasure.erasure_find(scope(name_keys=[NAME_KEY]))
    assert found["name_only"] == [
        NameOnlyMatch(
            kind="document",
            object_id=namesake.pk,
            label=f"document {namesake.pk} in collection '{affected.name}'",
        )
    ]
    assert found["counts"]["documents"] == 1  # the ticket, by its e-mail and phone keys
    erasure.erasure_erase(scope(name_keys=[NAME_KEY]))
    assert Document.objects.filter(pk=namesake.pk).exists()
    assert Chunk.objects.filter(document_id=namesake.pk).exists()


@pytest.mark.django_db
def test_a_confirmed_name_only_document_is_erased_with_its_chunks(two_collections):
    affected, other = two_collections
    namesake = _name_only_document(affected, "faq")
    untouched = _name_only_document(other, "manual")
    confirmed = {("document", namesake.pk)}
    found = erasure.erasure_find(scope(name_keys=[NAME_KEY], confirmed=confirmed))
    assert [m.object_id for m in found["name_only"]] == [untouched.pk]
    result = erasure.erasure_erase(scope(name_keys=[NAME_KEY], confirmed=confirmed))
    assert result["counts"]["documents"] == 2
    assert not Document.objects.filter(pk=namesake.pk).exists()
    assert not Chunk.objects.filter(document_id=namesake.pk).exists()
    assert Document.objects.filter(pk=untouched.pk).exists()


@pytest.mark.django_db
def test_a_query_naming_the_subject_is_logged_with_its_keys_and_redacted_by_erase(two_collections, engineer):
    affected, other = two_collections
    answer = collection_query(
        actor=engineer, collection=affected, query=f"Where is the refund of {EMAIL}?", k=1
    )
    plain = collection_query(actor=engineer, collection=other, query="toner on floor two", k=1)
    log = QueryLog.objects.get(pk=answer.log.pk)
    assert pii.subject_key("email", EMAIL) in log.subject_keys
    assert EMAIL not in log.query_masked and log.query_pii_summary
    assert erasure.erasure_find(scope())["counts"]["query_logs"] == 1
    result = erasure.erasure_erase(scope())
    assert result["counts"]["query_logs"] == 1 and result["query_log_collections"] == [affected.pk]
    log.refresh_from_db()
    assert log.query_masked == "[erased under request ER-2026-007]"
    assert log.subject_keys == [] and log.filters == {}
    assert log.query_pii_summary  # the counts stay for Art. 12 record-keeping
    assert QueryLog.objects.get(pk=plain.log.pk).query_masked == "toner on floor two"
    assert erasure.erasure_erase(scope())["counts"]["query_logs"] == 0


@pytest.mark.django_db
def test_name_only_query_logs_are_listed_and_left_unless_confirmed(two_collections, engineer):
    affected, _ = two_collections
    log = collection_query(actor=engineer, collection=affected, query="refund status please", k=1).log
    QueryLog.objects.filter(pk=log.pk).update(subject_keys=[NAME_KEY])
    found = erasure.erasure_find(scope(name_keys=[NAME_KEY]))
    assert [(m.kind, m.object_id) for m in found["name_only"]] == [("query_log", log.pk)]
    assert erasure.erasure_erase(scope(name_keys=[NAME_KEY]))["counts"]["query_logs"] == 0
    confirmed = {("query_log", log.pk)}
    assert (
        erasure.erasure_erase(scope(name_keys=[NAME_KEY], confirmed=confirmed))["counts"]["query_logs"] == 1
    )
    assert QueryLog.objects.get(pk=log.pk).query_masked.startswith("[erased under request")


@pytest.mark.django_db
def test_verify_fails_while_rows_carry_the_keys_or_text_holds_the_identifiers(two_collections):
    result = erasure.erasure_verify(scope(identifiers=[EMAIL]))
    assert result["ok"] is False
    assert result["by_keys"]["documents"] == 1 and result["by_keys"]["chunks"] >= 1
    assert result["by_text"]["document_text"] == 1 and result["by_text"]["chunk_text"] >= 1


@pytest.mark.django_db
def test_verify_passes_after_erase_with_per_field_counts_all_zero(two_collections):
    erasure.erasure_erase(scope())
    result = erasure.erasure_verify(scope(identifiers=[EMAIL, PHONE, "Anna Kowalska"]))
    assert result["ok"] is True and result["unsearchable"] == []
    assert result["by_keys"] == {"documents": 0, "chunks": 0, "query_logs": 0}
    assert set(result["by_text"]) == {
        *erasure.DOCUMENT_TEXT_FIELDS,
        *erasure.QUERY_LOG_TEXT_FIELDS,
        "chunk_text",
    }
    assert not any(result["by_text"].values())
    assert result["chunk_text_collections"] == [two_collections[0].pk]


@pytest.mark.django_db
def test_verify_catches_an_identifier_in_a_collection_the_keys_never_pointed_at(two_collections, engineer):
    """The scanner missed it (no key anywhere): only the text search, across all documents, sees it."""
    _, other = two_collections
    erasure.erasure_erase(scope())
    unkeyed = Document.objects.get(collection=other, external_id="manual")
    Document.objects.filter(pk=unkeyed.pk).update(metadata={"contact": EMAIL.upper()})
    result = erasure.erasure_verify(scope(identifiers=[EMAIL]))
    assert result["ok"] is False and result["by_text"]["document_metadata"] == 1
    assert result["by_keys"] == {"documents": 0, "chunks": 0, "query_logs": 0}


@pytest.mark.django_db
def test_verify_without_identifiers_cannot_search_text_and_never_says_ok(two_collections):
    erasure.erasure_erase(scope())
    result = erasure.erasure_verify(scope())
    assert result["ok"] is False and result["unsearchable"]


@pytest.mark.django_db
def test_verify_reports_a_field_it_could_not_search_as_not_ok(two_collections):
    from django.db import DatabaseError

    erasure.erasure_erase(scope())
    real = erasure._fetch

    def failing(sql, params):
        if "FROM retrieval_querylog" in sql and "ILIKE" in sql:
            raise DatabaseError("statement timeout")
        return real(sql, params)

    with mock.patch.object(erasure, "_fetch", side_effect=failing):
        result = erasure.erasure_verify(scope(identifiers=[EMAIL]))
    assert result["ok"] is False
    assert set(result["unsearchable"]) == set(erasure.QUERY_LOG_TEXT_FIELDS)


@pytest.mark.django_db
def test_erase_records_one_audit_event_with_counts_and_ids_only(two_collections):
    from governance.models import AuditEvent

    erasure.erasure_erase(scope())
    event = AuditEvent.objects.get(action="erasure.retrieval_erased")
    assert event.object_id == "7" and event.payload["counts"]["documents"] == 1
    assert "kowalska" not in str(event.payload).lower()
    erasure.erasure_erase(scope())
    assert AuditEvent.objects.filter(action="erasure.retrieval_erased").count() == 1
