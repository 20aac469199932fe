"""Celery tasks of training (the `gpu` queue): thin wrappers that claim a row and call one service."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from celery import shared_task

from governance import claim
from governance.enqueue import send_now
from training import conf
from training.choices import ACTIVE_JOB_STATUSES, BaseModelStatus
from training.models import BaseModel, FineTuneJob
from training.services import base_models, jobs, runs

logger = logging.getLogger(__name__)

# A day by default; a 7B run on a big dataset may need more (TRAINING_TASK_TIME_LIMIT, seconds).
TIME_LIMIT = conf.task_time_limit()
JOB_TASK = "training.tasks.run_fine_tune_job"
MANIFEST_TASK = "training.tasks.compute_base_model_manifest"


@shared_task(
    queue="gpu",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=TIME_LIMIT,
    soft_time_limit=TIME_LIMIT - 120,
)
def run_fine_tune_job(job_id: int) -> None:
    """Run a job; a redelivery after a killed worker resumes from the last checkpoint."""
    if not jobs.fine_tune_job_claim(job_id=job_id):
        return
    runs.fine_tune_job_run(job_id=job_id)


@shared_task(queue="gpu", acks_late=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def compute_base_model_manifest(base_model_id: int) -> None:
    """Hash the weight files where they live (a GPU host); a ready or live-held manifest is left alone."""
    base_models.base_model_compute_manifest(base_model_id=base_model_id)


def _resender(task_name: str) -> Callable[[list[int]], None]:
    def resend(pks: list[int]) -> None:
        for pk in pks:
            send_now(task_name, pk, queue="gpu")

    return resend


claim.register(
    claim.ClaimKind(
        name="fine_tune_job",
        model=FineTuneJob,
        claimable_statuses=list(ACTIVE_JOB_STATUSES),
        resend=_resender(JOB_TASK),
        stale_after=lambda: timedelta(seconds=conf.heartbeat_stale_s()),
    )
)
claim.register(
    claim.ClaimKind(
        name="base_model_manifest",
        model=BaseModel,
        claimable_statuses=[BaseModelStatus.PENDING],
        resend=_resender(MANIFEST_TASK),
    )
)
