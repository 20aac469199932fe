"""Fine-tune jobs: creation behind the gates, cancellation, and the worker's claim, progress and finish."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from governance.errors import Conflict, ValidationFailed
from governance.models import AISystem, DatasetVersion
from governance.roles import User, user_or_none
from governance.services.audit import audit_record
from training import conf
from training.choices import ACTIVE_JOB_STATUSES, FINAL_JOB_STATUSES, EventLevel, JobStatus
from training.gates import job_gate_failures
from training.hyperparams import validate_hyperparameters
from training.models import AdapterVersion, BaseModel, FineTuneEvent, FineTuneJob

logger = logging.getLogger(__name__)
MAX_SEED = 2**31 - 1


def request_fingerprint(
    *,
    ai_system: AISystem,
    base_model: BaseModel,
    dataset_version: DatasetVersion,
    hyperparameters: Any,
    seed: int | None,
) -> str:
    """What a retried request must repeat for its idempotency key to return the first job."""
    body = {
        "ai_system": ai_system.pk,
        "base_model": base_model.pk,
        "dataset_version": dataset_version.pk,
        "hyperparameters": hyperparameters or {},
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def fine_tune_job_create(
    *,
    actor: User,
    ai_system: AISystem,
    base_model: BaseModel,
    dataset_version: DatasetVersion,
    hyperparameters: Any = None,
    seed: int | None = None,
    idempotency_key: str | None = None,
) -> tuple[FineTuneJob, bool]:
    """Validate, run the gates and queue a job; (job, False) when the idempotency key names an earlier one."""
    fingerprint = request_fingerprint(
        ai_system=ai_system,
        base_model=base_model,
        dataset_version=dataset_version,
        hyperparameters=hyperparameters,
        seed=seed,
    )
    if idempotency_key:
        earlier = _earlier(actor, idempotency_key, fingerprint)
        if earlier is not None:
            return earlier, False
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ValidationFailed(
            f"seed must be from 0 to {MAX_SEED}", code="invalid_seed", details={"field": "seed"}
        )
    clean = validate_hyperparameters(hyperparameters, base_model=base_model)
    version = DatasetVersion.objects.select_related("dataset").get(pk=dataset_version.pk)
    # The gates read files and tokenize records: they run before, not inside, the write transaction.
    failures = job_gate_failures(
        ai_system=ai_system, base_model=base_model, version=version, max_seq_length=clean["max_seq_length"]
    )
    if failures:
        _audit_refusal(actor, ai_system, base_model, version, [f.gate for f in failures])
        raise Conflict(
            f"the job was refused by {len(failures)} gate(s): {', '.join(f.gate for f in failures)}",
            code="gates_failed",
            details=[f.as_dict() for f in failures],
        )
    try:
        job = _store(actor, ai_system, base_model, version, clean, seed, idempotency_key, fingerprint)
    except IntegrityError:
        # Two requests with one key raced: the other one stored its job first.
        earlier = _earlier(actor, idempotency_key or "", fingerprint) if idempotency_key else None
        if earlier is None:
            raise
        return earlier, False
    return job, True


def _earlier(actor: User, key: str, fingerprint: str) -> FineTuneJob | None:
    job = FineTuneJob.objects.filter(created_by=user_or_none(actor), idempotency_key=key).first()
    if job is not None and job.request_sha256 != fingerprint:
        raise Conflict(
            "this idempotency key was used for a different request",
            code="idempotency_key_reused",
            details={"job": job.pk},
        )
    return job


@transaction.atomic
def _audit_refusal(
    actor: User, ai_system: AISystem, base_model: BaseModel, version: DatasetVersion, gates: list[str]
) -> None:
    # A refused job is not stored; the audit event is its only trace, so it names everything involved.
    audit_record(
        actor=actor,
        action="fine_tune_job.refused",
        object_type="training.finetunejob",
        payload={
            "gates": gates,
            "ai_system": ai_system.pk,
            "base_model": base_model.pk,
            "dataset_version": version.pk,
        },
    )


@transaction.atomic
def _store(
    actor: User,
    ai_system: AISystem,
    base_model: BaseModel,
    version: DatasetVersion,
    hp: dict[str, Any],
    seed: int | None,
    key: str | None,
    fingerprint: str,
) -> FineTuneJob:
    job = FineTuneJob(
        ai_system=ai_system,
        base_model=base_model,
        dataset_version=version,
        hyperparameters=hp,
        seed=secrets.randbelow(MAX_SEED) if seed is None else seed,
        idempotency_key=key or None,
        request_sha256=fingerprint,
        created_by=user_or_none(actor),
    )
    job.full_clean()
    job.save()
    job_event(job.pk, "created", "queued on the gpu queue")
    transaction.on_commit(lambda: _enqueue(job.pk))
    audit_record(
        actor=actor,
        action="fine_tune_job.created",
        obj=job,
        payload={
            "ai_system": ai_system.pk,
            "base_model": base_model.pk,
            "dataset_version": version.pk,
            "dataset_sha256": version.sha256,
            "hyperparameters": hp,
            "seed": job.seed,
        },
    )
    return job


def _enqueue(job_id: int) -> None:
    from training.tasks import run_fine_tune_job

    run_fine_tune_job.delay(job_id)


@transaction.atomic
def fine_tune_job_cancel(*, actor: User, job: FineTuneJob) -> FineTuneJob:
    """Stop a job: a queued one never starts, a running one stops at its next step. Repeats are no-ops."""
    job = FineTuneJob.objects.select_for_update().get(pk=job.pk)
    if job.status == JobStatus.CANCELLED:
        return job
    if job.status in FINAL_JOB_STATUSES:
        raise Conflict(
            f"the job has already {job.status}", code="job_finished", details={"status": job.status}
        )
    if AdapterVersion.objects.filter(job=job).exists():
        raise Conflict("training has finished; the adapter is being evaluated", code="job_finished")
    previous = job.status
    job.status, job.finished_at = JobStatus.CANCELLED, timezone.now()
    job.save(update_fields=["status", "finished_at"])
    job_event(job.pk, "cancelled", f"cancelled by {_name(actor)} while {previous}", level=EventLevel.WARNING)
    audit_record(
        actor=actor, action="fine_tune_job.cancelled", obj=job, payload={"previous_status": previous}
    )
    return job


def job_event(
    job_id: int, kind: str, message: str = "", *, level: str = EventLevel.INFO, **numbers: Any
) -> None:
    """Append one event to a job's log."""
    FineTuneEvent.objects.create(job_id=job_id, kind=kind, message=message, level=level, **numbers)


