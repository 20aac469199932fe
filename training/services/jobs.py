"""Fine-tune jobs: creation behind the gates, cancellation, and the worker's claim, progress and finish."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from governance import claim, gates
from governance.enqueue import enqueue_on_commit
from governance.errors import Conflict, ValidationFailed
from governance.models import AISystem, DatasetVersion
from governance.policy import WRITE, require
from governance.roles import User, user_or_none
from governance.services.audit import audit_record
from training import conf
from training.choices import ACTIVE_JOB_STATUSES, FINAL_JOB_STATUSES, EventLevel, JobStatus
from training.gates import SCOPE as GATES
from training.gates import JobSubject
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
    subject = JobSubject(ai_system, base_model, version, clean["max_seq_length"])
    failures = gates.failures(GATES, subject)
    if failures:
        _audit_refusal(actor, ai_system, base_model, version, [f.code for f in failures])
        raise Conflict(
            f"the job was refused by {len(failures)} gate(s): {', '.join(f.code for f in failures)}",
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
    enqueue_on_commit("training.tasks.run_fine_tune_job", job.pk, queue="gpu")
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


@transaction.atomic
def fine_tune_job_cancel(*, actor: User, job: FineTuneJob) -> FineTuneJob:
    """Stop a job: a queued one never starts, a running one stops at its next step. Repeats are no-ops."""
    require(actor, "fine_tune_job", WRITE)
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


def fine_tune_job_claim(*, job_id: int) -> bool:
    """Take the job for this process (governance.claim); False when it is not ours to run."""
    claimed = claim.claim_row(
        FineTuneJob,
        job_id,
        claimable_statuses=list(ACTIVE_JOB_STATUSES),
        running_status=JobStatus.VALIDATING,
        on_exhausted=_exhausted,
        stale_after=timedelta(seconds=conf.heartbeat_stale_s()),
        max_attempts=conf.max_attempts(),
        started_at=Coalesce(F("started_at"), Value(timezone.now())),
        error="",
    )
    if claimed is None:
        return False
    _record_claim(job_id, claimed.attempt)
    return True


def _exhausted(job_id: int, attempts: int) -> None:
    fine_tune_job_fail(
        job_id=job_id,
        error=f"the worker stopped during each of {attempts} attempts (killed or out of memory); "
        f"giving up after TRAINING_MAX_ATTEMPTS={conf.max_attempts()}",
    )


@transaction.atomic
def _record_claim(job_id: int, attempt: int) -> None:
    host, pid = claim.me()
    job = FineTuneJob.objects.get(pk=job_id)
    job_event(job_id, "claimed", f"attempt {attempt} on {host} (pid {pid})")
    audit_record(
        actor=None, action="fine_tune_job.started", obj=job, payload={"attempt": attempt, "worker_host": host}
    )


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


def fine_tune_job_check_gates_at_claim(*, job_id: int) -> bool:
    """Run the gates again as the worker starts the job; one that fails them ends failed. True: go on."""
    # The job may have waited in the queue for hours: a DPIA can expire, a dataset be tainted or unlinked.
    failures = gates.failures(GATES, JobSubject.of_job(job_id))
    if not failures:
        return True
    _fail_at_claim(job_id, failures)
    return False


@transaction.atomic
def _fail_at_claim(job_id: int, failures: list[gates.GateResult]) -> None:
    job = FineTuneJob.objects.select_for_update().get(pk=job_id)
    if job.status in FINAL_JOB_STATUSES:
        return
    codes = [f.code for f in failures]
    reasons = "; ".join(f"{f.code}: {f.reason}" for f in failures)
    job.status, job.finished_at = JobStatus.FAILED, timezone.now()
    job.error = f"refused when the worker claimed it by {len(codes)} gate(s): {reasons}"[:2000]
    job.save(update_fields=["status", "error", "finished_at"])
    job_event(job_id, "gates_failed", job.error, level=EventLevel.ERROR)
    audit_record(
        actor=None,
        action="fine_tune_job.gates_failed",
        obj=job,
        payload={"gates": codes, "stage": "claim", "attempt": job.attempts},
    )
