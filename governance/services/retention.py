"""Retention that enforces itself (GDPR Art. 5(1)(e), storage limitation): notices, holds, removal, report.

Two rules, applied by the beat's sweep (`retention_sweep`, every RETENTION_SWEEP_S):

- **Dataset past `retention_until`** (rule `dataset_retention_until`). `retention_until` is the last
  day the dataset's personal data may be kept; from the next day (`due_on`) the sweep removes every
  record carrying a subject key (any PII the scan found: e-mail, phone, PESEL, name ...) from every
  live version of the dataset, through the erasure machinery: each version holding such records is
  replaced by a child version without them (erasure_datasets: same seed and split, the old version
  `erased`, its file deleted), the adapters trained on those records are tainted and their files
  deleted (the training participant, by record hash, so an adapter trained on a copy of such a record
  in another dataset is tainted too, as erasure does), and deployments are rechecked (a tainted
  adapter blocks what runs on it). The erasure functions run with a scope naming the records as
  confirmed items (`request_id` 0, reference `retention:dataset:<id>:<due date>`): the new version's
  reason and the adapters' taint reason carry that reference.
  Why the personal records and not every record: storage limitation applies to data "in a form which
  permits identification of data subjects"; a record without any identifier is not personal data and
  is kept (a knowledge base of anonymous tickets loses nothing that the law asks to remove). Records
  the scanner found nothing in stay; an identifier in a format no recogniser knows is not found, as
  for erasure (README, Erasure limits). A version uploaded into a dataset already past its date is
  cleaned by the next sweep again: past retention, no personal record is kept.
- **Document past its collection's retention** (rule `collection_document_retention`): a document
  (each stored version is a row) is removed `document_retention_days` after it was stored, whatever it
  holds: the collection's owner chose that lifetime for the collection's contents. Its chunks go with
  it and the collection's partition is purged (VACUUM, HNSW rebuilt, outside any transaction), as for
  erasure. Documents still being ingested wait for the next sweep.

Before a due date (RETENTION_NOTICE_DAYS) every compliance officer with an e-mail address is told
what will go and when; the notice is recorded (RetentionRun `notified` and an audit event) once per
target and due date. An active legal hold (officers only, with a reason) stops the removal; the hold
is recorded once per target and due date, and the next sweep after it is lifted removes the data.

Concurrency with an erasure request: a dataset is rewritten under its row lock (`SELECT ... FOR
UPDATE`), which the erasure's dataset participant takes too before it reads which versions hold the
subject; documents are deleted under their row locks, which the erasure's retrieval participant takes
as well. Whichever comes second waits, then sees what the first left: the live data ends the same.

Every removal is a RetentionRun (rule, target, due date, counts and ids, never content) with its
audit events; `retention_report` exports them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from smtplib import SMTPException
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from governance.choices import DatasetVersionStatus
from governance.errors import Conflict, ValidationFailed
from governance.models import Dataset, DatasetRecord, LegalHold, RetentionRun
from governance.models.retention import RetentionOutcome, RetentionRule, RetentionTarget
from governance.participants import ErasureScope, ParticipantNotReady, erasure_participants
from governance.policy import DOWNLOAD, WRITE, require
from governance.roles import COMPLIANCE_OFFICER, User, user_or_none
from governance.services.audit import audit_record
from governance.services.deployments import deployments_recheck

logger = logging.getLogger(__name__)

RESOURCE = "retention"
RECORD_KIND = "dataset_record"  # the datasets participant's confirmed-item kind
REPORT_COLUMNS = (
    "id",
    "created_at",
    "outcome",
    "rule",
    "target_type",
    "target_id",
    "target_name",
    "due_on",
    "counts",
    "ids",
    "hold",
    "purged_at",
)


# --- Stores outside governance (retrieval registers its documents) --------------------------------


@dataclass(frozen=True)
class DueItems:
    """Items of one target that fall due on one day (counts, never content)."""

    target_id: int
    target_name: str
    due_on: date
    count: int


@dataclass(frozen=True)
class RetentionStore:
    """A store whose items expire by a per-target retention, registered from its app's ready().

    - upcoming(now, until) -> [DueItems]: items falling due after `now` and by `until`, per target and day.
    - expired(now) -> [DueItems]: targets holding items due by `now` (due_on: today).
    - erase(target_id, now) -> {"counts": {...}, "ids": {...}}: deletes the target's items due by `now`
      under their row locks, inside the caller's transaction; a second run finds nothing.
    - purge(erased) -> dict: the physical purge of what erase removed, outside any transaction.
    """

    name: str
    rule: str
    target_type: str
    upcoming: Callable[[datetime, datetime], list[DueItems]]
    expired: Callable[[datetime], list[DueItems]]
    erase: Callable[[int, datetime], dict[str, Any]]
    purge: Callable[[dict[str, Any]], dict[str, Any]]
    # The LegalHold foreign key that names this store's targets.
    hold_field: str = "collection"


_stores: dict[str, RetentionStore] = {}


def register_retention_store(store: RetentionStore) -> None:
    _stores[store.name] = store


def retention_stores() -> list[RetentionStore]:
    return [store for _, store in sorted(_stores.items())]


# --- Legal holds ----------------------------------------------------------------------------------


def _reason(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(
            "a legal hold needs a reason", code="hold_reason_required", details={"field": "reason"}
        )
    return value.strip()


@transaction.atomic
def legal_hold_create(
    *, actor: User, reason: Any, dataset: Dataset | None = None, collection: Any = None
) -> LegalHold:
    """Record a legal hold on a dataset or a collection: retention removes nothing of it until lifted."""
    require(actor, RESOURCE, WRITE)
    reason = _reason(reason)
    if (dataset is None) == (collection is None):
        raise ValidationFailed(
            "a legal hold is on exactly one dataset or one collection",
            code="hold_target_required",
            details={"fields": ["dataset", "collection"]},
        )
    hold = LegalHold(dataset=dataset, collection=collection, reason=reason, created_by=user_or_none(actor))
    hold.full_clean()
    hold.save()
    audit_record(
        actor=actor,
        action="legal_hold.created",
        obj=hold,
        payload={"dataset": hold.dataset_id, "collection": hold.collection_id},
    )
    return hold


@transaction.atomic
def legal_hold_lift(*, actor: User, hold: LegalHold, reason: Any = "") -> LegalHold:
    """Lift a hold (who, when); the next sweep removes what fell due meanwhile. A repeat is refused."""
    require(actor, RESOURCE, WRITE)
    locked = LegalHold.objects.select_for_update().get(pk=hold.pk)
    if locked.lifted_at is not None:
        raise Conflict("this legal hold is already lifted", code="already_lifted")
    locked.lifted_at, locked.lifted_by = timezone.now(), user_or_none(actor)
    locked.lift_reason = reason.strip() if isinstance(reason, str) else ""
    locked.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    audit_record(
        actor=actor,
        action="legal_hold.lifted",
        obj=locked,
        payload={"dataset": locked.dataset_id, "collection": locked.collection_id},
    )
    return locked


def hold_collection(collection_id: int | None) -> Any:
    """The collection a hold names, by id (governance does not import retrieval: looked up by app label)."""
    if collection_id is None:
        return None
    collection = apps.get_model("retrieval", "Collection").objects.filter(pk=collection_id).first()
    if collection is None:
        raise ValidationFailed(
            "no collection with this id", code="unknown_collection", details={"field": "collection"}
        )
    return collection


def _active_hold(**target: int) -> LegalHold | None:
    return LegalHold.objects.filter(lifted_at__isnull=True, **target).order_by("created_at").first()


# --- Selectors ------------------------------------------------------------------------------------


def legal_hold_list() -> QuerySet[LegalHold]:
    return LegalHold.objects.select_related("dataset", "collection", "created_by", "lifted_by")


def retention_run_list() -> QuerySet[RetentionRun]:
    return RetentionRun.objects.order_by("-created_at", "-id")


def _personal_records(dataset_id: int) -> QuerySet[DatasetRecord]:
    """Records of any version of the dataset carrying a subject key."""
    return DatasetRecord.objects.filter(version__dataset_id=dataset_id, subject_keys__len__gt=0)


def _live_personal_count(dataset_id: int) -> int:
    return _personal_records(dataset_id).exclude(version__status=DatasetVersionStatus.ERASED).count()


def due_on(dataset: Dataset) -> date | None:
    """The first day the dataset's personal records may no longer be kept."""
    return dataset.retention_until + timedelta(days=1) if dataset.retention_until else None


