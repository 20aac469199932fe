"""Base models: local weights the GPU hosts load offline."""

from __future__ import annotations

from django.db import models

from governance.choices import check_in
from governance.models.base import RegisterModel
from training.choices import BaseModelStatus


class BaseModel(RegisterModel):
    """A causal LM on local disk: architecture read from config.json, sha256 manifest of its weights."""

    name = models.CharField(max_length=200, unique=True)
    path = models.CharField(max_length=1000, help_text="Absolute directory on the GPU hosts (never a hub id)")
    licence = models.CharField(max_length=200, blank=True)
    architecture = models.CharField(max_length=200)
    model_type = models.CharField(max_length=100)
    parameter_count = models.BigIntegerField()
    max_sequence_length = models.PositiveIntegerField()
    config_sha256 = models.CharField(max_length=64)
    # Names of the Linear layers (last path part), so target modules are checked without loading weights.
    module_names = models.JSONField(default=list)
    default_target_modules = models.JSONField(default=list)
    status = models.CharField(max_length=20, choices=BaseModelStatus.choices, default=BaseModelStatus.PENDING)
    manifest = models.JSONField(default=dict, blank=True, help_text="weight file -> {sha256, size}")
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    manifest_error = models.TextField(blank=True)
    # Set when the weights must no longer be used (e.g. a licence withdrawn); jobs on it are refused.
    taint_reason = models.TextField(blank=True)
    # The claim primitive's columns (governance/claim.py): who holds the row and since when it is alive.
    attempts = models.PositiveSmallIntegerField(default=0)
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=check_in("status", BaseModelStatus), name="base_model_status_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(status=BaseModelStatus.READY) | ~models.Q(manifest_sha256=""),
                name="base_model_ready_has_manifest",
            ),
        ]

    def __str__(self) -> str:
        return self.name
