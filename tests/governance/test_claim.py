"""The claim primitive itself (governance/claim.py), on dataset versions as the claimed rows."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from governance import claim
from governance.choices import DatasetVersionStatus
from governance.models import DatasetVersion
from tests.conftest import dead_pid
from tests.factories import DatasetFactory
from tests.training.helpers import ticket_records, upload_version

pytestmark = pytest.mark.django_db

CLAIMABLE = [DatasetVersionStatus.PENDING, DatasetVersionStatus.SCANNING]


@pytest.fixture
def version(engineer: Any) -> DatasetVersion:
    return upload_version(DatasetFactory(owner=engineer), ticket_records(4), actor=engineer, scan=False)


def hold(
    version: DatasetVersion, *, pid: int, host: str | None = None, age_s: float = 0, attempts: int = 1
) -> None:
    DatasetVersion.objects.filter(pk=version.pk).update(
        status=DatasetVersionStatus.SCANNING,
        worker_host=host or socket.gethostname(),
        worker_pid=pid,
        heartbeat_at=timezone.now() - timedelta(seconds=age_s),
        attempts=attempts,
    )


def take(version: DatasetVersion, exhausted: list[tuple[int, int]] | None = None, **options: Any) -> Any:
    return claim.claim_row(
        DatasetVersion,
        version.pk,
        claimable_statuses=CLAIMABLE,
        running_status=DatasetVersionStatus.SCANNING,
        on_exhausted=lambda pk, attempts: (exhausted if exhausted is not None else []).append((pk, attempts)),
        **options,
    )


def test_a_pending_row_is_claimed_for_this_process_as_its_first_attempt(version):
    taken = take(version)
    row = DatasetVersion.objects.get(pk=version.pk)
    assert (taken.attempt, taken.resumed) == (1, False)
    assert (row.status, row.attempts, row.worker_host) == ("scanning", 1, socket.gethostname())
    assert claim.is_mine(row)


def test_a_duplicate_delivery_while_the_owner_is_alive_stands_down(version, live_pid):
    hold(version, pid=live_pid)
    assert take(version) is None
    row = DatasetVersion.objects.get(pk=version.pk)
    assert (row.worker_pid, row.attempts) == (live_pid, 1)


def test_an_owner_on_another_host_with_a_fresh_heartbeat_is_left_alone(version):
    hold(version, pid=4242, host="gpu-host-2")
    assert take(version) is None


def test_a_delivery_after_the_owner_died_takes_over_as_the_next_attempt(version):
    hold(version, pid=dead_pid())
    taken = take(version)
    assert (taken.attempt, taken.resumed) == (2, True)
    assert claim.is_mine(DatasetVersion.objects.get(pk=version.pk))


def test_an_owner_whose_heartbeat_is_stale_is_taken_over_even_on_another_host(version):
    hold(version, pid=4242, host="gpu-host-2", age_s=301)
    assert take(version, stale_after=timedelta(seconds=300)).attempt == 2


def test_a_row_out_of_attempts_goes_to_on_exhausted_instead_of_a_worker(version):
    hold(version, pid=dead_pid(), attempts=3)
    exhausted: list[tuple[int, int]] = []
    assert take(version, exhausted, max_attempts=3) is None
    assert exhausted == [(version.pk, 3)]
    assert DatasetVersion.objects.get(pk=version.pk).attempts == 3


def test_a_finished_row_is_not_claimed_again(version):
    DatasetVersion.objects.filter(pk=version.pk).update(status=DatasetVersionStatus.READY)
    assert take(version) is None


def test_of_two_deliveries_racing_for_a_pending_row_only_one_wins(version, monkeypatch):
    real_me = claim.me

    def rival_claims_first() -> tuple[str, int]:
        # Between our read and our UPDATE, another worker claims the row (its UPDATE bumps attempts).
        DatasetVersion.objects.filter(pk=version.pk).update(
            status=DatasetVersionStatus.SCANNING, attempts=1, worker_host="other-host", worker_pid=7
        )
        return real_me()

    monkeypatch.setattr(claim, "me", rival_claims_first)
    assert take(version) is None
    assert DatasetVersion.objects.get(pk=version.pk).worker_host == "other-host"


def test_a_heartbeat_from_an_owner_that_was_taken_over_writes_nothing(version):
    take(version)
    DatasetVersion.objects.filter(pk=version.pk).update(worker_pid=dead_pid())  # someone else owns it now
    assert claim.heartbeat(DatasetVersion, [version.pk], scanned_records=2) == 0
    assert DatasetVersion.objects.get(pk=version.pk).scanned_records == 0


def _kind(sent: list[list[int]]) -> claim.ClaimKind:
    return claim.ClaimKind(
        name="test_scan",
        model=DatasetVersion,
        claimable_statuses=CLAIMABLE,
        resend=sent.append,
        stale_after=lambda: timedelta(seconds=300),
    )


def test_the_sweep_resends_a_row_whose_owner_stopped_heartbeating_once(version, engineer):
    fresh = upload_version(version.dataset, ticket_records(5, seed=2), actor=engineer, scan=False)
    hold(version, pid=dead_pid(), age_s=301)
    hold(fresh, pid=dead_pid(), age_s=10)
    sent: list[list[int]] = []
    assert claim.requeue_stale(_kind(sent)) == [version.pk]
    assert sent == [[version.pk]]
    # The dead owner is cleared, so the delivery takes over at once; the next sweep waits again.
    assert DatasetVersion.objects.get(pk=version.pk).worker_pid is None
    assert claim.requeue_stale(_kind(sent)) == []
    assert take(version).attempt == 2


def test_the_sweep_leaves_pending_rows_that_no_worker_took(version):
    sent: list[list[int]] = []
    assert claim.requeue_stale(_kind(sent)) == []
    assert sent == []