# --- Notices --------------------------------------------------------------------------------------


def _officers() -> list[Any]:
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    return list(users.filter(groups__name=COMPLIANCE_OFFICER).order_by("pk").distinct())


def _record_run(
    *,
    outcome: str,
    rule: str,
    target_type: str,
    target_id: int,
    name: str,
    due: date,
    payload: dict[str, Any],
    **fields: Any,
) -> RetentionRun:
    """One RetentionRun and its `retention.<outcome>` audit event (rule, target, due date, then `payload`)."""
    run = RetentionRun.objects.create(
        rule=rule,
        outcome=outcome,
        target_type=target_type,
        target_id=target_id,
        target_name=name[:200],
        due_on=due,
        **fields,
    )
    audit_record(
        actor=None,
        action=f"retention.{outcome}",
        obj=run,
        payload={"rule": rule, "target": f"{target_type}:{target_id}", "due_on": due.isoformat(), **payload},
    )
    return run


def _notify(*, rule: str, target_type: str, item: DueItems, what: str) -> RetentionRun | None:
    """Record a notice once per target and due date and e-mail the officers; None if noticed already.

    The mail is sent inside the notice's transaction, before the commit: a mail server that refuses it
    rolls the notice back, so the next sweep tries again (at least once, rather than recorded but
    never delivered). The transaction holds one new row meanwhile, nothing other writers wait for.
    """
    officers = _officers()
    try:
        with transaction.atomic():
            run = _record_run(
                outcome=RetentionOutcome.NOTIFIED,
                rule=rule,
                target_type=target_type,
                target_id=item.target_id,
                name=item.target_name,
                due=item.due_on,
                payload={"due": item.count, "officers": len(officers)},
                counts={"due": item.count},
                notified=[user.pk for user in officers],
            )
            recipients = [user.email for user in officers]
            if recipients:
                send_mail(*_message(run, item, what), None, recipients, fail_silently=False)
    except IntegrityError:
        return None  # noticed already for this due date
    except (OSError, SMTPException) as exc:
        logger.warning(
            "retention notice for %s %s not sent (%s); the next sweep tries again",
            target_type,
            item.target_id,
            type(exc).__name__,
        )
        return None
    return run


