"""Celery tasks of governance: thin wrappers that claim a row and call one service."""

from __future__ import annotations

import logging

from celery import shared_task

from governance import claim
from governance.choices import DatasetVersionStatus
from governance.enqueue import send_now
from governance.models import DatasetVersion
from governance.services import dpia, scanning

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
    """Move approved DPIAs past their review date to expired."""
    return dpia.dpia_expire_due()


@shared_task(queue="default", time_limit=300, soft_time_limit=240)
def requeue_stale_claims() -> dict[str, int]:
    """Re-send rows whose owner stopped heartbeating (a whole worker killed), minutes after, not hours."""
    return claim.requeue_all_stale()


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
