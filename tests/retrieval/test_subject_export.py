"""The retrieval participant's export: the subject's documents, chunks and query logs, and nobody else's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from governance import pii
from governance.models import AuditEvent
from governance.participants import ErasureScope, erasure_participants
from governance.services.processing_contexts import CONTEXT_KEYS
from retrieval.models import Chunk, Collection, Document, QueryLog
from retrieval.services import erasure, subject_export
from retrieval.services.search import collection_query
from tests.retrieval.conftest import PERSON_DOC, doc, ingest_now

EMAIL = "anna.kowalska@example.com"
PHONE = "+48 601 234 567"
OTHER_EMAIL = "piotr.zielinski@example.com"
NAME_KEY = pii.subject_key("person", "Anna Kowalska")
OTHER_DOC = f"Support ticket 9. Piotr Zielinski wrote from {OTHER_EMAIL} about a broken invoice."
NAMESAKE_DOC = "Anna Kowalska from the Gdansk office reported that the printer on floor two is out of toner."


def scope(*, keys: Any = None, name_keys: Any = (), confirmed: Any = ()) -> ErasureScope:
    keys = keys if keys is not None else [pii.subject_key("email", EMAIL), pii.subject_key("phone", PHONE)]
    return ErasureScope(
        request_id=9,
        reference="SAR-2026-009",
        keys=tuple(keys),
        name_keys=tuple(name_keys),
        confirmed=frozenset(confirmed),
    )


@pytest.fixture
def stores(make_collection: Any, engineer: Any, ai_system: Any) -> dict[str, Any]:
    """The subject's ticket and query in one collection, a second person beside it, a namesake elsewhere."""
    ai_system.recipients = "Support team; the parcel carrier"
    ai_system.save()
    tickets = make_collection(chunk_size=32, chunk_overlap=4, description="Support tickets sent by customers")
    office = make_collection(chunk_size=32, chunk_overlap=4, description="Office notes")
    ingest_now(engineer, tickets, [doc("ticket", PERSON_DOC, title="Ticket 4411", source="mail://support")])
    ingest_now(engineer, tickets, [doc("other", OTHER_DOC)])
    ingest_now(engineer, office, [doc("namesake", NAMESAKE_DOC)])
    collection_query(actor=engineer, collection=tickets, query=f"refund for {EMAIL}?", k=1)
    collection_query(actor=engineer, collection=tickets, query=f"invoice of {OTHER_EMAIL}?", k=1)
    return {
        "tickets": tickets,
        "office": office,
        "ticket": Document.objects.get(external_id="ticket"),
        "other": Document.objects.get(external_id="other"),
        "namesake": Document.objects.get(external_id="namesake"),
        "query": QueryLog.objects.get(pk__in=_logs(EMAIL)),
    }


def _logs(email: str) -> list[int]:
    key = pii.subject_key("email", email)
    return list(QueryLog.objects.filter(subject_keys__contains=[key]).values_list("pk", flat=True))


def _ids(exported: dict[str, Any], kind: str) -> list[int]:
    return sorted(item["id"] for item in exported["items"] if item["kind"] == kind)


def _item(exported: dict[str, Any], kind: str, pk: int) -> dict[str, Any]:
    return next(item for item in exported["items"] if (item["kind"], item["id"]) == (kind, pk))


def _counts() -> tuple[int, ...]:
    return (
        Document.objects.count(),
        Chunk.objects.count(),
        QueryLog.objects.count(),
        AuditEvent.objects.count(),
        Collection.objects.count(),
    )


def test_retrieval_registers_its_export_with_its_participant() -> None:
    assert erasure_participants()["retrieval"].export is subject_export.erasure_export


@pytest.mark.django_db
def test_export_returns_exactly_the_subjects_document_chunks_and_query_log(stores: dict[str, Any]) -> None:
    exported = subject_export.erasure_export(scope())
    ticket = stores["ticket"]
    assert _ids(exported, "document") == [ticket.pk]
    assert _ids(exported, "chunk") == sorted(
        Chunk.objects.filter(document=ticket).values_list("pk", flat=True)
    )
    assert _ids(exported, "query_log") == [stores["query"].pk]
    assert {item["kind"] for item in exported["items"]} == {"document", "chunk", "query_log"}
    assert all(item["portable"] is True for item in exported["items"])


@pytest.mark.django_db
def test_export_lists_what_erase_would_remove_item_for_item(stores: dict[str, Any]) -> None:
    exported = subject_export.erasure_export(scope())
    counts = erasure.erasure_find(scope())["counts"]
    assert {
        "documents": len(_ids(exported, "document")),
        "chunks": len(_ids(exported, "chunk")),
        "query_logs": len(_ids(exported, "query_log")),
    } == counts
    assert counts["documents"] == 1 and counts["query_logs"] == 1


@pytest.mark.django_db
def test_a_second_persons_document_chunks_and_query_never_appear(stores: dict[str, Any]) -> None:
    exported = subject_export.erasure_export(scope())
    other = stores["other"]
    other_chunks = set(Chunk.objects.filter(document=other).values_list("pk", flat=True))
    assert other_chunks and not other_chunks & set(_ids(exported, "chunk"))
    assert other.pk not in _ids(exported, "document")
    assert not set(_logs(OTHER_EMAIL)) & set(_ids(exported, "query_log"))
    assert "piotr" not in json.dumps(exported).lower()


