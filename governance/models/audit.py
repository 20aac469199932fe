"""The tamper-evident audit chain (DESIGN section 7)."""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """One append-only link: hash = sha256(prev_hash || canonical JSON of the event)."""

    sequence = models.BigIntegerField(unique=True)
    timestamp = models.DateTimeField()
    actor = models.CharField(max_length=150, blank=True, help_text="Username, or 'system' for tasks")
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100, db_index=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    payload = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.object_type}:{self.object_id}"


class AuditChainHead(models.Model):
    """The single row that remembers the last link, so a truncated tail is detectable."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.BigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_head_single_row")]

    def __str__(self) -> str:
        return f"head #{self.sequence} {self.hash}"
