"""Data protection impact assessments after the CNIL PIA structure."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from governance.choices import DPIAStatus, Level, check_in
from governance.models.base import RegisterModel

RISKS = ("illegitimate_access", "unwanted_modification", "disappearance")


class DPIA(RegisterModel):
    """A DPIA for an AI system and the datasets it covers (draft -> in_review -> approved / rejected)."""

    title = models.CharField(max_length=200)
    ai_system = models.ForeignKey("governance.AISystem", on_delete=models.PROTECT, related_name="dpias")
    datasets = models.ManyToManyField("governance.Dataset", related_name="dpias", blank=True)
    # 1. Context
    context = models.TextField(blank=True, help_text="Processing, purposes, data, recipients, retention")
    # 2. Fundamental principles
    necessity_proportionality = models.TextField(blank=True)
    data_subject_rights = models.TextField(blank=True)
    # 3. Risks: each with likelihood and severity on the CNIL four-level scale
    illegitimate_access_likelihood = models.CharField(max_length=20, choices=Level.choices, blank=True)
    illegitimate_access_severity = models.CharField(max_length=20, choices=Level.choices, blank=True)
    unwanted_modification_likelihood = models.CharField(max_length=20, choices=Level.choices, blank=True)
    unwanted_modification_severity = models.CharField(max_length=20, choices=Level.choices, blank=True)
    disappearance_likelihood = models.CharField(max_length=20, choices=Level.choices, blank=True)
    disappearance_severity = models.CharField(max_length=20, choices=Level.choices, blank=True)
    planned_measures = models.TextField(blank=True)
    dpo_opinion = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=DPIAStatus.choices, default=DPIAStatus.DRAFT)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reviewed_dpias",
    )
    review_comment = models.TextField(blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    review_due = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "DPIA"
        verbose_name_plural = "DPIAs"
        constraints = [
            models.CheckConstraint(condition=check_in("status", DPIAStatus), name="dpia_status_valid"),
            models.CheckConstraint(
                condition=~models.Q(status=DPIAStatus.APPROVED)
                | models.Q(reviewer__isnull=False, approved_at__isnull=False, review_due__isnull=False),
                name="dpia_approved_has_reviewer_and_due_date",
            ),
            *[
                models.CheckConstraint(
                    condition=check_in(f"{risk}_{axis}", Level) | models.Q(**{f"{risk}_{axis}": ""}),
                    name=f"dpia_{risk}_{axis}_valid",
                )
                for risk in RISKS
                for axis in ("likelihood", "severity")
            ],
        ]

    def __str__(self) -> str:
        return self.title
