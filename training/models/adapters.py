"""Adapter versions (one per succeeded job) and hold-out evaluations."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from governance.choices import check_in
from governance.models.base import RegisterModel
from training.choices import AdapterStatus, EvaluationSource, EvaluationSubject


class AdapterVersion(RegisterModel):
    """The LoRA weights one succeeded job produced, with file hashes and full lineage."""

    job = models.OneToOneField("training.FineTuneJob", on_delete=models.PROTECT, related_name="adapter")
    ai_system = models.ForeignKey("governance.AISystem", on_delete=models.PROTECT, related_name="adapters")
    base_model = models.ForeignKey("training.BaseModel", on_delete=models.PROTECT, related_name="adapters")
    dataset_version = models.ForeignKey(
        "governance.DatasetVersion", on_delete=models.PROTECT, related_name="adapters"
    )
    name = models.CharField(max_length=300, unique=True)
    path = models.CharField(max_length=1000)
    files = models.JSONField(help_text="file name -> {sha256, size}")
    sha256 = models.CharField(max_length=64, help_text="sha256 of the canonical JSON of `files`")
    size_bytes = models.BigIntegerField()
    lora_config = models.JSONField()
    trainable_parameters = models.BigIntegerField()
    total_parameters = models.BigIntegerField()
    lineage = models.JSONField(help_text="base model, dataset version, job, hyper-parameters, code, hardware")
    status = models.CharField(max_length=20, choices=AdapterStatus.choices, default=AdapterStatus.CANDIDATE)
    taint_reason = models.TextField(blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # Approving an adapter that failed its hold-out threshold takes a written justification, kept here.
    override_justification = models.TextField(blank=True)
    override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    override_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    # Set when an erasure request tainted the adapter and deleted its weights and its job's checkpoints;
    # the row keeps sha256 and lineage so what was trained on what stays on record.
    files_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=check_in("status", AdapterStatus), name="adapter_status_valid"),
            models.CheckConstraint(
                condition=~models.Q(status=AdapterStatus.TAINTED) | ~models.Q(taint_reason=""),
                name="adapter_tainted_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Evaluation(RegisterModel):
    """Scores of an adapter version, or of its base model alone (the baseline), on a hold-out split."""

    subject = models.CharField(max_length=20, choices=EvaluationSubject.choices)
    adapter_version = models.ForeignKey(
        AdapterVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="evaluations"
    )
    base_model = models.ForeignKey("training.BaseModel", on_delete=models.PROTECT, related_name="evaluations")
    ai_system = models.ForeignKey("governance.AISystem", on_delete=models.PROTECT, related_name="evaluations")
    dataset_version = models.ForeignKey(
        "governance.DatasetVersion", on_delete=models.PROTECT, related_name="evaluations"
    )
    job = models.ForeignKey(
        "training.FineTuneJob", null=True, blank=True, on_delete=models.PROTECT, related_name="evaluations"
    )
    source = models.CharField(
        max_length=20, choices=EvaluationSource.choices, default=EvaluationSource.PLATFORM
    )
    metrics = models.JSONField()
    primary_metric = models.CharField(max_length=30)
    score = models.FloatField()
    sample_count = models.PositiveIntegerField()
    threshold = models.FloatField()
    passed = models.BooleanField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=check_in("subject", EvaluationSubject), name="evaluation_subject_valid"
            ),
            models.CheckConstraint(
                condition=check_in("source", EvaluationSource), name="evaluation_source_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(subject=EvaluationSubject.ADAPTER, adapter_version__isnull=False)
                | models.Q(subject=EvaluationSubject.BASELINE, adapter_version__isnull=True),
                name="evaluation_subject_matches_adapter",
            ),
            models.CheckConstraint(
                condition=models.Q(threshold__gte=0, threshold__lte=1), name="evaluation_threshold_unit"
            ),
            models.CheckConstraint(condition=models.Q(sample_count__gte=1), name="evaluation_has_samples"),
            # A redelivered job evaluates again: one row per job and subject keeps that idempotent.
            models.UniqueConstraint(
                fields=["job", "subject"],
                condition=models.Q(job__isnull=False),
                name="evaluation_job_subject_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} evaluation {self.pk}"
