"""DPIA workflow: draft -> in_review -> approved / rejected; approved -> expired after review_due."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.choices import DPIAStatus
from governance.errors import Conflict, NotPermitted, ValidationFailed
from governance.models import DPIA
from governance.policy import REVIEW, WRITE, require
from governance.roles import User, user_or_none
from governance.services.audit import audit_record

CONTENT_FIELDS = (
    "title",
    "context",
    "necessity_proportionality",
    "data_subject_rights",
    "illegitimate_access_likelihood",
    "illegitimate_access_severity",
    "unwanted_modification_likelihood",
    "unwanted_modification_severity",
    "disappearance_likelihood",
    "disappearance_severity",
    "planned_measures",
    "dpo_opinion",
)
# A DPIA goes to review only when every CNIL section is filled in.
REQUIRED_FOR_REVIEW = tuple(f for f in CONTENT_FIELDS if f != "dpo_opinion")


@transaction.atomic
def dpia_create(*, actor: User, ai_system: Any, datasets: list[Any] | None = None, **fields: Any) -> DPIA:
    """Open a draft DPIA for an AI system."""
    dpia = DPIA(
        ai_system=ai_system,
        created_by=user_or_none(actor),
        **{k: v for k, v in fields.items() if k in CONTENT_FIELDS},
    )
    dpia.full_clean()
    dpia.save()
    if datasets:
        dpia.datasets.set(datasets)
    audit_record(
        actor=actor,
        action="dpia.created",
        obj=dpia,
        payload={"ai_system": ai_system.pk, "datasets": sorted(d.pk for d in datasets or [])},
    )
    return dpia


@transaction.atomic
def dpia_update(*, actor: User, dpia: DPIA, datasets: list[Any] | None = None, **fields: Any) -> DPIA:
    """Edit a DPIA's content; only drafts and rejected DPIAs (before resubmission) can change."""
    dpia = DPIA.objects.select_for_update().get(pk=dpia.pk)
    if dpia.status not in (DPIAStatus.DRAFT, DPIAStatus.REJECTED):
        raise Conflict(f"a DPIA in status '{dpia.status}' cannot be edited", code="dpia_not_draft")
    changed = sorted(k for k in CONTENT_FIELDS if k in fields and getattr(dpia, k) != fields[k])
    for key in changed:
        setattr(dpia, key, fields[key])
    if datasets is not None:
        dpia.datasets.set(datasets)
        changed.append("datasets")
    if not changed:
        return dpia
    dpia.full_clean()
    dpia.save()
    audit_record(actor=actor, action="dpia.updated", obj=dpia, payload={"changed": sorted(changed)})
    return dpia


def _lock(dpia: DPIA) -> DPIA:
    return DPIA.objects.select_for_update().get(pk=dpia.pk)


def _refuse(dpia: DPIA, action: str) -> Conflict:
    return Conflict(
        f"cannot {action} a DPIA in status '{dpia.status}'",
        code="invalid_transition",
        details={"status": dpia.status, "action": action},
    )


@transaction.atomic
def dpia_submit(*, actor: User, dpia: DPIA) -> DPIA:
    """Send a complete draft to review; submitting one already in review changes nothing."""
    require(actor, "dpia", WRITE)
    dpia = _lock(dpia)
    if dpia.status == DPIAStatus.IN_REVIEW:
        return dpia
    if dpia.status not in (DPIAStatus.DRAFT, DPIAStatus.REJECTED):
        raise _refuse(dpia, "submit")
    missing = [f for f in REQUIRED_FOR_REVIEW if not getattr(dpia, f)]
    if missing:
        raise ValidationFailed(
            "every section must be filled in before review",
            code="dpia_incomplete",
            details={"missing": missing},
        )
    dpia.status, dpia.submitted_at = DPIAStatus.IN_REVIEW, timezone.now()
    dpia.save(update_fields=["status", "submitted_at"])
    audit_record(actor=actor, action="dpia.submitted", obj=dpia)
    return dpia


