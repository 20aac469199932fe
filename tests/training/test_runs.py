"""The worker's service, run in this process: failure paths and idempotent re-runs."""

from __future__ import annotations

import pytest

from governance.services.datasets import dataset_version_path
from training.models import AdapterVersion, Evaluation
from training.services import jobs, runs

pytestmark = pytest.mark.django_db


def _job(engineer, ai_system, base_model, version):
    job, _ = jobs.fine_tune_job_create(
        actor=engineer, ai_system=ai_system, base_model=base_model, dataset_version=version,
        hyperparameters={"batch_size": 8, "max_seq_length": 64},
    )  # fmt: skip
    return job


def test_a_dataset_file_that_changed_since_upload_fails_the_job_clearly(
    engineer, ai_system, base_model, version
):
    job = _job(engineer, ai_system, base_model, version)
    path = dataset_version_path(version)
    path.write_bytes(path.read_bytes() + b"\n")
    assert jobs.fine_tune_job_claim(job_id=job.pk)
    runs.fine_tune_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    assert "does not match its recorded sha256" in job.error
    assert not AdapterVersion.objects.exists()


def test_running_a_finished_job_again_changes_nothing(trained_job):
    assert jobs.fine_tune_job_claim(job_id=trained_job.pk) is False
    runs.fine_tune_job_run(job_id=trained_job.pk)
    assert AdapterVersion.objects.filter(job=trained_job).count() == 1
    assert Evaluation.objects.filter(job=trained_job).count() == 2


def test_a_job_at_its_attempt_limit_is_failed_instead_of_claimed(engineer, ai_system, base_model, version):
    job = _job(engineer, ai_system, base_model, version)
    job.status, job.attempts, job.worker_pid = "running", 3, 999_999_999
    job.save()
    assert jobs.fine_tune_job_claim(job_id=job.pk) is False
    job.refresh_from_db()
    assert job.status == "failed" and "each of 3 attempts" in job.error
