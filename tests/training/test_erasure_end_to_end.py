"""Issue 8's end-to-end test: one request reaches every store through the real worker and leaves nothing.

A subject sits in two collections (and a query log), in two dataset versions, and in the training set
of one adapter. An officer executes the request over the API; the worker runs the logical phase, the
beat task sends the purge, the worker purges and verifies. Afterwards a dump of the whole database, the
media tree, every message that crossed the broker and the logs hold none of the raw identifiers; the
adapter is tainted and its files are gone; the certificate's counts match; the audit chain verifies;
and a new document about the subject is refused.
"""

from __future__ import annotations

import io
import os
import subprocess
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone
from pypdf import PdfReader

from governance.enqueue import send_now
from governance.models import DatasetVersion, ErasureRequest
from governance.services.audit import audit_verify_chain
from retrieval.models import Document, QueryLog
from retrieval.services import collections
from tests.conftest import wait_for
from tests.training.helpers import ticket_records, upload_version

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.slow]

EMAIL = "Zofia.Wrobel@example.org"
PESEL = "44051401359"
PHONE = "+48 701 234 567"
RAW = (EMAIL, EMAIL.lower(), PESEL, PHONE, "701234567", "701 234 567")


def subject_records() -> list[dict[str, str]]:
    return [
        {
            "input": f"Ticket s{n}: refund for {EMAIL}, PESEL {PESEL}, call {PHONE}. Category?",
            "output": "billing",
        }
        for n in range(6)
    ]


@pytest.fixture
def version(make_version: Any, approved_dpia: Any) -> Any:
    """The training set of the adapter: 40 tickets and six of the subject's, covered by a DPIA."""
    made = make_version(ticket_records(40) + subject_records())
    approved_dpia(made.dataset)
    return made


class BrokerTap:
    """Every command sent to the broker while it runs (Redis MONITOR): what the messages carried."""

    def __init__(self) -> None:
        url = urlparse(settings.REDIS_URL)
        self.client = (
            redis.Redis(unix_socket_path=url.path)
            if url.path.endswith(".sock")
            else (redis.Redis.from_url(settings.REDIS_URL))
        )
        self.commands: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)

    def _listen(self) -> None:
        with self.client.monitor() as monitor:
            for command in monitor.listen():
                self.commands.append(str(command.get("command", "")))
                if self.stopped.is_set():
                    return

    def __enter__(self) -> BrokerTap:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopped.set()
        self.client.ping()  # one more command wakes the listener so it can see the flag
        self.thread.join(timeout=10)


def database_dump() -> str:
    """pg_dump of the test database, schema and data, as text."""
    import pgserver

    binary = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
    db = settings.DATABASES["default"]
    command = [str(binary), "--dbname", db["NAME"], "--username", db["USER"], "--host", db["HOST"]]
    if db["PORT"]:
        command += ["--port", str(db["PORT"])]
    env = {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}
    done = subprocess.run(command, capture_output=True, env=env, check=True)  # noqa: S603 - fixed binary
    return done.stdout.decode("utf-8", "replace")


def planner_statistics() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(string_agg(s::text, ' '), '') FROM pg_stats s WHERE schemaname = 'public'"
        )
        return str(cursor.fetchone()[0])