def _check_reviewer(actor: User, dpia: DPIA) -> None:
    require(actor, "dpia", REVIEW)
    if actor is not None and dpia.created_by_id == actor.pk:
        raise NotPermitted("the author of a DPIA cannot review it", code="author_cannot_review")


@transaction.atomic
def dpia_approve(*, actor: User, dpia: DPIA, review_due: dt.date | None = None, comment: str = "") -> DPIA:
    """Approve a DPIA in review. A second approval is a conflict and records nothing."""
    dpia = _lock(dpia)
    _check_reviewer(actor, dpia)
    if dpia.status != DPIAStatus.IN_REVIEW:
        raise _refuse(dpia, "approve")
    today = timezone.localdate()
    due = review_due or today + dt.timedelta(days=settings.DPIA_REVIEW_DAYS)
    if due <= today:
        raise ValidationFailed(
            "the next review date must be in the future",
            code="invalid_review_due",
            details={"field": "review_due"},
        )
    latest = today + dt.timedelta(days=settings.DPIA_REVIEW_MAX_DAYS)
    if due > latest:
        # A DPIA is reviewed when the processing changes and at least this often (Art. 35(11)).
        raise ValidationFailed(
            f"the next review date must be within {settings.DPIA_REVIEW_MAX_DAYS} days "
            f"(by {latest.isoformat()})",
            code="invalid_review_due",
            details={"field": "review_due", "latest": latest.isoformat()},
        )
    dpia.status, dpia.reviewer, dpia.approved_at = DPIAStatus.APPROVED, actor, timezone.now()
    dpia.review_due, dpia.review_comment = due, comment
    dpia.save()
    audit_record(actor=actor, action="dpia.approved", obj=dpia, payload={"review_due": due.isoformat()})
    return dpia


@transaction.atomic
def dpia_reject(*, actor: User, dpia: DPIA, comment: str) -> DPIA:
    """Send a DPIA in review back with the reason; it can be edited and resubmitted."""
    dpia = _lock(dpia)
    _check_reviewer(actor, dpia)
    if dpia.status != DPIAStatus.IN_REVIEW:
        raise _refuse(dpia, "reject")
    if not comment.strip():
        raise ValidationFailed("a rejection needs a comment", code="comment_required")
    dpia.status, dpia.reviewer, dpia.review_comment = DPIAStatus.REJECTED, actor, comment
    dpia.save(update_fields=["status", "reviewer", "review_comment"])
    audit_record(actor=actor, action="dpia.rejected", obj=dpia)
    return dpia


@transaction.atomic
def dpia_reopen(*, actor: User, dpia: DPIA) -> DPIA:
    """Bring a rejected DPIA back to draft for editing."""
    require(actor, "dpia", WRITE)
    dpia = _lock(dpia)
    if dpia.status == DPIAStatus.DRAFT:
        return dpia
    if dpia.status != DPIAStatus.REJECTED:
        raise _refuse(dpia, "reopen")
    dpia.status = DPIAStatus.DRAFT
    dpia.save(update_fields=["status"])
    audit_record(actor=actor, action="dpia.reopened", obj=dpia)
    return dpia


def dpia_expire_due() -> int:
    """Expire every approved DPIA whose review date has passed; one audit event each."""
    expired = 0
    today = timezone.localdate()
    for pk in DPIA.objects.filter(status=DPIAStatus.APPROVED, review_due__lt=today).values_list(
        "pk", flat=True
    ):
        expired += _expire_one(pk, today)
    return expired


@transaction.atomic
def _expire_one(pk: int, today: dt.date) -> int:
    claimed = DPIA.objects.filter(pk=pk, status=DPIAStatus.APPROVED, review_due__lt=today).update(
        status=DPIAStatus.EXPIRED
    )
    if claimed:
        audit_record(actor=None, action="dpia.expired", object_type="governance.dpia", object_id=str(pk))
    return claimed
