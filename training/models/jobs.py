"""Fine-tune jobs and the events they write while they run."""

from __future__ import annotations

from django.db import models

from governance.choices import check_in
from governance.models.base import RegisterModel
from training.choices import EventLevel, JobStatus


class FineTuneJob(RegisterModel):
    """A LoRA fine-tune of a base model on a dataset version (queued -> validating -> running -> final)."""

    ai_system = models.ForeignKey(
        "governance.AISystem", on_delete=models.PROTECT, related_name="fine_tune_jobs"
    )
    base_model = models.ForeignKey("training.BaseModel", on_delete=models.PROTECT, related_name="jobs")
    dataset_version = models.ForeignKey(
        "governance.DatasetVersion", on_delete=models.PROTECT, related_name="fine_tune_jobs"
    )
    hyperparameters = models.JSONField(help_text="Validated and completed with defaults")
    seed = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    request_sha256 = models.CharField(max_length=64, help_text="Fingerprint of the creating request")
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    device = models.CharField(max_length=255, blank=True)
    current_step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    progress = models.FloatField(default=0.0)
    train_tokens = models.BigIntegerField(default=0)
    train_seconds = models.FloatField(default=0.0)
    startup_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=check_in("status", JobStatus), name="fine_tune_job_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(progress__gte=0, progress__lte=1), name="fine_tune_job_progress_unit"
            ),
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="fine_tune_job_idempotency_unique",
            ),
        ]
        indexes = [models.Index(fields=["status"], name="fine_tune_job_status_idx")]

    def __str__(self) -> str:
        return f"fine-tune job {self.pk}"


class FineTuneEvent(models.Model):
    """A line of a job's log: status changes, progress (loss, learning rate, tokens/s), checkpoints."""

    job = models.ForeignKey(FineTuneJob, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    level = models.CharField(max_length=10, choices=EventLevel.choices, default=EventLevel.INFO)
    kind = models.CharField(max_length=30, help_text="created, claimed, resumed, progress, checkpoint, ...")
    message = models.TextField(blank=True)
    step = models.PositiveIntegerField(null=True, blank=True)
    loss = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    tokens_per_s = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["job", "id"]
        constraints = [
            models.CheckConstraint(
                condition=check_in("level", EventLevel), name="fine_tune_event_level_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.kind} {self.message}"
