"""The answer register (AI Act Art. 12 logging) and the prompt templates a deployment answers with."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone


class PromptTemplate(models.Model):
    """One version of the prompt a deployment builds its answers from; versions are never edited."""

    deployment = models.ForeignKey(
        "governance.Deployment", on_delete=models.PROTECT, related_name="prompt_templates"
    )
    version = models.PositiveIntegerField()
    text = models.TextField()
    sha256 = models.CharField(max_length=64)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["deployment_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "version"], name="prompt_template_version_unique")
        ]

    def __str__(self) -> str:
        return f"prompt template v{self.version} of deployment #{self.deployment_id}"


class AnswerRecord(models.Model):
    """What produced one answer, kept so an auditor can reconstruct it; texts masked, subjects keyed.

    The question, the answer and any correction are stored masked by the PII scanner; the subject keys
    of the identifiers found in them let an erasure request find and redact the row without reading text.
    """

    deployment = models.ForeignKey("governance.Deployment", on_delete=models.PROTECT, related_name="answers")
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    base_model = models.ForeignKey("training.BaseModel", on_delete=models.PROTECT, related_name="+")
    adapter_version = models.ForeignKey(
        "training.AdapterVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    collection = models.ForeignKey(
        "retrieval.Collection", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    documentation_version = models.PositiveIntegerField(null=True, blank=True)
    prompt_template_version = models.PositiveIntegerField(help_text="0: the platform's built-in template")
    prompt_template_sha256 = models.CharField(max_length=64)
    backend = models.CharField(max_length=30)
    # [{chunk_id, document_id, score}] of the fragments the model was given.
    chunks = models.JSONField(default=list, blank=True)
    k = models.PositiveSmallIntegerField()
    min_score = models.FloatField(null=True, blank=True)
    question_masked = models.TextField()
    answer_masked = models.TextField(blank=True)
    pii_summary = models.JSONField(default=dict, blank=True)
    subject_keys = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    handoff = models.BooleanField(default=False)
    handoff_reason = models.CharField(max_length=50, blank=True)
    # Milliseconds per stage: retrieval, prompt, generation, record, total.
    timings = models.JSONField(default=dict, blank=True)
    tokens_generated = models.PositiveIntegerField(default=0)
    feedback_rating = models.SmallIntegerField(
        null=True, blank=True, help_text="-1 wrong, 0 neutral, 1 right"
    )
    feedback_correction_masked = models.TextField(blank=True)
    feedback_at = models.DateTimeField(null=True, blank=True)
    feedback_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            GinIndex(fields=["subject_keys"], name="answer_subject_keys"),
            models.Index(fields=["deployment", "-created_at"], name="answer_deployment_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(feedback_rating__isnull=True) | models.Q(feedback_rating__in=[-1, 0, 1]),
                name="answer_feedback_rating_valid",
            )
        ]

    def __str__(self) -> str:
        return f"answer {self.pk} of deployment #{self.deployment_id}"
