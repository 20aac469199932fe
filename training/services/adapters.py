"""Adapter versions: written once per job, then candidate -> approved -> retired (or tainted)."""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from governance.errors import Conflict, ValidationFailed
from governance.policy import DOWNLOAD, REVIEW, require
from governance.roles import User
from governance.services.audit import audit_record
from governance.services.deployments import deployments_recheck
from training.choices import AdapterStatus, EvaluationSubject, JobStatus
from training.modelinfo import manifest_of
from training.models import AdapterVersion, Evaluation, FineTuneJob

# A justification must say something a later reader can weigh, and stay a paragraph, not a document.
OVERRIDE_MIN_CHARS = 20
OVERRIDE_MAX_CHARS = 4000


def files_sha256(files: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def adapter_version_create_for_job(
    *, job_id: int, output_dir: Path, manifest: dict[str, Any], lineage: dict[str, Any]
) -> AdapterVersion | None:
    """The job's one AdapterVersion (new, or the one a crashed attempt wrote); None if cancelled."""
    files = manifest_of(output_dir)  # hashing stays outside the transaction
    return _store(job_id, output_dir, files, manifest, lineage)


@transaction.atomic
def _store(
    job_id: int, output_dir: Path, files: dict[str, Any], manifest: dict[str, Any], lineage: dict[str, Any]
) -> AdapterVersion | None:
    # Locking the job serialises this with a cancel request: a cancelled job never gets an adapter.
    job = FineTuneJob.objects.select_for_update().select_related("base_model").get(pk=job_id)
    existing = AdapterVersion.objects.filter(job=job).first()
    if existing is not None:
        return existing
    if job.status != JobStatus.RUNNING:
        return None
    adapter = AdapterVersion(
        job=job,
        ai_system_id=job.ai_system_id,
        base_model_id=job.base_model_id,
        dataset_version_id=job.dataset_version_id,
        name=f"{job.base_model.name}-lora-job{job.pk}",
        path=str(output_dir),
        files=files,
        sha256=files_sha256(files),
        size_bytes=sum(int(f["size"]) for f in files.values()),
        lora_config=manifest["lora_config"],
        trainable_parameters=manifest["trainable_parameters"],
        total_parameters=manifest["total_parameters"],
        lineage=lineage,
        created_by=job.created_by,
    )
    adapter.full_clean()
    adapter.save()
    audit_record(
        actor=None,
        action="adapter_version.created",
        obj=adapter,
        payload={
            "job": job.pk,
            "sha256": adapter.sha256,
            "base_model": job.base_model_id,
            "dataset_version": job.dataset_version_id,
            "trainable_parameters": adapter.trainable_parameters,
        },
    )
    return adapter


@transaction.atomic
def adapter_version_approve(
    *, actor: User, adapter: AdapterVersion, override_justification: str = ""
) -> AdapterVersion:
    """candidate -> approved, by a compliance officer; a failed evaluation needs a written override."""
    require(actor, "adapter", REVIEW)
    adapter = AdapterVersion.objects.select_for_update().get(pk=adapter.pk)
    if adapter.status == AdapterStatus.APPROVED:
        return adapter
    if adapter.status == AdapterStatus.TAINTED:
        raise Conflict(
            f"the adapter is tainted and cannot be approved: {adapter.taint_reason}", code="adapter_tainted"
        )
    if adapter.status != AdapterStatus.CANDIDATE:
        raise Conflict(
            f"an adapter in status '{adapter.status}' cannot be approved", code="illegal_transition"
        )
    failed = failed_evaluations(adapter)
    justification = _override_justification(adapter, failed, override_justification)
    now = timezone.now()
    adapter.status, adapter.approved_by, adapter.approved_at = AdapterStatus.APPROVED, actor, now
    fields = ["status", "approved_by", "approved_at"]
    if justification:
        adapter.override_justification, adapter.override_by, adapter.override_at = justification, actor, now
        fields += ["override_justification", "override_by", "override_at"]
    adapter.save(update_fields=fields)
    passed = list(adapter.evaluations.filter(subject="adapter").values_list("passed", flat=True))
    payload: dict[str, Any] = {"sha256": adapter.sha256, "evaluations_passed": passed}
    if justification:
        payload["override"] = {
            "justification": justification,
            "failed_evaluations": [e.pk for e in failed],
        }
    audit_record(actor=actor, action="adapter_version.approved", obj=adapter, payload=payload)
    return adapter


def failed_evaluations(adapter: AdapterVersion) -> list[Evaluation]:
    """The adapter's own hold-out evaluations that scored below the AI system's threshold."""
    return list(adapter.evaluations.filter(subject=EvaluationSubject.ADAPTER, passed=False).order_by("id"))


def _override_justification(adapter: AdapterVersion, failed: list[Evaluation], text: str) -> str:
    """The justification to store: "" when every evaluation passed, else a valid one or a refusal."""
    if not failed:
        return ""  # nothing is overridden, so nothing is recorded as an override
    text = (text or "").strip()
    if not text:
        raise Conflict(
            f"the adapter failed {len(failed)} hold-out evaluation(s); approving it needs an override "
            "with a written justification (override_justification)",
            code="evaluation_failed",
            details=[
                {"evaluation": e.pk, "metric": e.primary_metric, "score": e.score, "threshold": e.threshold}
                for e in failed
            ],
        )
    if not OVERRIDE_MIN_CHARS <= len(text) <= OVERRIDE_MAX_CHARS:
        raise ValidationFailed(
            f"override_justification must be {OVERRIDE_MIN_CHARS} to {OVERRIDE_MAX_CHARS} characters",
            code="invalid_override_justification",
            details={"field": "override_justification"},
        )
    return text


@transaction.atomic
def adapter_version_retire(*, actor: User, adapter: AdapterVersion) -> AdapterVersion:
    """candidate / approved / deployed -> retired, by a compliance officer."""
    require(actor, "adapter", REVIEW)
    adapter = AdapterVersion.objects.select_for_update().get(pk=adapter.pk)
    if adapter.status == AdapterStatus.RETIRED:
        return adapter
    if adapter.status == AdapterStatus.TAINTED:
        raise Conflict("a tainted adapter stays tainted", code="illegal_transition")
    previous = adapter.status
    adapter.status, adapter.retired_at = AdapterStatus.RETIRED, timezone.now()
    adapter.save(update_fields=["status", "retired_at"])
    audit_record(
        actor=actor, action="adapter_version.retired", obj=adapter, payload={"previous_status": previous}
    )
    return adapter


@transaction.atomic
def adapter_version_taint(*, actor: User, adapter: AdapterVersion, reason: str) -> AdapterVersion:
    """Mark an adapter as trained on data that must not be used (e.g. an erased subject); final."""
    require(actor, "adapter", REVIEW)
    adapter = AdapterVersion.objects.select_for_update().get(pk=adapter.pk)
    if adapter.status == AdapterStatus.TAINTED:
        return adapter
    if not reason.strip():
        raise Conflict("a taint needs a reason", code="taint_reason_required")
    previous = adapter.status
    adapter.status, adapter.taint_reason = AdapterStatus.TAINTED, reason.strip()
    adapter.save(update_fields=["status", "taint_reason"])
    audit_record(
        actor=actor, action="adapter_version.tainted", obj=adapter, payload={"previous_status": previous}
    )
    deployments_recheck(trigger=f"adapter {adapter.pk} tainted", ai_system_ids=[adapter.ai_system_id])
    return adapter


def adapter_version_archive(adapter: AdapterVersion) -> Path:
    """A zip of the adapter's files after checking each one still has its recorded sha256."""
    directory = Path(adapter.path)
    try:
        current = manifest_of(directory)
    except OSError:
        current = {}
    if current != adapter.files:
        raise Conflict(
            "the adapter's files on disk differ from their recorded sha256",
            code="adapter_files_modified",
            details={
                "missing_or_changed": sorted(k for k in adapter.files if current.get(k) != adapter.files[k])
            },
        )
    handle = tempfile.NamedTemporaryFile(prefix=f"adapter-{adapter.pk}-", suffix=".zip", delete=False)  # noqa: SIM115
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(adapter.files):
            archive.write(directory / name, arcname=name)
        archive.writestr(
            "SHA256SUMS", "".join(f"{adapter.files[n]['sha256']}  {n}\n" for n in sorted(adapter.files))
        )
    handle.close()
    return Path(handle.name)


def adapter_version_download(*, actor: User, adapter: AdapterVersion) -> Path:
    """Build the verified zip and record who took a copy of the weights; a tainted adapter stays put."""
    require(actor, "adapter", DOWNLOAD)
    if adapter.status == AdapterStatus.TAINTED:
        # Tainted weights may hold an erased subject's data: no new copy of them may leave.
        raise Conflict(
            f"the adapter is tainted and cannot be downloaded: {adapter.taint_reason}", code="adapter_tainted"
        )
    path = adapter_version_archive(adapter)
    with transaction.atomic():
        audit_record(
            actor=actor, action="adapter_version.downloaded", obj=adapter, payload={"sha256": adapter.sha256}
        )
    return path
