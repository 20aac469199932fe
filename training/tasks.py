"""Celery tasks of training (the `gpu` queue): thin wrappers that claim a row and call one service."""

from __future__ import annotations

import logging

from celery import shared_task

from training import conf
from training.services import base_models, jobs, runs

logger = logging.getLogger(__name__)

# A day by default; a 7B run on a big dataset may need more (TRAINING_TASK_TIME_LIMIT, seconds).
TIME_LIMIT = conf.setting_int("TRAINING_TASK_TIME_LIMIT", 24 * 3600)


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
    """Hash the weight files where they live (a GPU host); a ready manifest is left alone."""
    base_models.base_model_compute_manifest(base_model_id=base_model_id)
