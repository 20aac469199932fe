"""Deployments of an AI system's model configuration, and their Annex IV documentation versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from governance.choices import AnswerBackend, DeploymentStatus, Environment, check_in
from governance.models.base import RegisterModel


class Deployment(RegisterModel):
    """One configuration (base model, optional adapter, optional collection) in one environment.

    requested -> approved (an officer who is not the requester, every gate passing) -> active ->
    retired; approved or active -> blocked when a gate stops holding (taint, DPIA expiry, erasure).
    """

    ai_system = models.ForeignKey("governance.AISystem", on_delete=models.PROTECT, related_name="deployments")
    base_model = models.ForeignKey("training.BaseModel", on_delete=models.PROTECT, related_name="deployments")
    adapter_version = models.ForeignKey(
        "training.AdapterVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="deployments"
    )
    collection = models.ForeignKey(
        "retrieval.Collection", null=True, blank=True, on_delete=models.PROTECT, related_name="deployments"
    )
    environment = models.CharField(max_length=20, choices=Environment.choices)
    status = models.CharField(
        max_length=20, choices=DeploymentStatus.choices, default=DeploymentStatus.REQUESTED
    )
    notes = models.TextField(blank=True, help_text="What the requester wants deployed and why")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # Every gate's result at approval, as the API returned them: what the officer approved against.
    gate_results = models.JSONField(default=list, blank=True)
    documentation = models.ForeignKey(
        "governance.DeploymentDocumentation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The documentation version the deployment was approved with",
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_reason = models.TextField(blank=True)
    blocked_at = models.DateTimeField(null=True, blank=True)
    # The failed gates (code, message, what unblocks it) when the deployment was blocked.
    blocked_reasons = models.JSONField(default=list, blank=True)
    blocked_from = models.CharField(max_length=20, blank=True, help_text="The status it was blocked in")
    # How it answers (answers/): the backend, the inference server and the model name it serves the
    # adapter under, and whether an answer needs a retrieved fragment (else a hand-off to a person).
    answer_backend = models.CharField(
        max_length=30, choices=AnswerBackend.choices, default=AnswerBackend.LOCAL
    )
    inference_url = models.CharField(
        max_length=200,
        blank=True,
        help_text="openai_compatible: the server's base URL, e.g. http://vllm:8000",
    )
    inference_model = models.CharField(
        max_length=200,
        blank=True,
        help_text="openai_compatible: the name the server serves the adapter (or the base model) under; "
        "empty: the adapter's name",
    )
    requires_grounding = models.BooleanField(
        default=True,
        help_text="With a collection: answer only from retrieved fragments; nothing relevant hands off",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=check_in("status", DeploymentStatus), name="deployment_status_valid"
            ),
            models.CheckConstraint(
                condition=check_in("answer_backend", AnswerBackend), name="deployment_answer_backend_valid"
            ),
            models.CheckConstraint(
                condition=check_in("environment", Environment), name="deployment_environment_valid"
            ),
            # At most one active deployment per AI system and environment, whatever the application does.
            models.UniqueConstraint(
                fields=["ai_system", "environment"],
                condition=models.Q(status=DeploymentStatus.ACTIVE),
                name="deployment_one_active_per_system_environment",
            ),
            # Four eyes, kept by the database as well as by the service.
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True)
                | ~models.Q(approved_by=models.F("requested_by")),
                name="deployment_approver_is_not_requester",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ai_system} {self.environment} #{self.pk}"


class DeploymentDocumentation(RegisterModel):
    """One version of a deployment's Annex IV technical documentation: the facts, their PDF, both hashed.

    Immutable: a change of facts makes a new version and keeps the old one.
    """

    deployment = models.ForeignKey(
        "governance.Deployment", on_delete=models.PROTECT, related_name="documentation_versions"
    )
    version = models.PositiveIntegerField()
    facts = models.JSONField()
    facts_sha256 = models.CharField(max_length=64)
    missing = models.JSONField(default=list, blank=True, help_text="Required facts the registers lack")
    pdf_path = models.CharField(max_length=1000)
    pdf_sha256 = models.CharField(max_length=64)
    pdf_size = models.PositiveIntegerField()
    chain_head_sequence = models.PositiveBigIntegerField(default=0)
    chain_head_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["deployment", "-version"]
        verbose_name = "deployment documentation"
        verbose_name_plural = "deployment documentation"
        constraints = [
            models.UniqueConstraint(fields=["deployment", "version"], name="documentation_version_unique"),
            models.UniqueConstraint(fields=["deployment", "facts_sha256"], name="documentation_facts_unique"),
        ]

    def __str__(self) -> str:
        return f"Annex IV of deployment {self.deployment_id} v{self.version}"
