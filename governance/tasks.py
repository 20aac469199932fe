"""Celery tasks of governance: thin wrappers that claim a row and call one service."""

from __future__ import annotations

import logging

from celery import shared_task

from governance.services import datasets, dpia, scanning

logger = logging.getLogger(__name__)


@shared_task(queue="default", time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def scan_dataset_version(version_id: int) -> None:
    """Scan a dataset version for PII; safe to run twice (a finished version is left alone)."""
    if not datasets.dataset_version_claim_scan(version_id=version_id):
        logger.info("dataset version %s is not pending: someone else got there first", version_id)
        return
    scanning.dataset_version_scan(version_id=version_id)


@shared_task(queue="default", time_limit=300)
def expire_dpias() -> int:
    """Move approved DPIAs past their review date to expired."""
    return dpia.dpia_expire_due()