def _message(run: RetentionRun, item: DueItems, what: str) -> tuple[str, str]:
    """Subject and body: names, counts and dates, never an item's content."""
    subject = f"Retention: {run.target_type} '{item.target_name}' is due for deletion on {item.due_on}"
    body = (
        f"On {item.due_on} the platform deletes {what} of {run.target_type} '{item.target_name}' "
        f"(id {item.target_id}) under the rule '{RetentionRule(run.rule).label}': {item.count} item(s).\n\n"
        "To keep them (a legal claim, an inquiry), record a legal hold with its reason before that day: "
        f"admin, Legal holds, or POST /api/v1/legal-holds/. Retention run {run.pk}."
    )
    return subject, body


def _dataset_notices(today: date, horizon: date) -> list[RetentionRun]:
    sent = []
    soon = Dataset.objects.filter(retention_until__gte=today, retention_until__lt=horizon).order_by("pk")
    for dataset in soon:
        due = due_on(dataset)
        if due is None or due <= today or _active_hold(dataset_id=dataset.pk):
            continue
        count = _live_personal_count(dataset.pk)
        if not count:
            continue
        item = DueItems(target_id=dataset.pk, target_name=dataset.name, due_on=due, count=count)
        run = _notify(
            rule=RetentionRule.DATASET,
            target_type=RetentionTarget.DATASET,
            item=item,
            what="the personal records (records with a subject key)",
        )
        if run:
            sent.append(run)
    return sent


