"""Issue 13's retention end to end through the real worker: the beat's sweep task rewrites a dataset past
its retention date (a new version without its personal records), taints the adapter trained on them,
deletes its files and blocks its deployment, leaves a held dataset alone, and removes a collection's
expired documents; the audit trail and the report say what went, when and under which rule, and hold
no record's content."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from governance.enqueue import send_now
from governance.models import AuditEvent, Dataset, DatasetRecord, Deployment, RetentionRun
from governance.services import deployments, retention, systems
from governance.services.audit import audit_verify_chain
from governance.services.datasets import dataset_version_path
from retrieval.models import Document
from retrieval.services import collections
from tests.conftest import wait_for
from tests.retrieval.conftest import doc, ingest_now
from tests.training.helpers import ticket_records, upload_version
from training.models import AdapterVersion

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.slow]

EMAIL = "Marta.Lis@example.org"


def personal_records() -> list[dict[str, str]]:
    return [{"input": f"Ticket p{n}: refund for {EMAIL}. Category?", "output": "billing"} for n in range(6)]


@pytest.fixture
def version(make_version: Any, approved_dpia: Any) -> Any:
    """The adapter's training set: 40 anonymous tickets and six carrying a client's e-mail."""
    made = make_version(ticket_records(40) + personal_records(), retention_until=date(2030, 1, 1))
    approved_dpia(made.dataset)
    return made


def _past(dataset: Dataset) -> None:
    # The date passes (the service refuses a past date; time does not ask it).
    Dataset.objects.filter(pk=dataset.pk).update(retention_until=timezone.localdate() - timedelta(days=1))


def test_the_sweep_rewrites_a_dataset_past_retention_taints_its_adapter_and_spares_a_held_one(
    api: Any,
    engineer: Any,
    officer: Any,
    auditor: Any,
    ai_system: Any,
    version: Any,
    adapter: Any,
    celery_worker: Any,
) -> None:
    adapter_files = Path(adapter.path)
    assert adapter_files.exists()
    # The adapter runs in an approved deployment.
    systems.ai_system_set_risk_class(actor=officer, system=ai_system, risk_class="minimal")
    AdapterVersion.objects.filter(pk=adapter.pk).update(status="approved", override_justification="Checked.")
    deployment = deployments.deployment_request(
        actor=engineer,
        ai_system=ai_system,
        base_model=adapter.base_model,
        adapter_version=adapter,
        environment="staging",
    )
    deployment = deployments.deployment_approve(
        actor=officer, deployment=Deployment.objects.get(pk=deployment.pk)
    )
    assert deployment.status == "approved"
    held_dataset = Dataset.objects.create(
        name="Claims archive", purpose="training", owner=engineer, retention_until=date(2030, 1, 1)
    )
    held_version = upload_version(held_dataset, ticket_records(20, email=True), actor=engineer)
    hold = retention.legal_hold_create(actor=officer, dataset=held_dataset, reason="Litigation 2026/31")
    kb = collections.collection_create(
        actor=engineer,
        ai_system=ai_system,
        name="Support KB",
        chunk_size=64,
        chunk_overlap=8,
        document_retention_days=30,
    )
    old_doc, new_doc = ingest_now(
        engineer,
        kb,
        [doc("old", f"Call {EMAIL} about the refund."), doc("new", "Parcels arrive in two days.")],
    )
    Document.objects.filter(pk=old_doc.pk).update(created_at=timezone.now() - timedelta(days=45))
    _past(version.dataset)
    _past(held_dataset)
    before = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first()

    send_now("governance.tasks.retention_sweep")  # what the beat sends every RETENTION_SWEEP_S
    wait_for(
        lambda: (
            RetentionRun.objects.filter(outcome="enforced", purged_at__isnull=False).count() == 2
            and RetentionRun.objects.filter(outcome="held").exists()
        ),
        timeout=300,
    )

    # The dataset: a child version holds exactly the anonymous records, in their splits.
    version.refresh_from_db()
    assert version.status == "erased" and not dataset_version_path(version).exists()
    child = version.dataset.versions.exclude(status="erased").get()
    assert child.parent_id == version.pk and child.record_count == 40
    assert not DatasetRecord.objects.filter(version=child, subject_keys__len__gt=0).exists()
    # The adapter trained on the personal records is tainted and its files are gone.
    adapter.refresh_from_db()
    assert adapter.status == "tainted" and adapter.files_deleted_at is not None
    assert not adapter_files.exists()
    # What ran on it is blocked.
    deployment.refresh_from_db()
    assert (deployment.status, deployment.blocked_from) == ("blocked", "approved")
    assert [r["code"] for r in deployment.blocked_reasons] == ["adapter_tainted"]
    run = RetentionRun.objects.get(outcome="enforced", target_type="dataset")
    assert (run.rule, run.target_id, run.due_on) == (
        "dataset_retention_until",
        version.dataset_id,
        timezone.localdate(),
    )
    assert run.counts["records_removed"] == 6 and run.counts["adapters_tainted"] == 1
    assert run.ids["adapters_tainted"] == [adapter.pk] and run.ids["versions_created"] == [child.pk]
    assert run.ids["deployments_blocked"] == [deployment.pk] and run.counts["deployments_blocked"] == 1
    # The held dataset is untouched, and the hold is on record.
    assert held_dataset.versions.exclude(status="erased").get().pk == held_version.pk
    held = RetentionRun.objects.get(outcome="held")
    assert (held.target_id, held.hold_id) == (held_dataset.pk, hold.pk)
    # The collection's expired document and its chunks are gone; the young one stays.
    assert list(Document.objects.filter(collection=kb).values_list("pk", flat=True)) == [new_doc.pk]
    documents_run = RetentionRun.objects.get(outcome="enforced", target_type="collection")
    assert documents_run.ids == {"documents": [old_doc.pk]}

    # The audit trail: the rewrite, the taint and each removal, none with a record's content.
    events = list(AuditEvent.objects.filter(sequence__gt=before).order_by("sequence"))
    actions = [e.action for e in events]
    for action in ("dataset_version.created", "dataset_version.erased", "adapter_version.tainted"):
        assert action in actions, action
    assert actions.count("retention.enforced") == 2 and actions.count("retention.held") == 1
    assert EMAIL.lower() not in json.dumps([e.payload for e in events]).lower()
    assert audit_verify_chain().ok is True
    report = api(auditor).get("/api/v1/retention/report/", {"output": "json"}).json()
    assert sorted((r["outcome"], r["target_type"]) for r in report) == [
        ("enforced", "collection"),
        ("enforced", "dataset"),
        ("held", "dataset"),
    ]
