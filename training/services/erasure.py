"""The training side of an erasure request (DESIGN section 9): what learned from the subject is tainted.

Weights cannot forget one person, so an adapter trained on the subject's records is tainted (final:
never deployed or downloaded again) and its files, with its job's checkpoints, are deleted; the row
keeps the sha256 and lineage. Lineage is by record hash: the datasets participant runs first and
leaves the replaced version's record rows (hashes and keys) in place, so an adapter trained on a
version that is now erased is still found. Jobs about to train on such data are cancelled, and where
the AI system asks for it (`retrain_on_erasure`) a retrain is queued on the cleaned version through
the normal job service, gates included.

Which training rows could hold record text: evaluations keep averaged metrics only (no sample
outputs), fine-tune events keep counts, steps and losses (their messages never quote a record), and
adapter lineage keeps hashes; only the files on disk (weights, checkpoints) hold what was learned.

The export (access requests) lists the adapters erase would taint, tainted ones included: their names
and lineage, never their weights, marked not portable (the platform derived them).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from governance.choices import RecordSplit
from governance.errors import Conflict
from governance.models import DatasetRecord, DatasetVersion
from governance.participants import ErasureParticipant, ErasureScope
from governance.services.audit import audit_record
from governance.services.processing_contexts import dataset_context, unique
from training.choices import ACTIVE_JOB_STATUSES, AdapterStatus, EventLevel, JobStatus
from training.models import AdapterVersion, FineTuneJob
from training.services import jobs
from training.services.runs import job_dirs

COUNT_NAMES = ("adapters_tainted", "adapter_files_deleted", "jobs_cancelled", "retrains_queued")
RECORD_KIND = "dataset_record"  # the datasets participant's name-only kind


def _taint_reason(scope: ErasureScope) -> str:
    return f"erasure request {scope.reference}: trained on the data subject's records"


def _affected_versions(scope: ErasureScope) -> list[int]:
    """Versions (erased ones included) whose train split holds a record of the subject, by record hash."""
    query = Q(subject_keys__overlap=list(scope.keys)) if scope.keys else Q(pk__in=[])
    confirmed = scope.confirmed_ids(RECORD_KIND)
    if confirmed:
        query |= Q(pk__in=confirmed)
    hashes = DatasetRecord.objects.filter(query).values("sha256")
    return sorted(
        set(
            DatasetRecord.objects.filter(split=RecordSplit.TRAIN, sha256__in=hashes).values_list(
                "version_id", flat=True
            )
        )
    )


def _adapters(versions: list[int]) -> Any:
    return AdapterVersion.objects.filter(dataset_version_id__in=versions)


def _active_jobs(versions: list[int]) -> Any:
    # A job that already wrote its adapter is past training: its adapter is tainted instead.
    return FineTuneJob.objects.filter(
        dataset_version_id__in=versions, status__in=ACTIVE_JOB_STATUSES, adapter__isnull=True
    )


def find(scope: ErasureScope) -> dict[str, Any]:
    """Adapters that would be tainted and jobs that would be cancelled (read only)."""
    versions = _affected_versions(scope)
    adapters = _adapters(versions).exclude(status=AdapterStatus.TAINTED)
    return {
        "counts": {
            "adapters_tainted": adapters.count(),
            "adapter_files_deleted": adapters.filter(files_deleted_at__isnull=True).count(),
            "jobs_cancelled": _active_jobs(versions).count(),
            "retrains_queued": adapters.filter(ai_system__retrain_on_erasure=True)
            .exclude(status=AdapterStatus.RETIRED)
            .count(),
        },
        "name_only": [],
    }


def export(scope: ErasureScope) -> dict[str, Any]:
    """Every adapter trained on the subject's records (names and lineage) and its dataset's facts."""
    adapters = (
        _adapters(_affected_versions(scope))
        .select_related("ai_system", "base_model", "dataset_version__dataset", "job")
        .prefetch_related("dataset_version__dataset__ai_systems")
        .order_by("pk")
    )
    items: list[dict[str, Any]] = []
    contexts: list[dict[str, Any]] = []
    for adapter in adapters:
        version = adapter.dataset_version
        items.append(
            {
                "kind": "adapter",
                "id": adapter.pk,
                "portable": False,
                "name": adapter.name,
                "ai_system": adapter.ai_system.name,
                "base_model": adapter.base_model.name,
                "trained_on": [
                    {"dataset": version.dataset.name, "version": version.number, "version_id": version.pk}
                ],
                "job_id": adapter.job_id,
                "status": adapter.status,
                "tainted": adapter.status == AdapterStatus.TAINTED,
                "files_deleted": adapter.files_deleted_at is not None,
                "created_at": adapter.created_at.isoformat(),
            }
        )
        contexts.append(dataset_context(version.dataset))
    return {"items": items, "processing": unique(contexts)}


@transaction.atomic
def erase(scope: ErasureScope) -> dict[str, Any]:
    """Taint the adapters, delete their files after the commit, cancel jobs, queue retrains."""
    versions = _affected_versions(scope)
    tainted: list[AdapterVersion] = []
    for adapter in _adapters(versions).exclude(status=AdapterStatus.TAINTED).select_for_update():
        previous = adapter.status
        adapter.status, adapter.taint_reason = AdapterStatus.TAINTED, _taint_reason(scope)
        adapter.files_deleted_at = timezone.now()
        adapter.save(update_fields=["status", "taint_reason", "files_deleted_at"])
        audit_record(
            actor=None,
            action="adapter_version.tainted",
            obj=adapter,
            payload={
                "previous_status": previous,
                "erasure_request": scope.request_id,
                "sha256": adapter.sha256,
            },
        )
        adapter.previous_status = previous  # type: ignore[attr-defined]
        tainted.append(adapter)
    cancelled = [_cancel(job, scope) for job in _active_jobs(versions).select_for_update(of=("self",))]
    # Every job on the affected versions may have left checkpoints, whatever its final status.
    job_ids = sorted(
        set(FineTuneJob.objects.filter(dataset_version_id__in=versions).values_list("pk", flat=True))
    )
    paths = sorted({a.path for a in tainted if a.path} | {str(p) for j in job_ids for p in job_dirs(j)})
    transaction.on_commit(lambda: _delete(paths))
    queued, refused = _retrain(tainted, scope)
    return {
        "counts": {
            "adapters_tainted": len(tainted),
            "adapter_files_deleted": len(tainted),
            "jobs_cancelled": len(cancelled),
            "retrains_queued": len(queued),
        },
        "adapters": [a.pk for a in tainted],
        "jobs": job_ids,
        "cancelled_jobs": cancelled,
        "retrain_jobs": queued,
        "retrain_refused": refused,
        "paths": paths,
    }


def _cancel(job: FineTuneJob, scope: ErasureScope) -> int:
    """fine_tune_job_cancel's semantics without a user: queued never starts, running stops at a step."""
    previous = job.status
    job.status, job.finished_at = JobStatus.CANCELLED, timezone.now()
    job.save(update_fields=["status", "finished_at"])
    jobs.job_event(
        job.pk,
        "cancelled",
        f"cancelled by erasure request {scope.reference} while {previous}",
        level=EventLevel.WARNING,
    )
    audit_record(
        actor=None,
        action="fine_tune_job.cancelled",
        obj=job,
        payload={"previous_status": previous, "erasure_request": scope.request_id},
    )
    return job.pk


