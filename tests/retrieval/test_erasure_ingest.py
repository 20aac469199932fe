"""Ingestion keys every stored field, and refuses documents of suppressed subjects (issue 8)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from governance import pii
from governance.models import ErasureRequest, SuppressedKey
from retrieval.models import Chunk, Document
from retrieval.services import erasure
from tests.conftest import wait_for
from tests.retrieval.conftest import doc, ingest_now
from tests.retrieval.test_erasure import scope

EMAIL = "jan.nowak@example.org"
PESEL = "44051401359"
PLAIN = "The parcel was delivered on Tuesday and the customer confirmed it."


def _suppress(key: str, key_type: str = "email") -> SuppressedKey:
    request = ErasureRequest.objects.create(
        reference=f"ER-S-{key[:8]}", due_at=timezone.now() + timedelta(days=30), subject_keys=[key]
    )
    return SuppressedKey.objects.create(key=key, key_type=key_type, request=request)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"metadata": {"customer": EMAIL}},
        {"metadata": {"pesel": int(PESEL)}},
        {"source": f"mailto:{EMAIL}"},
        {"external_id": f"ticket:{EMAIL}"},
    ],
    ids=["metadata-string", "metadata-number", "source", "external-id"],
)
def test_identifiers_outside_the_text_key_the_document_and_every_chunk(make_collection, engineer, fields):
    collection = make_collection(chunk_size=16, chunk_overlap=2)
    external_id = fields.pop("external_id", "ticket")
    document = ingest_now(engineer, collection, [doc(external_id, PLAIN * 3, **fields)])[0]
    assert document.status == "indexed"
    assert document.subject_keys, "the field's identifier must key the document"
    chunks = list(Chunk.objects.filter(document=document))
    assert len(chunks) > 1 and all(set(document.subject_keys) <= set(c.subject_keys) for c in chunks)
    keys = [pii.subject_key("email", EMAIL), pii.subject_key("pesel", PESEL)]
    assert erasure.erasure_find(scope(keys=keys))["counts"]["documents"] == 1
    erasure.erasure_erase(scope(keys=keys))
    assert erasure.erasure_verify(scope(keys=keys, identifiers=[EMAIL, PESEL]))["ok"] is True


@pytest.mark.django_db
def test_mask_masks_text_and_title_and_keeps_the_fields_erasable(make_collection, engineer):
    collection = make_collection(pii_policy="mask", chunk_size=32, chunk_overlap=4)
    document = ingest_now(
        engineer,
        collection,
        [doc("t1", f"Please write to {EMAIL} about it.", title=f"From {EMAIL}", metadata={"pesel": PESEL})],
    )[0]
    assert EMAIL not in document.text and EMAIL not in document.title
    assert not Chunk.objects.filter(document=document, text__icontains=EMAIL).exists()
    assert document.metadata == {"pesel": PESEL}  # stored as sent: not embedded, but keyed
    assert pii.subject_key("pesel", PESEL) in document.subject_keys
    assert erasure.erasure_erase(scope(keys=[pii.subject_key("pesel", PESEL)]))["counts"]["documents"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("policy", ["index", "mask", "reject"])
def test_a_document_of_a_suppressed_subject_is_rejected_whatever_the_policy(
    make_collection, engineer, policy
):
    _suppress(pii.subject_key("email", EMAIL))
    collection = make_collection(pii_policy=policy, chunk_size=32, chunk_overlap=4)
    rejected, kept = ingest_now(
        engineer, collection, [doc("a", PLAIN, metadata={"contact": EMAIL}), doc("b", PLAIN + " Again.")]
    )
    assert rejected.status == "rejected" and rejected.error_code == "suppressed_subject"
    assert rejected.text == "" and rejected.subject_keys == []
    assert EMAIL not in rejected.error
    assert not Chunk.objects.filter(document=rejected).exists()
    assert kept.status == "indexed"


@pytest.mark.django_db
def test_a_lifted_suppression_lets_the_subject_in_again(make_collection, engineer):
    suppression = _suppress(pii.subject_key("email", EMAIL))
    SuppressedKey.objects.filter(pk=suppression.pk).update(lifted_at=timezone.now(), lift_reason="consent")
    collection = make_collection(chunk_size=32, chunk_overlap=4)
    assert ingest_now(engineer, collection, [doc("a", f"Write to {EMAIL}.")])[0].status == "indexed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.slow
def test_the_worker_rejects_an_upload_for_a_suppressed_subject(api, engineer, collection, celery_worker):
    _suppress(pii.subject_key("email", EMAIL))
    body = [{"external_id": "mail", "text": f"Customer {EMAIL} asked about the invoice."}]
    response = api(engineer).post(f"/api/v1/collections/{collection.pk}/documents/", body, format="json")
    assert response.status_code == 202
    pk = response.json()["documents"][0]["id"]
    wait_for(lambda: Document.objects.get(pk=pk).status == "rejected", timeout=180)
    document = Document.objects.get(pk=pk)
    assert document.error_code == "suppressed_subject" and document.text == ""
    detail = api(engineer).get(f"/api/v1/documents/{pk}/").json()
    assert detail["error_code"] == "suppressed_subject"
