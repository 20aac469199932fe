"""Write services for base models: registration and the weight manifest."""

from __future__ import annotations

import logging
from pathlib import Path

from django.db import transaction

from governance import claim
from governance.enqueue import enqueue_on_commit
from governance.errors import Conflict
from governance.policy import REVIEW, require
from governance.roles import User, user_or_none
from governance.services.audit import audit_record
from governance.services.deployments import deployments_recheck
from training.choices import BaseModelStatus
from training.modelinfo import ModelInfo, file_sha256, inspect_model_dir, manifest_sha256, weight_files
from training.models import BaseModel

logger = logging.getLogger(__name__)


def base_model_register(*, actor: User, name: str, path: str, licence: str = "") -> BaseModel:
    """Register a local model directory; its manifest is computed by a task on the gpu queue."""
    if BaseModel.objects.filter(name=name).exists():
        raise Conflict(f"a base model named '{name}' exists", code="base_model_name_taken")
    info = inspect_model_dir(path)  # reads config.json and builds on the meta device: no transaction open
    return _store(actor, name, licence, info)


@transaction.atomic
def _store(actor: User, name: str, licence: str, info: ModelInfo) -> BaseModel:
    model = BaseModel(
        name=name,
        path=info.path,
        licence=licence,
        architecture=info.architecture,
        model_type=info.model_type,
        parameter_count=info.parameter_count,
        max_sequence_length=info.max_sequence_length,
        config_sha256=info.config_sha256,
        module_names=info.module_names,
        default_target_modules=info.default_target_modules,
        created_by=user_or_none(actor),
    )
    model.full_clean()
    model.save()
    enqueue_on_commit("training.tasks.compute_base_model_manifest", model.pk, queue="gpu")
    audit_record(
        actor=actor,
        action="base_model.registered",
        obj=model,
        payload={
            "architecture": model.architecture,
            "parameter_count": model.parameter_count,
            "config_sha256": model.config_sha256,
            "licence": licence,
        },
    )
    return model


def base_model_compute_manifest(*, base_model_id: int) -> BaseModel:
    """Claim the model, hash every file of its directory (outside any transaction), record the manifest."""
    claimed = claim.claim_row(
        BaseModel,
        base_model_id,
        claimable_statuses=[BaseModelStatus.PENDING],
        running_status=BaseModelStatus.PENDING,  # held, not a new status: the owner columns say who hashes
        on_exhausted=_exhausted,
    )
    model = BaseModel.objects.get(pk=base_model_id)
    if claimed is None:
        return model  # a redelivered task: finished, or a live worker is hashing it
    try:
        manifest = _hash_files(Path(model.path), base_model_id)
    except OSError as exc:
        logger.exception("manifest of base model %s failed", base_model_id)
        return _finish(base_model_id, {}, error=f"{type(exc).__name__}: the model files could not be read")
    return _finish(base_model_id, manifest, error="")


def _hash_files(path: Path, base_model_id: int) -> dict[str, dict[str, object]]:
    """manifest_of, with a heartbeat after each file: a 7B model's weights take minutes to hash."""
    manifest: dict[str, dict[str, object]] = {}
    for item in weight_files(path):
        manifest[str(item.relative_to(path))] = {"sha256": file_sha256(item), "size": item.stat().st_size}
        claim.heartbeat(BaseModel, [base_model_id])
    return manifest


def _exhausted(base_model_id: int, attempts: int) -> None:
    _finish(
        base_model_id,
        {},
        error=f"worker_lost: the worker stopped during each of {attempts} attempts to hash the weights",
        held=False,
    )


@transaction.atomic
def _finish(
    base_model_id: int, manifest: dict[str, dict[str, object]], *, error: str, held: bool = True
) -> BaseModel:
    model = BaseModel.objects.select_for_update().get(pk=base_model_id)
    if model.status != BaseModelStatus.PENDING or (held and not claim.is_mine(model)):
        return model  # a redelivered task finished it, or another run took it over
    if error or not manifest:
        model.status, model.manifest_error = BaseModelStatus.FAILED, error or "the directory holds no files"
    else:
        model.status, model.manifest, model.manifest_error = BaseModelStatus.READY, manifest, ""
        model.manifest_sha256 = manifest_sha256(manifest)
        model.size_bytes = sum(int(str(entry["size"])) for entry in manifest.values())
    model.full_clean()
    model.save()
    audit_record(
        actor=None,
        action=f"base_model.manifest_{model.status}",
        obj=model,
        payload={
            "manifest_sha256": model.manifest_sha256,
            "files": len(manifest),
            "size_bytes": model.size_bytes,
        },
    )
    return model


@transaction.atomic
def base_model_taint(*, actor: User, base_model: BaseModel, reason: str) -> BaseModel:
    """Mark a base model unusable (licence withdrawn, poisoned weights); new jobs on it are refused."""
    require(actor, "base_model", REVIEW)
    model = BaseModel.objects.select_for_update().get(pk=base_model.pk)
    if model.taint_reason:
        return model
    if not reason.strip():
        raise Conflict("a taint needs a reason", code="taint_reason_required")
    model.taint_reason = reason.strip()
    model.save(update_fields=["taint_reason"])
    audit_record(actor=actor, action="base_model.tainted", obj=model, payload={})
    deployments_recheck(trigger=f"base model {model.pk} tainted")
    return model
