"""Small helpers shared by the write services."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from governance.errors import ValidationFailed


def save_unique(obj: Any) -> None:
    """Save a row whose name is unique, turning a lost race into the 400 of a duplicate name."""
    # full_clean checks uniqueness, but two requests racing with one name both pass it; the database
    # constraint decides, and the loser gets the same 400 as a sequential duplicate.
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise ValidationFailed(
            "a record with this name already exists",
            code="validation_failed",
            details={"name": ["already exists"]},
        ) from None
