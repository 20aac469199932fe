"""Write services for base models: registration and the weight manifest."""

from __future__ import annotations

import logging
from pathlib import Path

from django.db import transaction

from governance.errors import Conflict
from governance.roles import User, user_or_none
from governance.services.audit import audit_record
from training.choices import BaseModelStatus
from training.modelinfo import ModelInfo, inspect_model_dir, manifest_of, manifest_sha256
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
    transaction.on_commit(lambda: _enqueue_manifest(model.pk))
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


def _enqueue_manifest(model_id: int) -> None:
    from training.tasks import compute_base_model_manifest

    compute_base_model_manifest.delay(model_id)


def base_model_compute_manifest(*, base_model_id: int) -> BaseModel:
    """Hash every file of the model directory (outside any transaction), then record the manifest."""
    model = BaseModel.objects.get(pk=base_model_id)
    if model.status == BaseModelStatus.READY:
        return model  # a redelivered task: nothing to do
    try:
        manifest = manifest_of(Path(model.path))
    except OSError as exc:
        logger.exception("manifest of base model %s failed", base_model_id)
        return _finish(base_model_id, {}, error=f"{type(exc).__name__}: the model files could not be read")
    return _finish(base_model_id, manifest, error="")


@transaction.atomic
def _finish(base_model_id: int, manifest: dict[str, dict[str, object]], *, error: str) -> BaseModel:
    model = BaseModel.objects.select_for_update().get(pk=base_model_id)
    if model.status == BaseModelStatus.READY:
        return model  # a redelivered task: the manifest is already on record
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
    model = BaseModel.objects.select_for_update().get(pk=base_model.pk)
    if model.taint_reason:
        return model
    model.taint_reason = reason
    model.save(update_fields=["taint_reason"])
    audit_record(actor=actor, action="base_model.tainted", obj=model, payload={})
    return model
