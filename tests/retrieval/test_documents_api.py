"""Uploading documents: every accepted type, no-op re-uploads, replacement, and each bad input."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from retrieval.choices import DocumentStatus
from retrieval.models import Chunk, Document
from tests.retrieval.conftest import PERSON_DOC, doc, ingest_now
from tests.retrieval.helpers import pdf_with_text, pdf_without_text_layer

pytestmark = pytest.mark.django_db


def _url(collection):
    return f"/api/v1/collections/{collection.pk}/documents/"


def _upload(client, collection, *files, **fields):
    return client.post(_url(collection), {"file": list(files), **fields}, format="multipart")


def _file(name, data, content_type="application/octet-stream"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def _process(response):
    from retrieval.services import documents

    ids = [d["id"] for d in response.json()["documents"] if not d["unchanged"]]
    documents.documents_process(document_ids=documents.documents_claim(document_ids=ids))
    return [Document.objects.get(pk=pk) for pk in ids]


def _nothing_stored(before_documents, before_chunks):
    return Document.objects.count() == before_documents and Chunk.objects.count() == before_chunks


# --- Accepted inputs -----------------------------------------------------------------------------


def test_a_json_document_is_accepted_at_once_as_pending(api, engineer, collection):
    body = {
        "external_id": "faq-1",
        "title": "FAQ",
        "source": "wiki",
        "text": "Refunds take five days.",
        "metadata": {"lang": "en"},
    }
    response = api(engineer).post(_url(collection), body, format="json")
    assert response.status_code == 202
    [document] = response.json()["documents"]
    assert document["status"] == "pending" and document["unchanged"] is False
    assert document["metadata"] == {"lang": "en"}


def test_a_text_file_is_indexed_under_its_file_name(api, engineer, collection):
    response = _upload(api(engineer), collection, _file("notes.txt", b"Invoices are due in 30 days.\r\n"))
    assert response.status_code == 202
    [document] = _process(response)
    assert document.external_id == "notes.txt" and document.status == DocumentStatus.INDEXED
    assert document.text == "Invoices are due in 30 days."


def test_markdown_is_indexed_as_text(api, engineer, collection):
    response = _upload(
        api(engineer), collection, _file("guide.md", b"# Guide\n\nReturns within **14 days**.")
    )
    [document] = _process(response)
    assert document.source_type == "md" and "Returns within" in document.text


def test_html_is_parsed_and_scripts_and_styles_are_dropped(api, engineer, collection):
    html = (
        b"<html><head><title>t</title><style>p{color:red}</style></head><body><h1>Shipping</h1>"
        b"<p>Parcels leave within <b>two</b> days.</p><script>alert('x')</script></body></html>"
    )
    [document] = _process(_upload(api(engineer), collection, _file("page.html", html)))
    assert "Shipping" in document.text and "two" in document.text
    assert "alert" not in document.text and "color" not in document.text


def test_a_pdf_with_a_text_layer_is_indexed(api, engineer, collection):
    pdf = pdf_with_text("Warranty claims are handled by the service desk.")
    [document] = _process(_upload(api(engineer), collection, _file("warranty.pdf", pdf, "application/pdf")))
    assert document.status == DocumentStatus.INDEXED
    assert "Warranty claims" in document.text


def test_several_files_make_one_batch(api, engineer, collection):
    response = _upload(
        api(engineer), collection, _file("a.txt", b"Alpha text."), _file("b.md", b"Beta text.")
    )
    assert response.status_code == 202
    assert sorted(d["external_id"] for d in response.json()["documents"]) == ["a.txt", "b.md"]


def test_a_jsonl_batch_is_accepted_whole(api, engineer, collection):
    lines = [json.dumps({"external_id": f"doc-{i}", "text": f"Document number {i}."}) for i in range(3)]
    response = _upload(api(engineer), collection, _file("batch.jsonl", "\n".join(lines).encode()))
    assert response.status_code == 202
    assert response.json()["accepted"] == 3


def test_the_same_content_again_is_a_no_op(api, engineer, collection, ingest):
    [first] = ingest(collection, doc("faq", "Refunds take five days."))
    response = api(engineer).post(
        _url(collection), {"external_id": "faq", "text": "Refunds take five days."}, format="json"
    )
    assert response.status_code == 202
    [document] = response.json()["documents"]
    assert document["id"] == first.pk and document["unchanged"] is True and document["status"] == "indexed"
    assert Document.objects.filter(external_id="faq").count() == 1


def test_new_content_for_an_external_id_replaces_its_chunks(collection, ingest):
    [old] = ingest(collection, doc("faq", "Refunds take five days."))
    old_chunks = set(Chunk.objects.filter(document=old).values_list("pk", flat=True))
    [new] = ingest(collection, doc("faq", "Refunds take ten working days from now on."))
    assert new.status == DocumentStatus.INDEXED and new.version == 2
    assert not Document.objects.filter(pk=old.pk).exists()
    assert not Chunk.objects.filter(pk__in=old_chunks).exists()
    assert list(Chunk.objects.filter(collection=collection).values_list("document_id", flat=True)) == [new.pk]


def test_a_crash_while_writing_leaves_the_previous_version_intact_and_the_new_one_failed(collection, ingest):
    [old] = ingest(collection, doc("manual", "Short first version of the manual."))
    old_chunks = list(Chunk.objects.filter(document=old).values_list("pk", "text"))
    with connection.cursor() as cursor:
        # A real failure inside the write transaction: the partition refuses the new version's third chunk.
        cursor.execute("""
            CREATE FUNCTION test_refuse_chunk() RETURNS trigger AS $$
            BEGIN IF NEW.ordinal >= 2 THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$
            LANGUAGE plpgsql""")
        cursor.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON {collection.partition} "
            "FOR EACH ROW EXECUTE FUNCTION test_refuse_chunk()"
        )
    long_text = " ".join(f"Paragraph {i} explains another step of the procedure." for i in range(60))
    [new] = ingest(collection, doc("manual", long_text))
    assert new.status == DocumentStatus.FAILED and new.error_code == "write_failed"
    assert "disk full" not in new.error and new.text == ""
    old.refresh_from_db()
    assert old.status == DocumentStatus.INDEXED
    assert list(Chunk.objects.filter(document=old).values_list("pk", "text")) == old_chunks
    assert not Chunk.objects.filter(document=new).exists()


def test_a_newer_upload_supersedes_a_pending_one(api, engineer, collection):
    client = api(engineer)
    first = client.post(_url(collection), {"external_id": "x", "text": "One."}, format="json").json()
    second = client.post(_url(collection), {"external_id": "x", "text": "Two."}, format="json").json()
    older = Document.objects.get(pk=first["documents"][0]["id"])
    assert older.status == DocumentStatus.FAILED and older.error_code == "superseded"
    assert second["documents"][0]["version"] == 2


def test_progress_and_status_are_visible_in_the_document_detail(api, engineer, collection, ingest):
    [document] = ingest(collection, doc("faq", "Refunds take five days."))
    body = api(engineer).get(f"/api/v1/documents/{document.pk}/").json()
    assert body["status"] == "indexed" and body["progress"] == 1.0 and body["chunk_count"] == 1


# --- PII policies --------------------------------------------------------------------------------


def test_the_reject_policy_rejects_a_document_with_pii_naming_the_entity_types(make_collection, engineer):
    collection = make_collection(pii_policy="reject", chunk_size=64, chunk_overlap=8)
    sent = doc(
        "ticket",
        PERSON_DOC,
        title="Complaint from Anna Kowalska",
        source="mailbox of anna.kowalska@example.com",
        metadata={"from": "anna.kowalska@example.com"},
    )
    [document] = ingest_now(engineer, collection, [sent])
    assert document.status == DocumentStatus.REJECTED and document.error_code == "pii_rejected"
    assert (
        "EMAIL_ADDRESS" in document.error and "PHONE_NUMBER" in document.error and "PERSON" in document.error
    )
    assert document.pii_summary["EMAIL_ADDRESS"] == 3
    assert document.text == "" and not Chunk.objects.filter(document=document).exists()
    # Nothing the scan found lingers: the title, source and metadata held identifiers too.
    assert (document.title, document.source, document.metadata) == ("", "", {})
    assert document.external_id == "ticket"


def test_the_reject_policy_indexes_a_document_without_pii(make_collection, engineer):
    collection = make_collection(pii_policy="reject", chunk_size=64, chunk_overlap=8)
    [document] = ingest_now(engineer, collection, [doc("faq", "Refunds take five working days.")])
    assert document.status == DocumentStatus.INDEXED


def test_the_mask_policy_indexes_placeholders_but_keeps_the_subject_keys(make_collection, engineer):
    from governance import pii

    collection = make_collection(pii_policy="mask", chunk_size=64, chunk_overlap=8)
    [document] = ingest_now(engineer, collection, [doc("ticket", PERSON_DOC)])
    assert document.status == DocumentStatus.INDEXED
    assert "anna.kowalska@example.com" not in document.text and "<EMAIL_ADDRESS>" in document.text
    key = pii.subject_key("email", "anna.kowalska@example.com")
    assert key in document.subject_keys
    chunks = Chunk.objects.filter(document=document)
    assert all("example.com" not in c.text for c in chunks)
    assert chunks.filter(subject_keys__contains=[key]).exists()


# --- Bad inputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"   \n\t  "])
def test_an_empty_document_is_refused(api, engineer, collection, data):
    response = _upload(api(engineer), collection, _file("empty.txt", data))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "empty_document"
    assert _nothing_stored(0, 0)


def test_an_empty_json_text_is_refused(api, engineer, collection):
    response = api(engineer).post(_url(collection), {"external_id": "x", "text": "  "}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "empty_document"
    assert _nothing_stored(0, 0)


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ({"external_id": "s1", "text": "hello \ud800 world"}, "invalid_character"),
        ({"external_id": "s1", "text": "ok", "metadata": {"a": "\udc00"}}, "invalid_character"),
        ({"external_id": "s1", "text": "ok", "metadata": {"\ud800": "a"}}, "invalid_character"),
        ({"external_id": "s1", "text": "ok", "metadata": {"a": 1e400}}, "invalid_number"),
    ],
)
def test_a_document_postgresql_cannot_store_is_a_400_and_nothing_is_stored(
    api, engineer, collection, document, code
):
    # ASCII JSON: a "\ud800" escape is valid JSON; 1e400 parses as infinity.
    body = json.dumps(document).replace("Infinity", "1e400")
    response = api(engineer).post(_url(collection), body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert code in json.dumps(response.json()["error"])
    assert _nothing_stored(0, 0)


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"caf\xe9 au lait \xff\xfe"])
def test_a_binary_file_named_txt_is_refused(api, engineer, collection, data):
    response = _upload(api(engineer), collection, _file("photo.txt", data))
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "binary_content"
    assert _nothing_stored(0, 0)


def test_a_pdf_without_a_text_layer_is_refused(api, engineer, collection):
    response = _upload(api(engineer), collection, _file("scan.pdf", pdf_without_text_layer()))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_text_layer"
    assert _nothing_stored(0, 0)


def test_a_file_named_pdf_that_is_not_one_is_refused(api, engineer, collection):
    response = _upload(api(engineer), collection, _file("fake.pdf", b"just text"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_pdf"


def test_a_document_over_the_size_limit_is_refused_with_413(api, engineer, collection, settings):
    settings.RETRIEVAL_MAX_DOCUMENT_BYTES = 1000
    response = _upload(api(engineer), collection, _file("big.txt", b"word " * 400))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "document_too_large"
    assert _nothing_stored(0, 0)


def test_an_upload_over_the_request_limit_is_refused_before_it_is_read(api, engineer, collection, settings):
    settings.RETRIEVAL_MAX_JSON_BYTES = 1000
    response = api(engineer).post(
        _url(collection), {"external_id": "x", "text": "word " * 40_000}, format="json"
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload_too_large"


@pytest.mark.parametrize("name", ["report.docx", "tool.exe", "data.csv"])
def test_an_unsupported_type_is_refused_with_415(api, engineer, collection, name):
    response = _upload(api(engineer), collection, _file(name, b"PK\x03\x04 some bytes"))
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_type"
    assert _nothing_stored(0, 0)


def test_a_jsonl_batch_with_one_bad_line_is_refused_whole_naming_the_line(api, engineer, collection):
    lines = [
        json.dumps({"external_id": "ok-1", "text": "Fine."}),
        json.dumps({"external_id": "bad", "text": ""}),
        json.dumps({"external_id": "ok-2", "text": "Also fine."}),
    ]
    response = _upload(api(engineer), collection, _file("batch.jsonl", "\n".join(lines).encode()))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "empty_document"
    assert error["details"]["errors"][0]["line"] == 2
    assert "line 2" in error["message"]
    assert _nothing_stored(0, 0)


def test_a_jsonl_line_that_is_not_json_is_named(api, engineer, collection):
    data = b'{"external_id": "a", "text": "Fine."}\n{not json\n'
    response = _upload(api(engineer), collection, _file("batch.jsonl", data))
    assert response.status_code == 400
    assert response.json()["error"]["details"]["errors"][0] == {
        "line": 2,
        "field": "",
        "code": "invalid_json",
        "message": "the line is not valid UTF-8 JSON",
    }


def test_a_batch_repeating_an_external_id_is_refused(api, engineer, collection):
    body = [{"external_id": "a", "text": "One."}, {"external_id": "a", "text": "Two."}]
    response = api(engineer).post(_url(collection), body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "duplicate_external_id"
    assert _nothing_stored(0, 0)


def test_an_unknown_field_in_a_json_document_is_refused(api, engineer, collection):
    body = {"external_id": "a", "text": "One.", "colour": "red"}
    response = api(engineer).post(_url(collection), body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_field"


def test_an_upload_to_a_collection_that_does_not_exist_is_404(api, engineer):
    response = api(engineer).post(
        "/api/v1/collections/999999/documents/", {"external_id": "a", "text": "x"}, format="json"
    )
    assert response.status_code == 404


def test_a_plain_text_body_is_refused_with_415(api, engineer, collection):
    response = api(engineer).generic(
        "POST", _url(collection), io.BytesIO(b"hello").read(), content_type="text/plain"
    )
    assert response.status_code == 415


def test_a_multipart_upload_over_the_request_limit_is_refused_before_it_is_read(
    api, engineer, collection, settings
):
    settings.RETRIEVAL_MAX_UPLOAD_BYTES = 1000
    response = _upload(api(engineer), collection, _file("big.txt", b"word " * 40_000))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload_too_large"
    assert _nothing_stored(0, 0)