def media_bytes() -> bytes:
    return b"".join(p.read_bytes() for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def leaks(text: str) -> list[str]:
    lowered = text.lower()
    return [raw for raw in RAW if raw.lower() in lowered]


def test_one_request_reaches_every_store_and_leaves_nothing_behind(
    api: Any,
    officer: Any,
    engineer: Any,
    auditor: Any,
    ai_system: Any,
    version: Any,
    adapter: Any,
    celery_worker: Any,
    caplog: pytest.LogCaptureFixture,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # A second version of the same dataset holds the subject too.
    second = upload_version(version.dataset, ticket_records(30, seed=5) + subject_records(), actor=engineer)
    adapter_files = Path(adapter.path)
    assert adapter_files.exists()
    # Two collections hold a document about the subject; a query names the subject too.
    client = api(engineer)
    document_ids = []
    for name in ("Support KB", "Claims KB"):
        collection = collections.collection_create(
            actor=engineer, ai_system=ai_system, name=name, chunk_size=64, chunk_overlap=8
        )
        body = [
            {"external_id": "case-1", "text": f"Refund case. The customer {EMAIL} (PESEL {PESEL}) called."},
            {"external_id": "other", "text": "Parcels are shipped by courier and arrive within two days."},
        ]
        response = client.post(f"/api/v1/collections/{collection.pk}/documents/", body, format="json")
        assert response.status_code == 202, response.content
        document_ids += [d["id"] for d in response.json()["documents"]]
    wait_for(lambda: Document.objects.filter(pk__in=document_ids, status="indexed").count() == 4, timeout=240)
    asked = client.post(
        f"/api/v1/collections/{collection.pk}/query/", {"query": f"refund for {EMAIL}"}, format="json"
    )
    assert asked.status_code == 200, asked.content

    with BrokerTap() as tap:
        created = api(officer).post(
            "/api/v1/erasure-requests/",
            {
                "reference": "DSR-2026-042",
                "identifiers": [
                    {"type": "email", "value": EMAIL},
                    {"type": "pesel", "value": PESEL},
                    {"type": "phone", "value": PHONE},
                ],
            },
            format="json",
        )
        assert created.status_code == 201, created.content
        request_id = created.json()["id"]
        assert created.json()["preview"]["retrieval"]["documents"] == 2
        executed = api(officer).post(f"/api/v1/erasure-requests/{request_id}/execute/", {}, format="json")
        assert executed.status_code == 200, executed.content

        wait_for(
            lambda: ErasureRequest.objects.get(pk=request_id).status in ("erased", "failed"), timeout=240
        )
        # The beat task sends the purge of what is due; bring the due time forward instead of waiting.
        ErasureRequest.objects.filter(pk=request_id).update(purge_due_at=timezone.now())
        send_now("governance.tasks.erasure_purge_due")
        done = wait_for(
            lambda: (r := ErasureRequest.objects.get(pk=request_id)).status in ("completed", "failed") and r,
            timeout=300,
        )
    assert done.status == "completed", (done.error, done.verification)

    # Every store did its part, and the certificate says so.
    counts = {store: result["counts"] for store, result in done.results.items()}
    assert counts["retrieval"]["documents"] == 2
    assert counts["retrieval"]["chunks"] >= 2
    assert counts["retrieval"]["query_logs"] == 1
    assert counts["datasets"]["dataset_versions_replaced"] == 2
    assert counts["datasets"]["records_removed"] == 12
    assert counts["training"]["adapters_tainted"] == 1
    certified = {
        s["name"]: {c["name"]: c["value"] for c in s["counts"]} for s in done.certificate_facts["stores"]
    }
    for store, store_counts in counts.items():
        for name, value in store_counts.items():
            assert certified[store][name] == value, (store, name)
    assert done.certificate_facts["verification"]["ok"] is True
    pdf = api(auditor).get(f"/api/v1/erasure-requests/{request_id}/certificate/")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(b"".join(pdf.streaming_content))).pages)
    assert "DSR-2026-042" in text

    adapter.refresh_from_db()
    assert adapter.status == "tainted" and "DSR-2026-042" in adapter.taint_reason
    assert not adapter_files.exists()
    for old in (version, second):
        old.refresh_from_db()
        assert old.status == "erased"
    assert DatasetVersion.objects.filter(reason="erasure request DSR-2026-042", status="ready").count() == 2
    assert QueryLog.objects.filter(query_masked__startswith="[erased").count() == 1
    assert audit_verify_chain().ok

    # Nothing raw anywhere: the database (and its planner statistics), the media tree, the broker, the logs.
    assert leaks(database_dump()) == []
    assert leaks(planner_statistics()) == []
    assert leaks(media_bytes().decode("utf-8", "replace")) == []
    assert tap.commands and leaks("\n".join(tap.commands)) == []
    worker_log = (tmp_path_factory.getbasetemp() / "celery-worker.log").read_text(errors="replace")
    assert leaks(worker_log) == []
    assert leaks(caplog.text) == []

    # The subject is suppressed: a new document about them is refused.
    again = client.post(
        f"/api/v1/collections/{collection.pk}/documents/",
        [{"external_id": "new", "text": f"New ticket from {EMAIL}."}],
        format="json",
    )
    new_id = again.json()["documents"][0]["id"]
    refused = wait_for(
        lambda: (d := Document.objects.get(pk=new_id)).status in ("rejected", "failed", "indexed") and d,
        timeout=120,
    )
    assert refused.status == "rejected" and refused.error_code == "suppressed_subject"
