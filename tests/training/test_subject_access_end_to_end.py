"""Issue 13's end-to-end test of access and portability: through the real worker, exactly the subject's items.

A subject sits in two collections (a document each, and a query naming them), in a dataset version
(six records), and in the training set of one adapter. A namesake's document carries only the
subject's name. An officer receives an access request over the API, excludes the namesake, executes;
the worker builds the package. The package holds the subject's documents, chunks, query log, records
and the adapter's lineage, and nothing of the namesake or of anyone else. A second request that
confirms the namesake's document holds it too. A portability request leaves the adapter out. Nothing
raw crosses the broker or reaches the worker's log.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import pyzipper
from pypdf import PdfReader

from governance import pii
from governance.models import AuditEvent, ErasureRequest
from governance.services.audit import audit_verify_chain
from retrieval.models import Chunk, Document
from retrieval.services import collections
from tests.conftest import wait_for
from tests.training.helpers import ticket_records

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.slow]

EMAIL = "Zofia.Wrobel@example.org"
PESEL = "44051401359"
NAME = "Zofia Wrobel"
URL = "/api/v1/subject-requests/"


def subject_records() -> list[dict[str, str]]:
    return [
        {"input": f"Ticket s{n}: refund for {EMAIL}, PESEL {PESEL}. Category?", "output": "billing"}
        for n in range(6)
    ]


@pytest.fixture
def version(make_version: Any, approved_dpia: Any) -> Any:
    made = make_version(ticket_records(40) + subject_records())
    approved_dpia(made.dataset)
    return made


def request_package(
    api: Any, officer: Any, reference: str, kind: str, decide: str
) -> tuple[str, dict[str, Any]]:
    """Receive, decide the name-only match, execute, wait for the worker; the opened package."""
    client = api(officer)
    created = client.post(
        URL,
        {
            "kind": kind,
            "reference": reference,
            "identifiers": [
                {"type": "email", "value": EMAIL},
                {"type": "pesel", "value": PESEL},
                {"type": "person", "value": NAME},
            ],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    request_id = created.json()["id"]
    blocked = client.post(f"{URL}{request_id}/execute/", {}, format="json")
    assert blocked.status_code == 409 and blocked.json()["error"]["code"] == "unresolved_name_matches"
    matches = client.get(f"{URL}{request_id}/matches/").json()
    assert [(m["kind"], m["store"]) for m in matches] == [("document", "retrieval")]
    decided = client.post(f"{URL}{request_id}/decide/", {decide: [matches[0]["id"]]}, format="json")
    assert decided.status_code == 200, decided.content
    assert client.post(f"{URL}{request_id}/execute/", {}, format="json").status_code == 200
    done = wait_for(
        lambda: (r := ErasureRequest.objects.get(pk=request_id)).status in ("completed", "failed") and r,
        timeout=240,
    )
    assert done.status == "completed", done.error
    password = client.post(f"{URL}{request_id}/package/password/", {}, format="json").json()["password"]
    response = client.get(f"{URL}{request_id}/package/")
    assert response.status_code == 200, response.content
    with pyzipper.AESZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        archive.setpassword(password.encode())
        letter = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(archive.read("letter.pdf"))).pages)
        data = json.loads(archive.read("data.json"))
    return letter, data


def ids(data: dict[str, Any], store: str, kind: str) -> set[int]:
    return {int(item["id"]) for item in data["stores"].get(store, []) if item["kind"] == kind}


def test_an_access_request_returns_exactly_the_subjects_items_through_the_worker(
    api: Any,
    officer: Any,
    engineer: Any,
    ai_system: Any,
    version: Any,
    adapter: Any,
    celery_worker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    client = api(engineer)
    subject_documents: list[int] = []
    namesake_document = 0
    for name in ("Support KB", "Claims KB"):
        collection = collections.collection_create(
            actor=engineer, ai_system=ai_system, name=name, chunk_size=64, chunk_overlap=8
        )
        body = [
            {"external_id": "case-1", "text": f"Refund case. The customer {EMAIL} (PESEL {PESEL}) called."},
            {"external_id": "other", "text": "Parcels are shipped by courier and arrive within two days."},
            {"external_id": "namesake", "text": "A customer asked about opening hours of the Gdansk office."},
        ]
        response = client.post(f"/api/v1/collections/{collection.pk}/documents/", body, format="json")
        assert response.status_code == 202, response.content
        made = {d["external_id"]: d["id"] for d in response.json()["documents"]}
        subject_documents.append(made["case-1"])
        if name == "Claims KB":
            namesake_document = made["namesake"]
    wait_for(lambda: Document.objects.filter(status="indexed").count() == 6, timeout=240)
    # The namesake's document carries the subject's name and nothing else of theirs.
    name_key = pii.subject_key("person", NAME)
    Document.objects.filter(pk=namesake_document).update(subject_keys=[name_key])
    Chunk.objects.filter(document_id=namesake_document).update(subject_keys=[name_key])
    asked = client.post(
        f"/api/v1/collections/{collection.pk}/query/", {"query": f"refund for {EMAIL}"}, format="json"
    )
    assert asked.status_code == 200, asked.content
    subject_chunks = set(Chunk.objects.filter(document_id__in=subject_documents).values_list("pk", flat=True))
    subject_records_stored = version.records.exclude(subject_keys=[]).count()
    assert subject_records_stored == 6

    letter, data = request_package(api, officer, "SAR-2026-007", "access", "exclude")

    assert ids(data, "retrieval", "document") == set(subject_documents)
    assert ids(data, "retrieval", "chunk") == subject_chunks
    assert len(ids(data, "retrieval", "query_log")) == 1
    records = [item for item in data["stores"]["datasets"] if item["kind"] == "dataset_record"]
    assert len(records) == 6
    assert all(EMAIL in json.dumps(item, ensure_ascii=False) for item in records)
    assert {item["dataset"] for item in records} == {version.dataset.name}
    adapters = [item for item in data["stores"]["training"] if item["kind"] == "adapter"]
    assert [item["id"] for item in adapters] == [adapter.pk]
    texts = [item["text"] for item in data["stores"]["retrieval"] if item["kind"] == "document"]
    assert all(EMAIL in text for text in texts) and not any("Gdansk" in text for text in texts)
    registers = {(c["register"], c["name"]) for c in data["processing"]}
    assert ("dataset", version.dataset.name) in registers
    assert {("collection", "Support KB"), ("collection", "Claims KB")} <= registers
    assert "SAR-2026-007" in letter and "Article 15" in letter and "Support KB" in letter

    # Confirmed, the namesake's document is the subject's and is in the package.
    _, confirmed = request_package(api, officer, "SAR-2026-008", "access", "confirm")
    assert ids(confirmed, "retrieval", "document") == {*subject_documents, namesake_document}

    # Portability: what the subject provided or was observed about them; the adapter is derived.
    _, portable = request_package(api, officer, "SAR-2026-009", "portability", "exclude")
    assert ids(portable, "retrieval", "document") == set(subject_documents)
    assert portable["stores"].get("training", []) == []
    assert len([i for i in portable["stores"]["datasets"] if i["kind"] == "dataset_record"]) == 6

    # The audit chain has each package's hash and nothing raw; the worker's log has nothing raw either.
    events = AuditEvent.objects.filter(action="subject_request.package_created")
    assert events.count() == 3 and all(len(e.payload["sha256"]) == 64 for e in events)
    payloads = json.dumps(list(AuditEvent.objects.values_list("payload", flat=True)))
    assert EMAIL not in payloads and PESEL not in payloads
    worker_log = (tmp_path_factory.getbasetemp() / "celery-worker.log").read_text(errors="replace")
    assert EMAIL not in worker_log and PESEL not in worker_log
    assert audit_verify_chain().ok
