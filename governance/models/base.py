"""Fields every register row carries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class RegisterModel(models.Model):
    """Abstract base: created_at and created_by on every register row."""

    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        abstract = True