def _retrain(tainted: list[AdapterVersion], scope: ErasureScope) -> tuple[list[int], list[dict[str, Any]]]:
    """Queue a retrain on the cleaned version where the system asks for it; a gate refusal is recorded."""
    queued: list[int] = []
    refused: list[dict[str, Any]] = []
    reason = f"erasure request {scope.reference}"
    for adapter in tainted:
        if adapter.previous_status == AdapterStatus.RETIRED or not adapter.ai_system.retrain_on_erasure:  # type: ignore[attr-defined]
            continue
        cleaned = (
            DatasetVersion.objects.filter(parent_id=adapter.dataset_version_id, reason=reason)
            .order_by("-number")
            .first()
        )
        if cleaned is None:
            refused.append({"adapter": adapter.pk, "gates": [], "reason": "no_cleaned_version"})
            continue
        job = adapter.job
        try:
            with transaction.atomic():  # a refusal rolls back only this attempt
                new_job, _ = jobs.fine_tune_job_create(
                    actor=None,  # type: ignore[arg-type]
                    ai_system=adapter.ai_system,
                    base_model=adapter.base_model,
                    dataset_version=cleaned,
                    hyperparameters=job.hyperparameters,
                    seed=job.seed,
                    idempotency_key=f"erasure-{scope.request_id}-adapter-{adapter.pk}",
                )
        except Conflict as exc:
            codes = [d.get("gate", "") for d in exc.details] if isinstance(exc.details, list) else []
            refused.append({"adapter": adapter.pk, "gates": codes or [exc.code]})
            continue
        queued.append(new_job.pk)
    return queued, refused


def _delete(paths: list[str]) -> int:
    deleted = 0
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            deleted += 1
        elif path.exists():
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted


def purge(scope: ErasureScope, erased: dict[str, Any]) -> dict[str, Any]:
    """Delete the tainted adapters' files and the jobs' checkpoints again (idempotent)."""
    versions = _affected_versions(scope)
    paths = set(erased.get("paths", []))
    paths.update(a.path for a in _adapters(versions) if a.path)
    for job_id in FineTuneJob.objects.filter(dataset_version_id__in=versions).values_list("pk", flat=True):
        paths.update(str(p) for p in job_dirs(job_id))
    return {"training_paths_deleted": _delete(sorted(paths))}


def verify(scope: ErasureScope) -> dict[str, Any]:
    """Every adapter trained on the subject's records is tainted and no file of it or its job is left."""
    versions = _affected_versions(scope)
    adapters = list(_adapters(versions))
    untainted = sorted(a.pk for a in adapters if a.status != AdapterStatus.TAINTED)
    on_disk = sorted(a.pk for a in adapters if a.path and Path(a.path).exists())
    job_ids = FineTuneJob.objects.filter(dataset_version_id__in=versions).values_list("pk", flat=True)
    job_files = sorted(j for j in job_ids if any(p.exists() for p in job_dirs(j)))
    active = sorted(_active_jobs(versions).values_list("pk", flat=True))
    return {
        "ok": not untainted and not on_disk and not job_files and not active,
        "adapters_checked": len(adapters),
        "untainted_adapters": untainted,
        "adapter_files_left": on_disk,
        "job_files_left": job_files,
        "active_jobs": active,
    }


participant = ErasureParticipant(
    name="training",
    find=find,
    erase=erase,
    purge=purge,
    verify=verify,
    order=20,
    count_names=COUNT_NAMES,
    export=export,
)