# --- Worker side ------------------------------------------------------------------------------------


def _owner_alive(job: FineTuneJob) -> bool:
    """Whether another live process still trains this job (a duplicate delivery must then stand back)."""
    if job.status not in (JobStatus.VALIDATING, JobStatus.RUNNING) or job.worker_pid is None:
        return False
    stale_after = timedelta(seconds=conf.setting_int("TRAINING_HEARTBEAT_STALE_S", 900))
    fresh = job.heartbeat_at is not None and timezone.now() - job.heartbeat_at < stale_after
    if job.worker_host != socket.gethostname():
        return fresh  # another host: only its heartbeat can tell
    if job.worker_pid == os.getpid():
        return False
    try:
        os.kill(job.worker_pid, 0)
    except ProcessLookupError:
        return False  # the process that held it is gone (killed, out of memory): take over
    except PermissionError:
        return fresh
    return fresh


def fine_tune_job_claim(*, job_id: int) -> bool:
    """Take the job for this process with a conditional update; False when it is not ours to run."""
    job = FineTuneJob.objects.filter(pk=job_id).first()
    if job is None or job.status in FINAL_JOB_STATUSES:
        return False
    if _owner_alive(job):
        logger.info("job %s is held by live process %s on %s", job_id, job.worker_pid, job.worker_host)
        return False
    limit = conf.max_attempts()
    if job.attempts >= limit:
        fine_tune_job_fail(
            job_id=job_id,
            error=f"the worker stopped during each of {job.attempts} attempts (killed or out of memory); "
            f"giving up after TRAINING_MAX_ATTEMPTS={limit}",
        )
        return False
    return _claim(job, job.attempts + 1)


@transaction.atomic
def _claim(job: FineTuneJob, attempt: int) -> bool:
    now = timezone.now()
    # Matching on the attempts count we read makes two racing workers unable to both claim it.
    claimed = FineTuneJob.objects.filter(
        pk=job.pk, status__in=ACTIVE_JOB_STATUSES, attempts=attempt - 1
    ).update(
        status=JobStatus.VALIDATING,
        attempts=F("attempts") + 1,
        worker_host=socket.gethostname(),
        worker_pid=os.getpid(),
        heartbeat_at=now,
        started_at=job.started_at or now,
        error="",
    )
    if not claimed:
        logger.info("job %s: someone else got there first", job.pk)
        return False
    job_event(job.pk, "claimed", f"attempt {attempt} on {socket.gethostname()} (pid {os.getpid()})")
    audit_record(
        actor=None,
        action="fine_tune_job.started",
        obj=job,
        payload={"attempt": attempt, "worker_host": socket.gethostname()},
    )
    return True


@transaction.atomic
def fine_tune_job_fail(*, job_id: int, error: str) -> FineTuneJob | None:
    """Mark an active job failed with a message that carries no record content."""
    job = FineTuneJob.objects.select_for_update().get(pk=job_id)
    if job.status in FINAL_JOB_STATUSES:
        return None
    job.status, job.error, job.finished_at = JobStatus.FAILED, error[:2000], timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    job_event(job_id, "failed", job.error, level=EventLevel.ERROR)
    audit_record(actor=None, action="fine_tune_job.failed", obj=job, payload={"attempts": job.attempts})
    return job


@transaction.atomic
def fine_tune_job_succeed(*, job_id: int) -> bool:
    """running -> succeeded once the adapter and its evaluations are on record."""
    job = FineTuneJob.objects.select_for_update().get(pk=job_id)
    if job.status != JobStatus.RUNNING:
        return False
    job.status, job.progress, job.finished_at = JobStatus.SUCCEEDED, 1.0, timezone.now()
    job.save(update_fields=["status", "progress", "finished_at"])
    job_event(job_id, "succeeded", "adapter written and evaluated")
    audit_record(actor=None, action="fine_tune_job.succeeded", obj=job, payload={"attempts": job.attempts})
    return True


def fine_tune_job_is_cancelled(job_id: int) -> bool:
    return FineTuneJob.objects.filter(pk=job_id, status=JobStatus.CANCELLED).exists()


def fine_tune_job_heartbeat(job_id: int, **fields: Any) -> None:
    """Progress fields and the heartbeat, in one autocommitted UPDATE (never inside a long transaction)."""
    FineTuneJob.objects.filter(pk=job_id, status__in=ACTIVE_JOB_STATUSES).update(
        heartbeat_at=timezone.now(), **fields
    )


def _name(actor: User) -> str:
    return str(actor.get_username()) if actor is not None and actor.is_authenticated else "system"
