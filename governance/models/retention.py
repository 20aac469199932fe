"""Storage limitation (GDPR Art. 5(1)(e)): legal holds, and what each retention sweep noticed or removed."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from governance.choices import check_in
from governance.models.base import RegisterModel


class RetentionRule(models.TextChoices):
    """Which retention rule a run applied."""

    DATASET = "dataset_retention_until", _("Dataset past its retention date (personal records)")
    COLLECTION = "collection_document_retention", _("Documents past their collection's retention")


class RetentionOutcome(models.TextChoices):
    """What a sweep did about one target: told the officers, removed data, or left it under a hold."""

    NOTIFIED = "notified", _("Officers notified")
    ENFORCED = "enforced", _("Deleted")
    HELD = "held", _("Kept under a legal hold")


class RetentionTarget(models.TextChoices):
    DATASET = "dataset", _("Dataset")
    COLLECTION = "collection", _("Collection")


class LegalHold(RegisterModel):
    """An officer's legal hold on a dataset or a collection: retention removes nothing of it while active.

    Exactly one of `dataset` and `collection` is set. Lifting keeps the row (who, when, why it was
    held) for the audit trail; a new hold is a new row.
    """

    dataset = models.ForeignKey(
        "governance.Dataset", null=True, blank=True, on_delete=models.PROTECT, related_name="legal_holds"
    )
    collection = models.ForeignKey(
        "retrieval.Collection", null=True, blank=True, on_delete=models.PROTECT, related_name="legal_holds"
    )
    reason = models.TextField(_("reason"))
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lift_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(dataset__isnull=False, collection__isnull=True)
                | models.Q(dataset__isnull=True, collection__isnull=False),
                name="legal_hold_one_target",
            ),
            models.CheckConstraint(condition=~models.Q(reason=""), name="legal_hold_reason_required"),
        ]

    @property
    def active(self) -> bool:
        return self.lifted_at is None

    @property
    def target_label(self) -> str:
        if self.dataset_id:
            return f"dataset {self.dataset_id}"
        return f"collection {self.collection_id}"

    def __str__(self) -> str:
        return f"hold on {self.target_label}" + ("" if self.active else " (lifted)")


class RetentionRun(models.Model):
    """One sweep's action on one target: a notice, a removal (counts and ids, never content) or a hold.

    A notice and a hold are recorded once per target and due date (the unique constraint makes a second
    sweep a no-op); a removal is recorded each time a sweep removed something.
    """

    rule = models.CharField(max_length=40, choices=RetentionRule.choices)
    outcome = models.CharField(max_length=20, choices=RetentionOutcome.choices)
    target_type = models.CharField(max_length=20, choices=RetentionTarget.choices)
    target_id = models.BigIntegerField()
    target_name = models.CharField(max_length=200)
    due_on = models.DateField(help_text=_("The first day the data may no longer be kept"))
    # Counts per kind (records_removed, dataset_versions_replaced, adapters_tainted, documents, chunks).
    counts = models.JSONField(default=dict, blank=True)
    # Ids only: replaced and new versions, tainted adapters, deleted documents, blocked deployments.
    ids = models.JSONField(default=dict, blank=True)
    hold = models.ForeignKey(LegalHold, null=True, blank=True, on_delete=models.PROTECT, related_name="runs")
    notified = models.JSONField(default=list, blank=True, help_text=_("Officer user ids e-mailed"))
    purge = models.JSONField(default=dict, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=check_in("rule", RetentionRule), name="retention_run_rule_valid"
            ),
            models.CheckConstraint(
                condition=check_in("outcome", RetentionOutcome), name="retention_run_outcome_valid"
            ),
            models.CheckConstraint(
                condition=check_in("target_type", RetentionTarget), name="retention_run_target_valid"
            ),
            models.UniqueConstraint(
                fields=["outcome", "target_type", "target_id", "due_on"],
                condition=models.Q(outcome__in=["notified", "held"]),
                name="retention_run_once_per_due_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()}: {self.target_type} {self.target_name} ({self.due_on})"
