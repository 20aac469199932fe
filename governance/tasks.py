"""Celery tasks of governance: thin wrappers that claim a row and call one service."""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import shared_task
from django.conf import settings

from governance import claim
from governance.choices import DatasetVersionStatus, ErasureStatus
from governance.enqueue import send_now
from governance.models import DatasetVersion, ErasureRequest
from governance.services import deployments, dpia, erasure, scanning, subject_access

logger = logging.getLogger(__name__)

SCAN_TASK = "governance.tasks.scan_dataset_version"


@shared_task(queue="default", acks_late=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def scan_dataset_version(version_id: int) -> None:
    """Scan a version for PII; a redelivery stands down beside a live owner or resumes a dead one's."""
    if not scanning.dataset_version_claim_scan(version_id=version_id):
        logger.info("dataset version %s is finished or held by a live worker: standing down", version_id)
        return
    scanning.dataset_version_scan(version_id=version_id)


@shared_task(queue="default", time_limit=300)
def expire_dpias() -> int:
    """Move approved DPIAs past their review date to expired, then block what they no longer cover."""
    expired = dpia.dpia_expire_due()
    if expired:
        deployments.deployments_recheck(trigger="DPIA expiry")
    return expired


@shared_task(queue="default", time_limit=600, soft_time_limit=540)
def deployments_recheck() -> list[int]:
    """Run the gates of approved and active deployments again; block those that fail (the ids)."""
    return deployments.deployments_recheck(trigger="scheduled recheck")


@shared_task(queue="default", time_limit=300, soft_time_limit=240)
def requeue_stale_claims() -> dict[str, int]:
    """Re-send rows whose owner stopped heartbeating (a whole worker killed), minutes after, not hours."""
    return claim.requeue_all_stale()


@shared_task(queue="default", time_limit=3 * 3600, soft_time_limit=3 * 3600 - 60)
def retention_sweep() -> dict[str, list[int]]:
    """Beat: notify officers of data falling due, remove what is past its retention (GDPR Art. 5(1)(e))."""
    from governance.services import retention

    return retention.retention_sweep().as_dict()


# A store not ready yet (a dataset version still being scanned) is retried this often.
ERASURE_NOT_READY_RETRY_S = 30


@shared_task(queue="default", acks_late=True, time_limit=3600, soft_time_limit=3540)
def erasure_run(request_id: int) -> str:
    """The logical phase of an erasure request; the message carries its id only, never an identifier."""
    if not erasure.erasure_request_claim(request_id=request_id, phase="logical"):
        logger.info("erasure request %s is finished or held by a live worker: standing down", request_id)
        return "stood_down"
    outcome = erasure.erasure_request_run_logical(request_id=request_id)
    if outcome.state == "not_ready":
        logger.info("erasure request %s waits for a store: %s", request_id, outcome.detail)
        erasure_run.apply_async((request_id,), countdown=ERASURE_NOT_READY_RETRY_S)
    return outcome.state


@shared_task(queue="default", acks_late=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def erasure_purge(request_id: int) -> str:
    """The physical purge and the verification of an erased request."""
    if not erasure.erasure_request_claim(request_id=request_id, phase="purge"):
        logger.info("erasure request %s is not due for a purge or is held: standing down", request_id)
        return "stood_down"
    return erasure.erasure_request_run_purge(request_id=request_id).state


@shared_task(queue="default", time_limit=300, soft_time_limit=240)
def erasure_purge_due() -> int:
    """Beat: send the purge of every erased request due before the next sweep."""
    due = erasure.erasure_requests_due_for_purge(horizon_s=int(settings.ERASURE_PURGE_SWEEP_S))
    for request_id in due:
        send_now(erasure.PURGE_TASK, request_id)
    return len(due)


@shared_task(queue="default", acks_late=True, time_limit=3600, soft_time_limit=3540)
def subject_export(request_id: int) -> str:
    """Build the package of an access or portability request; the message carries its id only."""
    if not subject_access.subject_request_claim(request_id=request_id):
        logger.info("subject request %s is finished or held by a live worker: standing down", request_id)
        return "stood_down"
    outcome = subject_access.subject_request_run_export(request_id=request_id)
    if outcome.state == "not_ready":
        logger.info("subject request %s waits for a store: %s", request_id, outcome.detail)
        subject_export.apply_async((request_id,), countdown=ERASURE_NOT_READY_RETRY_S)
    return outcome.state


@shared_task(queue="default", time_limit=300, soft_time_limit=240)
def subject_packages_expire() -> int:
    """Beat: delete the response packages past their expiry."""
    return subject_access.subject_packages_expire()


def _resend_scans(version_ids: list[int]) -> None:
    for version_id in version_ids:
        send_now(SCAN_TASK, version_id)


claim.register(
    claim.ClaimKind(
        name="dataset_scan",
        model=DatasetVersion,
        claimable_statuses=[DatasetVersionStatus.PENDING, DatasetVersionStatus.SCANNING],
        resend=_resend_scans,
    )
)


def _resend(task_name: str) -> Callable[[list[int]], None]:
    def resend(ids: list[int]) -> None:
        for pk in ids:
            send_now(task_name, pk)

    return resend


def _resend_running(ids: list[int]) -> None:
    # In progress is the logical phase of an erasure and the export of an access or portability request.
    kinds = dict(ErasureRequest.objects.filter(pk__in=ids).values_list("pk", "kind"))
    for pk in ids:
        send_now(erasure.LOGICAL_TASK if kinds.get(pk) == "erasure" else subject_access.EXPORT_TASK, pk)


claim.register(
    claim.ClaimKind(
        name="erasure_logical",
        model=ErasureRequest,
        claimable_statuses=[ErasureStatus.IN_PROGRESS],
        resend=_resend_running,
    )
)
claim.register(
    claim.ClaimKind(
        name="erasure_purge",
        model=ErasureRequest,
        claimable_statuses=[ErasureStatus.ERASED],
        resend=_resend(erasure.PURGE_TASK),
    )
)
