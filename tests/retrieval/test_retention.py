"""A collection's document retention (issue 13): bad values refused, expired documents removed with chunks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from governance.models import AuditEvent, RetentionRun
from governance.participants import ErasureScope
from governance.pii.keys import subject_key
from governance.services import retention
from retrieval.models import Chunk, Collection, Document
from retrieval.services import erasure
from tests.factories import UserFactory
from tests.retrieval.conftest import PERSON_DOC, doc, ingest_now

pytestmark = pytest.mark.django_db


def _body(ai_system: Any, **fields: Any) -> dict[str, Any]:
    return {"name": "KB", "ai_system": ai_system.pk, "chunk_size": 64, "chunk_overlap": 8, **fields}


def _age(document: Document, days: int) -> None:
    """Stored `days` ago: what time does to a row."""
    Document.objects.filter(pk=document.pk).update(created_at=timezone.now() - timedelta(days=days))


def _chunks(document_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM retrieval_chunk WHERE document_id = %s", [document_id])
        return int(cursor.fetchone()[0])


@pytest.mark.parametrize("days", [0, -3, 36_501, 2_147_483_647])
def test_a_collection_created_with_retention_days_of_zero_or_less_or_past_a_century_is_refused(
    api: Any, engineer: Any, ai_system: Any, days: int
) -> None:
    response = api(engineer).post(
        "/api/v1/collections/", _body(ai_system, document_retention_days=days), format="json"
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["details"]) == (
        "invalid_retention_days",
        {"field": "document_retention_days"},
    )
    assert not Collection.objects.exists()


def test_retention_days_are_set_at_creation_and_edited_later(api: Any, engineer: Any, ai_system: Any) -> None:
    created = api(engineer).post(
        "/api/v1/collections/", _body(ai_system, document_retention_days=90), format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["document_retention_days"] == 90
    pk = created.json()["id"]
    refused = api(engineer).patch(f"/api/v1/collections/{pk}/", {"document_retention_days": 0}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_retention_days"
    assert Collection.objects.get(pk=pk).document_retention_days == 90
    cleared = api(engineer).patch(
        f"/api/v1/collections/{pk}/", {"document_retention_days": None}, format="json"
    )
    assert cleared.status_code == 200 and cleared.json()["document_retention_days"] is None
    event = AuditEvent.objects.filter(action="collection.updated").get()
    assert event.payload == {"changed": ["document_retention_days"]}


def test_the_collection_admin_form_refuses_retention_days_of_zero(
    engineer: Any, collection: Collection
) -> None:
    client = Client()
    client.force_login(engineer)
    response = client.post(
        f"/admin/retrieval/collection/{collection.pk}/change/",
        {
            "name": collection.name,
            "description": "",
            "min_score": collection.min_score,
            "pii_policy": collection.pii_policy,
            "retrieval_mode": collection.retrieval_mode,
            "document_retention_days": 0,
        },
    )
    assert response.status_code == 200
    assert "must be 1 to 36500 days" in response.content.decode()
    assert Collection.objects.get(pk=collection.pk).document_retention_days is None


@pytest.mark.django_db(transaction=True)
def test_documents_past_their_collection_s_retention_go_with_their_chunks(
    engineer: Any, officer: Any, make_collection: Any
) -> None:
    limited = make_collection(chunk_size=64, chunk_overlap=8, document_retention_days=30)
    kept = make_collection(chunk_size=64, chunk_overlap=8)
    old, young = ingest_now(
        engineer, limited, [doc("old", PERSON_DOC), doc("young", "Refunds take five days.")]
    )
    (forever,) = ingest_now(engineer, kept, [doc("old", PERSON_DOC)])
    _age(old, 31)
    _age(young, 29)
    _age(forever, 400)
    assert _chunks(old.pk) > 0

    result = retention.retention_sweep()

    run = RetentionRun.objects.get(outcome="enforced")
    assert result.enforced == [run.pk]
    assert sorted(Document.objects.values_list("pk", flat=True)) == sorted([young.pk, forever.pk])
    assert _chunks(old.pk) == 0 and _chunks(young.pk) > 0 and _chunks(forever.pk) > 0
    assert (run.rule, run.target_type, run.target_id) == (
        "collection_document_retention",
        "collection",
        limited.pk,
    )
    assert run.counts == {"documents": 1, "chunks": old.chunk_count}
    assert run.ids == {"documents": [old.pk]}
    assert str(limited.pk) in run.purge["collections"] and run.purged_at is not None
    assert not Chunk.objects.filter(document_id=old.pk).exists()
    assert retention.retention_sweep().enforced == []


@pytest.mark.django_db(transaction=True)
def test_a_held_collection_keeps_its_expired_documents(
    engineer: Any, officer: Any, make_collection: Any
) -> None:
    limited = make_collection(chunk_size=64, chunk_overlap=8, document_retention_days=30)
    (old,) = ingest_now(engineer, limited, [doc("old", PERSON_DOC)])
    _age(old, 31)
    hold = retention.legal_hold_create(actor=officer, collection=limited, reason="Complaint 7/2026 pending")

    retention.retention_sweep()
    retention.retention_sweep()

    assert Document.objects.filter(pk=old.pk).exists() and _chunks(old.pk) > 0
    held = RetentionRun.objects.get()
    assert (held.outcome, held.hold_id, held.target_id) == ("held", hold.pk, limited.pk)


def test_officers_hear_of_documents_about_to_expire_once_per_day_due(
    engineer: Any, officer: Any, make_collection: Any, settings: Any
) -> None:
    settings.RETENTION_NOTICE_DAYS = 14
    UserFactory(username="dpo", email="dpo@example.org", role="compliance_officer")
    limited = make_collection(chunk_size=64, chunk_overlap=8, name="Support KB", document_retention_days=30)
    (soon,) = ingest_now(engineer, limited, [doc("soon", PERSON_DOC)])
    _age(soon, 25)
    mail.outbox.clear()

    assert len(retention.retention_sweep().notified) == 1
    assert retention.retention_sweep().notified == []

    assert len(mail.outbox) == 1 and "Support KB" in mail.outbox[0].subject
    assert "anna.kowalska" not in mail.outbox[0].body.lower()
    run = RetentionRun.objects.get()
    assert (run.outcome, run.counts, run.due_on) == (
        "notified",
        {"due": 1},
        (timezone.now() + timedelta(days=5)).date(),
    )
    assert Document.objects.filter(pk=soon.pk).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "erasure_first", [True, False], ids=["erasure-then-retention", "retention-then-erasure"]
)
def test_retention_and_an_erasure_of_the_same_documents_end_in_the_same_state(
    engineer: Any, make_collection: Any, erasure_first: bool
) -> None:
    limited = make_collection(chunk_size=64, chunk_overlap=8, document_retention_days=30)
    person, other, young = ingest_now(
        engineer,
        limited,
        [
            doc("person", PERSON_DOC),
            doc("other", "Refunds take five days."),
            doc("young", "Parcels ship daily."),
        ],
    )
    _age(person, 31)
    _age(other, 31)
    scope = ErasureScope(
        request_id=1, reference="ER-9", keys=(subject_key("email", "anna.kowalska@example.com"),)
    )
    if erasure_first:
        assert erasure.erasure_erase(scope)["counts"]["documents"] == 1
        run = retention.retention_sweep()
    else:
        run = retention.retention_sweep()
        assert erasure.erasure_erase(scope)["counts"]["documents"] == 0
    assert len(run.enforced) == 1
    assert list(Document.objects.values_list("pk", flat=True)) == [young.pk]
    assert _chunks(person.pk) == 0 and _chunks(other.pk) == 0 and _chunks(young.pk) > 0
