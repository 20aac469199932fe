"""AI systems register."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from governance.choices import AISystemStatus, Approach, DeclarationStatus, RiskClass, check_in
from governance.models.base import RegisterModel

# The longest free-text fact a system may carry (characters): each is printed whole in the Annex IV PDF.
FACT_MAX_CHARS = 20_000


class AISystem(RegisterModel):
    """An AI system the organisation runs: its purpose, AI Act risk class and approach."""

    name = models.CharField(max_length=200, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_systems"
    )
    intended_purpose = models.TextField()
    risk_class = models.CharField(max_length=20, choices=RiskClass.choices, default=RiskClass.MINIMAL)
    approach = models.CharField(max_length=20, choices=Approach.choices, default=Approach.RAG)
    advisor_assessment = models.JSONField(default=dict, blank=True)
    human_oversight = models.TextField(blank=True, max_length=FACT_MAX_CHARS)
    # Evaluations of adapters built for this system pass when their score reaches this threshold.
    evaluation_threshold = models.FloatField(
        default=0.5, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    # Retraining policy after an erasure request taints an adapter: queue a job on the cleaned version.
    retrain_on_erasure = models.BooleanField(
        default=False,
        help_text="When an erasure request taints an adapter of this system, queue a retrain on the cleaned "
        "dataset version (through the normal gates)",
    )
    # Retraining signal from answers (answers/signal.py): over the last `retrain_signal_window` answers of
    # a deployment, the share of hand-offs and negative feedback above this threshold flags it.
    retrain_signal_threshold = models.FloatField(
        default=0.3,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Share (0-1) of hand-offs and negative feedback that calls for a retrain",
    )
    retrain_signal_window = models.PositiveIntegerField(
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text="How many of a deployment's latest answers the share is taken over",
    )
    status = models.CharField(max_length=20, choices=AISystemStatus.choices, default=AISystemStatus.DRAFT)
    # Who classified the system and when: a risk class nobody decided (the default an engineer's
    # registration gets) is not "recorded" for the deployment gate.
    risk_class_decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    risk_class_decided_at = models.DateTimeField(null=True, blank=True)
    # Facts of the AI Act Annex IV documentation the other registers do not hold; officers edit them.
    provider = models.TextField(
        max_length=FACT_MAX_CHARS, blank=True, help_text="Name and address of the provider (Annex IV 1(a))"
    )
    system_version = models.CharField(
        max_length=100, blank=True, help_text="Version of the system as placed on the market (Annex IV 1(c))"
    )
    hardware = models.TextField(
        max_length=FACT_MAX_CHARS,
        blank=True,
        help_text="Hardware the system is intended to run on (Annex IV 1(e))",
    )
    instructions_for_use = models.TextField(
        max_length=FACT_MAX_CHARS,
        blank=True,
        help_text="How the system is used and by whom (Annex IV 1(f)-(h))",
    )
    metrics_rationale = models.TextField(
        max_length=FACT_MAX_CHARS,
        blank=True,
        help_text="Why the evaluation metrics fit the intended purpose (Annex IV 4)",
    )
    standards_applied = models.TextField(
        max_length=FACT_MAX_CHARS,
        blank=True,
        help_text="Harmonised standards or other specifications applied (Annex IV 7)",
    )
    declaration_status = models.CharField(
        max_length=20, choices=DeclarationStatus.choices, default=DeclarationStatus.NOT_STARTED
    )
    declaration_reference = models.CharField(
        max_length=200, blank=True, help_text="Reference of the EU declaration of conformity (Annex IV 8)"
    )
    monitoring_plan = models.TextField(
        max_length=FACT_MAX_CHARS, blank=True, help_text="Post-market monitoring plan (Annex IV 9)"
    )
    # GDPR Art. 30(1)(d): who receives the personal data the system processes.
    recipients = models.TextField(
        max_length=FACT_MAX_CHARS, blank=True, help_text="Recipients of the personal data (GDPR Art. 30)"
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "AI system"
        constraints = [
            models.CheckConstraint(
                condition=check_in("risk_class", RiskClass), name="aisystem_risk_class_valid"
            ),
            models.CheckConstraint(condition=check_in("approach", Approach), name="aisystem_approach_valid"),
            models.CheckConstraint(
                condition=check_in("status", AISystemStatus), name="aisystem_status_valid"
            ),
            models.CheckConstraint(
                condition=check_in("declaration_status", DeclarationStatus),
                name="aisystem_declaration_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(evaluation_threshold__gte=0, evaluation_threshold__lte=1),
                name="aisystem_threshold_unit_interval",
            ),
            models.CheckConstraint(
                condition=models.Q(retrain_signal_threshold__gte=0, retrain_signal_threshold__lte=1)
                & models.Q(retrain_signal_window__gte=1, retrain_signal_window__lte=100_000),
                name="aisystem_retrain_signal_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name