def _store_notices(now: datetime, until: datetime) -> list[RetentionRun]:
    sent = []
    for store in retention_stores():
        for item in store.upcoming(now, until):
            if _active_hold(**{f"{store.hold_field}_id": item.target_id}):
                continue
            run = _notify(rule=store.rule, target_type=store.target_type, item=item, what="the documents")
            if run:
                sent.append(run)
    return sent


# --- Enforcement ----------------------------------------------------------------------------------


def _held(*, rule: str, target_type: str, target_id: int, name: str, due: date, hold: LegalHold) -> None:
    """Record once per target and due date that a hold kept the data."""
    try:
        with transaction.atomic():
            _record_run(
                outcome=RetentionOutcome.HELD,
                rule=rule,
                target_type=target_type,
                target_id=target_id,
                name=name,
                due=due,
                payload={"hold": hold.pk},
                hold=hold,
            )
    except IntegrityError:
        pass  # recorded by an earlier sweep


def _scope(reference: str, record_ids: list[int]) -> ErasureScope:
    # request_id 0: no erasure request; the reference names the retention rule and target.
    return ErasureScope(
        request_id=0,
        reference=reference,
        keys=(),
        confirmed=frozenset((RECORD_KIND, pk) for pk in record_ids),
    )


def dataset_enforce(*, dataset_id: int, today: date | None = None) -> RetentionRun | None:
    """Remove a dataset's personal records once past `retention_until` (unless held); None if nothing to do.

    The logical part (new versions, taints, deployment recheck, the run and its audit events) is one
    transaction under the dataset's row lock; the physical purge (files) runs after the commit.
    """
    today = today or timezone.localdate()
    participants = erasure_participants()
    stores = [participants[name] for name in ("datasets", "training") if name in participants]
    try:
        with transaction.atomic():
            dataset = Dataset.objects.select_for_update().get(pk=dataset_id)
            due = due_on(dataset)
            if due is None or due > today:
                return None  # the date moved since the sweep listed it
            hold = _active_hold(dataset_id=dataset.pk)
            if hold:
                _held(
                    rule=RetentionRule.DATASET,
                    target_type=RetentionTarget.DATASET,
                    target_id=dataset.pk,
                    name=dataset.name,
                    due=due,
                    hold=hold,
                )
                return None
            if not _live_personal_count(dataset.pk):
                return None
            record_ids = sorted(_personal_records(dataset.pk).values_list("pk", flat=True))
            scope = _scope(f"retention:dataset:{dataset.pk}:{due.isoformat()}", record_ids)
            results = {participant.name: participant.erase(scope) for participant in stores}
            blocked = deployments_recheck(trigger=f"retention of dataset {dataset.pk}")
            run = _record_enforced(dataset, due, results, blocked)
    except ParticipantNotReady as exc:
        logger.info("retention of dataset %s waits: %s", dataset_id, exc)
        return None
    purge = {participant.name: participant.purge(scope, results[participant.name]) for participant in stores}
    RetentionRun.objects.filter(pk=run.pk).update(purge=purge, purged_at=timezone.now())
    run.refresh_from_db()
    return run


def _record_enforced(
    dataset: Dataset, due: date, results: dict[str, dict[str, Any]], blocked: list[int]
) -> RetentionRun:
    datasets_result = results.get("datasets", {})
    training_result = results.get("training", {})
    versions = datasets_result.get("versions", [])
    counts = {
        **datasets_result.get("counts", {}),
        **training_result.get("counts", {}),
        "deployments_blocked": len(blocked),
    }
    ids = {
        "versions_replaced": [v["old"] for v in versions],
        "versions_created": [v["new"] for v in versions if v["new"]],
        "adapters_tainted": training_result.get("adapters", []),
        "jobs_cancelled": training_result.get("cancelled_jobs", []),
        "deployments_blocked": blocked,
    }
    return _record_run(
        outcome=RetentionOutcome.ENFORCED,
        rule=RetentionRule.DATASET,
        target_type=RetentionTarget.DATASET,
        target_id=dataset.pk,
        name=dataset.name,
        due=due,
        payload={"counts": counts},
        counts=counts,
        ids=ids,
    )


