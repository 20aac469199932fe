"""TextChoices for every status and category field in training."""

from __future__ import annotations

from django.db import models


class BaseModelStatus(models.TextChoices):
    PENDING = "pending", "Manifest pending"
    READY = "ready", "Ready"
    FAILED = "failed", "Manifest failed"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    VALIDATING = "validating", "Validating"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# A worker may (re)claim a job in these states; the others are final.
ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.VALIDATING, JobStatus.RUNNING)
FINAL_JOB_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class EventLevel(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class AdapterStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    APPROVED = "approved", "Approved"
    DEPLOYED = "deployed", "Deployed"
    RETIRED = "retired", "Retired"
    TAINTED = "tainted", "Tainted"


class EvaluationSubject(models.TextChoices):
    ADAPTER = "adapter", "Adapter version"
    BASELINE = "baseline", "Base model alone (baseline)"


class EvaluationSource(models.TextChoices):
    PLATFORM = "platform", "Computed by the platform"
    EXTERNAL = "external", "Recorded from elsewhere"
