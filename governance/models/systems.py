"""AI systems register."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from governance.choices import AISystemStatus, Approach, RiskClass, check_in
from governance.models.base import RegisterModel


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
    human_oversight = models.TextField(blank=True)
    # Evaluations of adapters built for this system pass when their score reaches this threshold.
    evaluation_threshold = models.FloatField(default=0.5)
    # Retraining policy after an erasure request taints an adapter: queue a job on the cleaned version.
    retrain_on_erasure = models.BooleanField(
        default=False,
        help_text="When an erasure request taints an adapter of this system, queue a retrain on the cleaned "
        "dataset version (through the normal gates)",
    )
    status = models.CharField(max_length=20, choices=AISystemStatus.choices, default=AISystemStatus.DRAFT)

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
                condition=models.Q(evaluation_threshold__gte=0, evaluation_threshold__lte=1),
                name="aisystem_threshold_unit_interval",
            ),
        ]

    def __str__(self) -> str:
        return self.name