@pytest.mark.django_db
def test_the_document_item_carries_the_stored_text_title_source_and_pii_types(stores: dict[str, Any]) -> None:
    ticket = stores["ticket"]
    item = _item(subject_export.erasure_export(scope()), "document", ticket.pk)
    assert item == {
        "kind": "document",
        "id": ticket.pk,
        "portable": True,
        "collection": stores["tickets"].name,
        "collection_id": stores["tickets"].pk,
        "external_id": "ticket",
        "version": 1,
        "title": "Ticket 4411",
        "source": "mail://support",
        "source_type": "json",
        "metadata": {},
        "status": "indexed",
        "created_at": ticket.created_at.isoformat(),
        "indexed_at": ticket.indexed_at.isoformat(),
        "text": PERSON_DOC,
        "pii_types": sorted(ticket.pii_summary),
    }
    assert {"EMAIL_ADDRESS", "PHONE_NUMBER"} <= set(item["pii_types"])


@pytest.mark.django_db
def test_each_chunk_item_carries_its_stored_text_document_and_ordinal(stores: dict[str, Any]) -> None:
    exported = subject_export.erasure_export(scope())
    chunks = list(Chunk.objects.filter(document=stores["ticket"]).order_by("ordinal"))
    assert len(chunks) > 1  # chunk_size 32 splits the ticket
    items = [item for item in exported["items"] if item["kind"] == "chunk"]
    assert [(i["id"], i["document_id"], i["ordinal"], i["text"]) for i in items] == [
        (c.pk, stores["ticket"].pk, c.ordinal, c.text) for c in chunks
    ]
    assert {item["collection"] for item in items} == {stores["tickets"].name}


@pytest.mark.django_db
def test_the_query_log_item_holds_the_masked_query_and_not_who_asked_or_what_came_back(
    stores: dict[str, Any],
) -> None:
    log = stores["query"]
    item = _item(subject_export.erasure_export(scope()), "query_log", log.pk)
    assert item["query"] == log.query_masked and EMAIL not in item["query"]
    assert (item["collection"], item["created_at"]) == (stores["tickets"].name, log.created_at.isoformat())
    assert item["pii_types"] == ["EMAIL_ADDRESS"]
    assert "user" not in item and "results" not in item


@pytest.mark.django_db
def test_a_namesakes_document_is_absent_unless_the_officer_confirmed_it(stores: dict[str, Any]) -> None:
    namesake = stores["namesake"]
    assert NAME_KEY in namesake.subject_keys and namesake.pii_summary == {"PERSON": 1}
    unconfirmed = subject_export.erasure_export(scope(name_keys=[NAME_KEY]))
    assert _ids(unconfirmed, "document") == [stores["ticket"].pk]
    assert "office notes" not in json.dumps(unconfirmed).lower()

    confirmed = subject_export.erasure_export(
        scope(name_keys=[NAME_KEY], confirmed={("document", namesake.pk)})
    )
    assert _ids(confirmed, "document") == sorted([stores["ticket"].pk, namesake.pk])
    assert _item(confirmed, "document", namesake.pk)["text"] == NAMESAKE_DOC
    assert set(Chunk.objects.filter(document=namesake).values_list("pk", flat=True)) <= set(
        _ids(confirmed, "chunk")
    )
    assert [c["id"] for c in confirmed["processing"]] == sorted([stores["tickets"].pk, stores["office"].pk])


@pytest.mark.django_db
def test_a_confirmation_without_the_name_key_exports_nothing_more(stores: dict[str, Any]) -> None:
    exported = subject_export.erasure_export(scope(confirmed={("document", stores["namesake"].pk)}))
    assert _ids(exported, "document") == [stores["ticket"].pk]


@pytest.mark.django_db
def test_the_processing_context_names_the_collection_its_system_and_recipients(
    stores: dict[str, Any], ai_system: Any
) -> None:
    tickets = stores["tickets"]
    assert subject_export.erasure_export(scope())["processing"] == [
        {
            "register": "collection",
            "id": tickets.pk,
            "name": tickets.name,
            "ai_system": ai_system.name,
            "purpose": ai_system.intended_purpose,
            "legal_basis": "",
            "retention": "not set",
            "recipients": "Support team; the parcel carrier",
            "source": "Support tickets sent by customers",
        }
    ]
    assert tuple(subject_export.erasure_export(scope())["processing"][0]) == CONTEXT_KEYS


@pytest.mark.django_db
def test_a_collections_document_retention_is_its_retention(stores: dict[str, Any]) -> None:
    Collection.objects.filter(pk=stores["tickets"].pk).update(document_retention_days=90)
    (context,) = subject_export.erasure_export(scope())["processing"]
    assert context["retention"] == "90 days after a document is stored"


@pytest.mark.django_db
def test_a_key_nobody_carries_exports_nothing(stores: dict[str, Any]) -> None:
    exported = subject_export.erasure_export(scope(keys=[pii.subject_key("email", "nobody@example.org")]))
    assert exported == {"items": [], "processing": []}
    assert subject_export.erasure_export(scope(keys=[])) == {"items": [], "processing": []}


@pytest.mark.django_db
def test_export_writes_nothing_and_is_json_serialisable(stores: dict[str, Any]) -> None:
    before = _counts()
    logs = list(QueryLog.objects.order_by("pk").values())
    documents = list(Document.objects.order_by("pk").values("pk", "text", "subject_keys", "status"))
    exported = subject_export.erasure_export(
        scope(name_keys=[NAME_KEY], confirmed={("document", stores["namesake"].pk)})
    )
    assert json.loads(json.dumps(exported)) == exported
    assert _counts() == before
    assert list(QueryLog.objects.order_by("pk").values()) == logs
    assert list(Document.objects.order_by("pk").values("pk", "text", "subject_keys", "status")) == documents


@pytest.mark.django_db
def test_after_erasure_the_export_finds_nothing_left(stores: dict[str, Any]) -> None:
    erasure.erasure_erase(scope())
    assert subject_export.erasure_export(scope()) == {"items": [], "processing": []}