def store_enforce(*, store: RetentionStore, target_id: int, name: str, now: datetime) -> RetentionRun | None:
    """Delete one target's expired items (unless held) and purge them; None when nothing was due."""
    today = timezone.localdate(now)
    with transaction.atomic():
        hold = _active_hold(**{f"{store.hold_field}_id": target_id})
        if hold:
            _held(
                rule=store.rule,
                target_type=store.target_type,
                target_id=target_id,
                name=name,
                due=today,
                hold=hold,
            )
            return None
        erased = store.erase(target_id, now)
        if not any(erased.get("counts", {}).values()):
            return None
        run = _record_run(
            outcome=RetentionOutcome.ENFORCED,
            rule=store.rule,
            target_type=store.target_type,
            target_id=target_id,
            name=name,
            due=today,
            payload={"counts": erased["counts"]},
            counts=erased["counts"],
            ids=erased.get("ids", {}),
        )
    purge = store.purge(erased)  # VACUUM: outside the transaction, after the commit
    RetentionRun.objects.filter(pk=run.pk).update(purge=purge, purged_at=timezone.now())
    run.refresh_from_db()
    return run


# --- The sweep ------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """What one sweep did (ids of the runs it recorded)."""

    notified: list[int] = field(default_factory=list)
    enforced: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[int]]:
        return {"notified": self.notified, "enforced": self.enforced}


def retention_sweep(*, now: datetime | None = None) -> SweepResult:
    """Notify what falls due within RETENTION_NOTICE_DAYS; remove what is due (unless held)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    horizon = timedelta(days=int(settings.RETENTION_NOTICE_DAYS))
    result = SweepResult()
    result.notified += [run.pk for run in _dataset_notices(today, today + horizon)]
    result.notified += [run.pk for run in _store_notices(now, now + horizon)]
    for dataset_id in (
        Dataset.objects.filter(retention_until__lt=today).order_by("pk").values_list("pk", flat=True)
    ):
        run = dataset_enforce(dataset_id=dataset_id, today=today)
        if run:
            result.enforced.append(run.pk)
    for store in retention_stores():
        for item in store.expired(now):
            run = store_enforce(store=store, target_id=item.target_id, name=item.target_name, now=now)
            if run:
                result.enforced.append(run.pk)
    return result


# --- The report -----------------------------------------------------------------------------------


def report_rows(runs: QuerySet[RetentionRun]) -> list[dict[str, Any]]:
    """One plain row per run: what was deleted (or noticed, or held) when, under which rule."""
    return [
        {
            "id": run.pk,
            "created_at": run.created_at.isoformat(),
            "outcome": run.outcome,
            "rule": run.rule,
            "target_type": run.target_type,
            "target_id": run.target_id,
            "target_name": run.target_name,
            "due_on": run.due_on.isoformat(),
            "counts": run.counts,
            "ids": run.ids,
            "hold": run.hold_id,
            "purged_at": run.purged_at.isoformat() if run.purged_at else None,
        }
        for run in runs
    ]


def report_csv(rows: list[dict[str, Any]]) -> str:
    """The report as CSV; counts and ids as compact JSON in their cells."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                **row,
                "counts": json.dumps(row["counts"], sort_keys=True),
                "ids": json.dumps(row["ids"], sort_keys=True),
            }
        )
    return out.getvalue()


@transaction.atomic
def retention_report(*, actor: User, output: str = "json") -> list[dict[str, Any]]:
    """Every run, newest first, for officers and auditors; each export is audited (ids and counts only)."""
    require(actor, RESOURCE, DOWNLOAD)
    rows = report_rows(retention_run_list())
    audit_record(
        actor=actor,
        action="retention.report_exported",
        object_type="governance.retentionrun",
        payload={"output": output, "runs": len(rows)},
    )
    return rows
