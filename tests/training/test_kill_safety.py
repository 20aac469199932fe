"""Kill safety: a worker process killed with SIGKILL mid-training, for real, from the test.

The session's Celery worker runs one prefork child. Killing that child makes Celery reject the
unacknowledged message back to the queue (acks_late + reject_on_worker_lost) and start a new child,
which claims the job again and resumes from the last checkpoint.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from tests.conftest import wait_for
from tests.training.conftest import set_hooks
from training.models import AdapterVersion, FineTuneEvent, FineTuneJob
from training.services import jobs, runs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.slow]


def _create_with_hooks(
    engineer: Any, ai_system: Any, base_model: Any, version: Any, **hooks: Any
) -> FineTuneJob:
    # The hook file is written before the job is committed, so the worker cannot start it without.
    with transaction.atomic():
        job, _ = jobs.fine_tune_job_create(
            actor=engineer,
            ai_system=ai_system,
            base_model=base_model,
            dataset_version=version,
            seed=11,
            hyperparameters={
                "rank": 4,
                "alpha": 8,
                "batch_size": 2,
                "learning_rate": 0.003,
                "max_seq_length": 64,
            },
        )
        set_hooks(job.pk, **hooks)
    return job


def _final(job_id: int) -> FineTuneJob | None:
    job = FineTuneJob.objects.get(pk=job_id)
    return job if job.status in ("succeeded", "failed", "cancelled") else None


def test_a_worker_killed_mid_training_resumes_from_its_last_checkpoint_with_one_adapter(
    engineer, ai_system, base_model, version, celery_worker
):
    job = _create_with_hooks(engineer, ai_system, base_model, version, sleep_per_step=0.3)
    wait_for(lambda: FineTuneEvent.objects.filter(job=job, kind="checkpoint").exists(), timeout=180)
    [child] = celery_worker.child_pids()
    os.kill(child, signal.SIGKILL)

    job = wait_for(lambda: _final(job.pk), timeout=240)
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    resumed = FineTuneEvent.objects.get(job=job, kind="resumed")
    step = int(re.fullmatch(r"resumed from step (\d+)", resumed.message).group(1))
    assert step >= 4 and step % 4 == 0
    assert AdapterVersion.objects.filter(job=job).count() == 1
    assert job.current_step == job.total_steps
    assert not runs.job_dirs(job.pk)[0].exists()  # checkpoints removed once the adapter is written


def test_a_job_whose_process_dies_every_time_fails_after_the_configured_attempts(
    engineer, ai_system, base_model, version, celery_worker
):
    job = _create_with_hooks(engineer, ai_system, base_model, version, kill_at_step=1)
    job = wait_for(lambda: _final(job.pk), timeout=300)
    assert job.status == "failed"
    assert job.attempts == 3
    assert "each of 3 attempts" in job.error
    assert FineTuneEvent.objects.filter(job=job, kind="claimed").count() == 3
    assert not AdapterVersion.objects.filter(job=job).exists()


def test_cancelling_a_running_job_stops_it_between_steps_without_an_adapter(
    api, engineer, ai_system, base_model, version, celery_worker
):
    job = _create_with_hooks(engineer, ai_system, base_model, version, sleep_per_step=0.3)
    wait_for(lambda: FineTuneEvent.objects.filter(job=job, kind="progress").exists(), timeout=180)
    assert api(engineer).post(f"/api/v1/fine-tune-jobs/{job.pk}/cancel/").status_code == 200
    wait_for(lambda: FineTuneEvent.objects.filter(job=job, kind="stopped").exists(), timeout=60)
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert job.current_step < job.total_steps
    assert not AdapterVersion.objects.filter(job=job).exists()
    checkpoints, adapter_dir = runs.job_dirs(job.pk)
    assert not Path(checkpoints).exists() and not Path(adapter_dir).exists()
