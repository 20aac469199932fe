"""Dataset scans under the claim primitive: duplicates stand down, dead owners are resumed, N attempts."""

from __future__ import annotations

import os
import signal
import socket
from typing import Any

import pytest
from django.utils import timezone

from governance import tasks
from governance.choices import DatasetVersionStatus
from governance.models import AuditEvent, DatasetRecord, DatasetVersion
from governance.services import scanning
from tests.conftest import dead_pid, wait_for
from tests.factories import DatasetFactory
from tests.training.helpers import ticket_records, upload_version


class WorkerDied(BaseException):
    """Stands in for SIGKILL in-process: nothing in the scan catches it, so nothing is finished."""


@pytest.fixture(autouse=True)
def _regex_scans(settings: Any) -> None:
    settings.PII_ENGINE = "regex"
    settings.DATASET_SCAN_BATCH = 2


def _version(engineer: Any, count: int = 5) -> DatasetVersion:
    return upload_version(
        DatasetFactory(owner=engineer), ticket_records(count, email=True), actor=engineer, scan=False
    )


def _owner_died(version: DatasetVersion) -> None:
    """What the row looks like after its worker was killed: held by a process that no longer exists."""
    DatasetVersion.objects.filter(pk=version.pk).update(worker_pid=dead_pid())


def _run_until_killed(
    version: DatasetVersion, monkeypatch: pytest.MonkeyPatch, target: str, after: int
) -> None:
    calls = {"n": 0}
    real = getattr(scanning, target)

    def dies(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > after:
            raise WorkerDied
        return real(*args, **kwargs)

    monkeypatch.setattr(scanning, target, dies)
    with pytest.raises(WorkerDied):
        tasks.scan_dataset_version(version.pk)
    monkeypatch.setattr(scanning, target, real)
    _owner_died(version)


@pytest.mark.django_db
def test_a_duplicate_scan_delivery_while_the_first_is_alive_stands_down(engineer, live_pid):
    version = _version(engineer)
    DatasetVersion.objects.filter(pk=version.pk).update(
        status=DatasetVersionStatus.SCANNING,
        attempts=1,
        worker_host=socket.gethostname(),
        worker_pid=live_pid,
        heartbeat_at=timezone.now(),
    )
    tasks.scan_dataset_version(version.pk)
    version.refresh_from_db()
    assert (version.status, version.scanned_records, version.attempts) == ("scanning", 0, 1)


@pytest.mark.django_db
def test_a_scan_delivery_after_its_owner_died_resumes_where_it_stopped(engineer, monkeypatch):
    version = _version(engineer)
    _run_until_killed(version, monkeypatch, "_store_batch", after=1)
    assert DatasetVersion.objects.get(pk=version.pk).scanned_records == 2
    tasks.scan_dataset_version(version.pk)
    version.refresh_from_db()
    assert (version.status, version.attempts, version.scanned_records) == ("ready", 2, 5)
    assert version.pii_summary == {"EMAIL_ADDRESS": 5}
    assert DatasetRecord.objects.filter(version=version).exclude(subject_keys=[]).count() == 5


@pytest.mark.django_db
def test_a_scan_killed_after_its_last_batch_ends_ready_with_correct_totals(engineer, monkeypatch):
    version = _version(engineer)
    _run_until_killed(version, monkeypatch, "_finish_ready", after=0)
    stored = DatasetVersion.objects.get(pk=version.pk)
    assert (stored.status, stored.scanned_records) == ("scanning", 5)
    tasks.scan_dataset_version(version.pk)
    version.refresh_from_db()
    assert (version.status, version.attempts, version.scan_error) == ("ready", 2, "")
    assert version.pii_summary == {"EMAIL_ADDRESS": 5}
    assert version.contains_personal_data is True
    assert AuditEvent.objects.filter(action="dataset_version.scanned", object_id=str(version.pk)).count() == 1


@pytest.mark.django_db
def test_a_scan_that_kills_its_worker_every_time_fails_after_the_attempts_cap(
    engineer, monkeypatch, settings
):
    settings.CLAIM_MAX_ATTEMPTS = 3
    version = _version(engineer)
    for _ in range(3):
        _run_until_killed(version, monkeypatch, "_store_batch", after=0)
    tasks.scan_dataset_version(version.pk)
    version.refresh_from_db()
    assert (version.status, version.attempts) == ("failed", 3)
    assert version.scan_error.startswith(
        "scan failed: worker_lost (the worker stopped during each of 3 attempts"
    )
    assert AuditEvent.objects.filter(action="dataset_version.scan_failed", object_id=str(version.pk)).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.slow
def test_a_scan_whose_worker_is_killed_mid_scan_is_resumed_by_the_redelivery_and_ends_ready(
    engineer, celery_worker
):
    # The worker scans with its own engine and batch size (500): 10,000 records take many batches, and
    # the kill lands as soon as the worker holds the row.
    version = upload_version(
        DatasetFactory(owner=engineer), ticket_records(10_000, email=True), actor=engineer, scan=False
    )
    held = wait_for(
        lambda: (
            DatasetVersion.objects.filter(pk=version.pk, status="scanning").exclude(worker_pid=None).first()
        ),
        timeout=180,
        interval=0.02,
    )
    os.kill(held.worker_pid, signal.SIGKILL)
    version = wait_for(
        lambda: DatasetVersion.objects.filter(pk=version.pk, status__in=["ready", "failed"]).first(),
        timeout=300,
    )
    assert (version.status, version.attempts, version.scanned_records) == ("ready", 2, 10_000), (
        version.scan_error
    )
    assert version.pii_summary["EMAIL_ADDRESS"] == 10_000
