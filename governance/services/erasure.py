"""Erasure requests (GDPR Art. 17, DESIGN section 9): receive, decide, execute in two phases, certify.

The flow:
- `erasure_request_create` validates the identifiers, keeps their types and subject keys, encrypts the
  raw values (Fernet) for the later text verification, and asks every participant what it holds
  (`preview`). Items matched by a person name only become ErasureNameMatch rows for the officer.
- `erasure_request_execute` (officer) moves the request to in_progress and queues the logical phase.
- `erasure_request_run_logical` (Celery, under the request's claim and a PostgreSQL advisory lock)
  runs each participant's `erase` in its own transaction together with recording its result, so a
  worker killed at any point leaves every store either done (result recorded, skipped on redelivery)
  or untouched.
- `erasure_request_run_purge` (Celery, at the latest ERASURE_PURGE_WITHIN_S after the logical phase)
  runs each participant's physical `purge`, then `verify` by keys and by text. Only a clean
  verification completes the request: the keys go on the suppression list, the certificate is
  rendered and its sha256 recorded in the audit chain, and the ciphertext of the raw identifiers is
  destroyed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from governance import claim
from governance.choices import GROUNDS_BY_KIND, ErasureStatus, NameMatchDecision, RequestKind
from governance.enqueue import enqueue_on_commit
from governance.errors import Conflict, ValidationFailed
from governance.models import ErasureNameMatch, ErasureRequest, SuppressedKey
from governance.participants import ErasureScope, NameOnlyMatch, ParticipantNotReady, erasure_participants
from governance.pii.identifiers import Identifier, validate_identifiers
from governance.pii.keys import keyed, subject_key_secret
from governance.policy import REVIEW, WRITE, require
from governance.roles import User, user_or_none
from governance.services.audit import audit_chain_head, audit_record
from governance.services.deployments import deployments_recheck

logger = logging.getLogger(__name__)

RESOURCE = "erasure_request"
LOGICAL_TASK = "governance.tasks.erasure_run"
PURGE_TASK = "governance.tasks.erasure_purge"
MAX_REFERENCE_CHARS = 100
# Art. 12(3): one month, extendable by two further months where necessary.
MAX_EXTENSION_MONTHS = 2
# Advisory-lock namespace (first int of the two-int form) for erasure requests.
_LOCK_NAMESPACE = 0x45524153  # "ERAS"
TERMINAL = (ErasureStatus.COMPLETED, ErasureStatus.REJECTED)
# Bookkeeping in ErasureRequest.results next to the stores' results: the number of the current run.
RUN_KEY = "_run"

PURGE_METHOD = (
    "Logical erasure deleted the rows and files in one transaction per store, so no query, download or "
    "training run could read them again. The physical purge then ran VACUUM on the affected collections' "
    "partitions only (PostgreSQL removes the dead rows and pgvector the deleted vectors from the HNSW "
    "graph), rebuilt the indexes that can keep values of deleted rows, re-analysed the affected tables so "
    "planner statistics no longer sample them, and deleted the replaced dataset files and the tainted "
    "adapters' weights."
)
LIMITS = (
    "Bytes of deleted rows can stay in free space of heap pages until PostgreSQL reuses that space.",
    "The write-ahead log (WAL) segments and their archive hold the deleted rows until they are recycled "
    "or expire under the operator's WAL retention.",
    "Backups taken before the purge hold the data until they expire under the operator's backup "
    "retention; a restore must re-run this request (the suppression list lists its keys).",
    "Files deleted from the media directory stay on the disk's free blocks until overwritten.",
    "Only what the scanner and the request's identifiers can find is covered: an identifier in a format "
    "no recogniser knows, and not given in the request, is not found.",
)


# --- Identifiers at rest: Fernet ------------------------------------------------------------------


def fernet(purpose: bytes = b"erasure-identifiers") -> Fernet:
    """A Fernet key derived from settings.ERASURE_IDENTIFIER_KEY (any secret string), one per purpose."""
    secret = str(settings.ERASURE_IDENTIFIER_KEY).encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(purpose + b":" + secret).digest()))


def _encrypt(identifiers: list[Identifier]) -> bytes:
    plain = json.dumps([[i.type, i.value] for i in identifiers], ensure_ascii=False).encode()
    return fernet().encrypt(plain)


def _decrypt(request: ErasureRequest) -> list[tuple[str, str]]:
    """The raw identifiers (type, value), in memory only; empty once the ciphertext is destroyed."""
    if not request.identifiers_encrypted:
        return []
    plain = fernet().decrypt(bytes(request.identifiers_encrypted))
    return [(str(t), str(v)) for t, v in json.loads(plain)]


# --- Scope and preview ----------------------------------------------------------------------------


def scope_for(request: ErasureRequest, *, with_identifiers: bool = False) -> ErasureScope:
    confirmed = frozenset(
        (kind, int(object_id))
        for kind, object_id in request.name_matches.filter(decision=NameMatchDecision.CONFIRMED).values_list(
            "kind", "object_id"
        )
    )
    identifiers: tuple[str, ...] = ()
    if with_identifiers:
        identifiers = tuple(sorted({value.strip() for _, value in _decrypt(request) if value.strip()}))
    return ErasureScope(
        request_id=request.pk,
        reference=request.reference,
        keys=tuple(request.subject_keys),
        name_keys=tuple(request.name_keys),
        confirmed=confirmed,
        identifiers=identifiers,
    )


def _find_all(request: ErasureRequest) -> tuple[dict[str, Any], list[tuple[str, NameOnlyMatch]]]:
    """Every participant's find: counts per store, and the name-only items."""
    scope = scope_for(request)
    preview: dict[str, Any] = {}
    name_only: list[tuple[str, NameOnlyMatch]] = []
    for name, participant in erasure_participants().items():
        try:
            found = participant.find(scope)
        except ParticipantNotReady as exc:
            preview[name] = {"not_ready": str(exc)}
            continue
        preview[name] = dict(found.get("counts", {}))
        name_only += [(name, match) for match in found.get("name_only", [])]
    return preview, name_only


def _record_matches(request: ErasureRequest, name_only: list[tuple[str, NameOnlyMatch]]) -> int:
    """Add name-only items not listed yet (decisions already taken stay); returns how many are new."""
    existing = set(request.name_matches.values_list("kind", "object_id"))
    new = [
        ErasureNameMatch(
            request=request, store=store, kind=m.kind, object_id=m.object_id, label=m.label[:300]
        )
        for store, m in name_only
        if (m.kind, m.object_id) not in existing
    ]
    ErasureNameMatch.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


# --- Create and decide ----------------------------------------------------------------------------


def action(request: ErasureRequest, verb: str) -> str:
    """The audit action of a step shared by all kinds: erasure_request.* or subject_request.*."""
    prefix = "erasure_request" if request.kind == RequestKind.ERASURE else "subject_request"
    return f"{prefix}.{verb}"


def refuse_unless_kind(request: ErasureRequest, kinds: list[str], verb: str) -> None:
    """409 wrong_kind when a step belongs to other kinds (a purge of an access request)."""
    if request.kind not in kinds:
        raise Conflict(
            f"cannot {verb} a request of kind {request.kind}",
            code="wrong_kind",
            details={"kind": request.kind, "allowed_kinds": kinds},
        )


def _validate_reference(reference: Any) -> str:
    if not isinstance(reference, str) or not reference.strip():
        raise ValidationFailed(
            "reference is required", code="reference_required", details={"field": "reference"}
        )
    reference = reference.strip()
    if len(reference) > MAX_REFERENCE_CHARS or not reference.isprintable():
        raise ValidationFailed(
            f"reference must be printable text of at most {MAX_REFERENCE_CHARS} characters",
            code="invalid_reference",
            details={"field": "reference"},
        )
    return reference


def due_date(received_at: datetime, extension_months: int = 0) -> datetime:
    """One month after receipt (Art. 12(3)), plus the extension."""
    return received_at + relativedelta(months=1 + extension_months)


@transaction.atomic
def erasure_request_create(
    *,
    actor: User,
    reference: str,
    identifiers: list[dict[str, Any]],
    received_at: datetime | None = None,
    kind: str = RequestKind.ERASURE,
) -> ErasureRequest:
    """Receive a request of any kind: keys and types stored, raw values encrypted, every store asked
    what it holds. Access and portability requests share this intake (governance/services/
    subject_access.py carries them out)."""
    require(actor, RESOURCE, WRITE)
    if kind not in RequestKind.values:
        raise ValidationFailed(
            "kind must be erasure, access or portability",
            code="invalid_kind",
            details={"field": "kind", "allowed": list(RequestKind.values)},
        )
    reference = _validate_reference(reference)
    validated = validate_identifiers(identifiers)
    now = timezone.now()
    received = received_at or now
    if received < now - timedelta(days=settings.ERASURE_RECEIVED_MAX_AGE_DAYS):
        raise ValidationFailed(
            f"received_at is more than {settings.ERASURE_RECEIVED_MAX_AGE_DAYS} days ago; "
            "record a request when it arrives",
            code="received_too_long_ago",
            details={"field": "received_at"},
        )
    if received > now + timedelta(minutes=5):
        raise ValidationFailed(
            "received_at cannot be in the future", code="received_in_future", details={"field": "received_at"}
        )
    if ErasureRequest.objects.filter(reference=reference).exists():
        raise Conflict("a data subject request with this reference exists", code="reference_taken")
    request = ErasureRequest.objects.create(
        kind=kind,
        reference=reference,
        # The same identifier given twice (however written) is one identifier.
        identifier_types=dict(
            sorted(Counter(t for t, _ in {(i.type, i.subject_key) for i in validated}).items())
        ),
        subject_keys=sorted({i.subject_key for i in validated if not i.ambiguous}),
        name_keys=sorted({i.subject_key for i in validated if i.ambiguous}),
        identifiers_encrypted=_encrypt(validated),
        received_at=received,
        due_at=due_date(received),
        created_by=user_or_none(actor),
    )
    request.preview, name_only = _find_all(request)
    request.save(update_fields=["preview"])
    _record_matches(request, name_only)
    audit_record(
        actor=actor,
        action=action(request, "received"),
        obj=request,
        payload={
            "kind": request.kind,
            "identifier_types": request.identifier_types,
            "subject_keys": len(request.subject_keys),
            "name_keys": len(request.name_keys),
            "due_at": request.due_at.isoformat(),
            "preview": request.preview,
            "name_only_matches": len(name_only),
        },
    )
    return request


@transaction.atomic
def erasure_request_refresh(*, actor: User, request: ErasureRequest) -> ErasureRequest:
    """Ask the stores again (new documents or versions may have arrived since the request)."""
    require(actor, RESOURCE, WRITE)
    request = _locked(request)
    _refuse_unless(request, [ErasureStatus.RECEIVED, ErasureStatus.ON_HOLD, ErasureStatus.FAILED], "refresh")
    request.preview, name_only = _find_all(request)
    request.save(update_fields=["preview"])
    added = _record_matches(request, name_only)
    audit_record(
        actor=actor,
        action=action(request, "refreshed"),
        obj=request,
        payload={"preview": request.preview, "new_name_only_matches": added},
    )
    return request


@transaction.atomic
def erasure_request_decide_matches(
    *, actor: User, request: ErasureRequest, confirm: list[int], exclude: list[int]
) -> ErasureRequest:
    """The officer's decision on name-only items: confirmed ones are erased, excluded ones kept."""
    require(actor, RESOURCE, WRITE)
    request = _locked(request)
    _refuse_unless(request, [ErasureStatus.RECEIVED, ErasureStatus.ON_HOLD, ErasureStatus.FAILED], "decide")
    if not confirm and not exclude:
        raise ValidationFailed("name at least one match to confirm or exclude", code="nothing_to_decide")
    both = set(confirm) & set(exclude)
    if both:
        raise ValidationFailed(
            "a match cannot be both confirmed and excluded",
            code="conflicting_decisions",
            details={"ids": sorted(both)},
        )
    wanted = set(confirm) | set(exclude)
    known = set(request.name_matches.filter(pk__in=wanted).values_list("pk", flat=True))
    if wanted - known:
        raise ValidationFailed(
            "no such name match on this request",
            code="unknown_name_match",
            details={"ids": sorted(wanted - known)},
        )
    now = timezone.now()
    for ids, decision in ((confirm, NameMatchDecision.CONFIRMED), (exclude, NameMatchDecision.EXCLUDED)):
        request.name_matches.filter(pk__in=ids).update(
            decision=decision, decided_by=user_or_none(actor), decided_at=now
        )
    audit_record(
        actor=actor,
        action=action(request, "name_matches_decided"),
        obj=request,
        payload={"confirmed": sorted(set(confirm)), "excluded": sorted(set(exclude))},
    )
    return request


# --- Decisions: reject, hold, release, extend -----------------------------------------------------


def _locked(request: ErasureRequest) -> ErasureRequest:
    return ErasureRequest.objects.select_for_update().get(pk=request.pk)


def _refuse_unless(request: ErasureRequest, statuses: list[str], verb: str) -> None:
    if request.status in statuses:
        return
    code = {
        ErasureStatus.COMPLETED: "erasure_completed",
        ErasureStatus.REJECTED: "erasure_rejected",
        ErasureStatus.IN_PROGRESS: "erasure_running",
        ErasureStatus.ERASED: "erasure_running",
        ErasureStatus.ON_HOLD: "erasure_on_hold",
    }.get(ErasureStatus(request.status), "illegal_transition")
    raise Conflict(
        f"cannot {verb} a request that is {request.status}",
        code=code,
        details={"status": request.status, "allowed_from": [str(s) for s in statuses]},
    )


def _reason(value: Any, field: str, code: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{field} is required", code=code, details={"field": field})
    return value.strip()


@transaction.atomic
def erasure_request_reject(
    *, actor: User, request: ErasureRequest, ground: Any, reason: Any
) -> ErasureRequest:
    """Refuse on a ground the request's kind allows (Art. 17(3) for erasure, Art. 12(5), 15(4) and
    20 for the others); the encrypted identifiers are destroyed at once."""
    require(actor, RESOURCE, REVIEW)
    allowed = list(GROUNDS_BY_KIND[request.kind])
    if not isinstance(ground, str) or ground not in allowed:
        raise ValidationFailed(
            "a rejection needs a ground this kind of request may be refused on",
            code="rejection_ground_required",
            details={"field": "ground", "allowed": allowed},
        )
    reason = _reason(reason, "reason", "rejection_reason_required")
    request = _locked(request)
    _refuse_unless(request, [ErasureStatus.RECEIVED, ErasureStatus.ON_HOLD, ErasureStatus.FAILED], "reject")
    request.status, request.rejection_ground, request.rejection_reason = (
        ErasureStatus.REJECTED,
        ground,
        reason,
    )
    request.decided_by, request.identifiers_encrypted = user_or_none(actor), None
    request.completed_at = timezone.now()
    request.save()
    audit_record(actor=actor, action=action(request, "rejected"), obj=request, payload={"ground": ground})
    return request


@transaction.atomic
def erasure_request_hold(*, actor: User, request: ErasureRequest, reason: Any) -> ErasureRequest:
    """A legal hold: nothing runs until an officer releases it."""
    require(actor, RESOURCE, REVIEW)
    reason = _reason(reason, "reason", "hold_reason_required")
    request = _locked(request)
    _refuse_unless(request, [ErasureStatus.RECEIVED, ErasureStatus.FAILED], "hold")
    request.status, request.hold_reason, request.decided_by = (
        ErasureStatus.ON_HOLD,
        reason,
        user_or_none(actor),
    )
    request.save()
    audit_record(actor=actor, action=action(request, "held"), obj=request, payload={})
    return request


@transaction.atomic
def erasure_request_release(*, actor: User, request: ErasureRequest) -> ErasureRequest:
    require(actor, RESOURCE, REVIEW)
    request = _locked(request)
    _refuse_unless(request, [ErasureStatus.ON_HOLD], "release")
    request.status, request.decided_by, request.hold_reason = ErasureStatus.RECEIVED, user_or_none(actor), ""
    request.save()
    audit_record(actor=actor, action=action(request, "released"), obj=request, payload={})
    return request


@transaction.atomic
def erasure_request_extend(
    *, actor: User, request: ErasureRequest, months: Any, reason: Any
) -> ErasureRequest:
    """Art. 12(3): up to two further months, with the reason the subject must be told."""
    require(actor, RESOURCE, REVIEW)
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_EXTENSION_MONTHS:
        raise ValidationFailed(
            f"months must be 1 or {MAX_EXTENSION_MONTHS} (the total extension is at most two months)",
            code="invalid_extension",
            details={"field": "months"},
        )
    reason = _reason(reason, "reason", "extension_reason_required")
    request = _locked(request)
    if request.status in TERMINAL:
        _refuse_unless(request, [], "extend")
    if request.extension_months + months > MAX_EXTENSION_MONTHS:
        raise Conflict(
            "the deadline can be extended by two months in total",
            code="extension_limit",
            details={"extension_months": request.extension_months},
        )
    request.extension_months += months
    # Each extension's reason is kept (the subject is told each one): one line per extension.
    line = f"+{months} month{'s' if months > 1 else ''}: {reason}"
    request.extension_reason = f"{request.extension_reason}\n{line}" if request.extension_reason else line
    request.due_at = due_date(request.received_at, request.extension_months)
    request.save()
    audit_record(
        actor=actor,
        action=action(request, "extended"),
        obj=request,
        payload={"extension_months": request.extension_months, "due_at": request.due_at.isoformat()},
    )
    return request


# --- Execute: the logical phase --------------------------------------------------------------------


def start_run(request: ErasureRequest, actor: User) -> str:
    """What executing any kind starts with (on a locked row): every store asked again, no name-only
    match left undecided (409 unresolved_name_matches), then in_progress with a fresh claim. Returns
    the status the request had."""
    request.preview, name_only = _find_all(request)
    _record_matches(request, name_only)
    undecided = list(
        request.name_matches.filter(decision=NameMatchDecision.UNDECIDED).values_list("pk", flat=True)
    )
    if undecided:
        raise Conflict(
            "some items match the subject's name only: confirm or exclude each before executing",
            code="unresolved_name_matches",
            details={"name_matches": undecided[:100], "count": len(undecided)},
        )
    previous = str(request.status)
    request.status, request.executed_by, request.executed_at = (
        ErasureStatus.IN_PROGRESS,
        user_or_none(actor),
        timezone.now(),
    )
    request.error, request.attempts, request.worker_pid, request.heartbeat_at = "", 0, None, None
    return previous


@transaction.atomic
def erasure_request_execute(*, actor: User, request: ErasureRequest) -> ErasureRequest:
    """Queue the logical phase; a second execute while it runs is refused (409)."""
    require(actor, RESOURCE, WRITE)
    request = _locked(request)  # two executes at once: the second waits here, then sees in_progress
    refuse_unless_kind(request, [RequestKind.ERASURE], "erase")
    _refuse_unless(request, [ErasureStatus.RECEIVED, ErasureStatus.FAILED], "execute")
    if not request.identifiers_encrypted:
        raise Conflict("the request's identifiers are gone", code="identifiers_destroyed")
    previous = start_run(request, actor)
    if previous == ErasureStatus.FAILED:
        # A retry (verification found something, e.g. a version uploaded while the request ran) runs
        # every store's erase again as a new run: counts add up, and the purge and verification repeat.
        request.results = {**request.results, RUN_KEY: current_run(request) + 1}
        request.purge_results, request.verification, request.purged_at = {}, {}, None
    request.save()
    enqueue_on_commit(LOGICAL_TASK, request.pk)
    audit_record(
        actor=actor,
        action=action(request, "executed"),
        obj=request,
        payload={"preview": request.preview, "retry": previous == ErasureStatus.FAILED},
    )
    return request


def erasure_request_claim(*, request_id: int, phase: str) -> bool:
    """Take the request for one phase; a redelivery stands down beside a live owner."""
    if not ErasureRequest.objects.filter(pk=request_id, kind=RequestKind.ERASURE).exists():
        return False  # an access or portability request never runs erase
    status = ErasureStatus.IN_PROGRESS if phase == "logical" else ErasureStatus.ERASED
    return (
        claim.claim_row(
            ErasureRequest,
            request_id,
            claimable_statuses=[status],
            running_status=status,
            on_exhausted=_exhausted,
        )
        is not None
    )


def _exhausted(request_id: int, attempts: int) -> None:
    _fail(request_id, f"worker_lost: the worker stopped during each of {attempts} attempts", held=False)


@contextmanager
def _advisory_lock(request_id: int) -> Iterator[bool]:
    """A session-level advisory lock per request: released on unlock or when the connection dies."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, request_id])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, request_id])


class ClaimLost(Exception):
    """Another worker took the request over; stop without writing."""


@dataclass(frozen=True)
class PhaseOutcome:
    """What a phase run did: done, not_ready (retry later), or stood down."""

    state: str
    detail: str = ""


def erasure_request_run_logical(*, request_id: int) -> PhaseOutcome:
    """Each participant's erase in its own transaction with its recorded result; skipped when recorded."""
    with _advisory_lock(request_id) as acquired:
        if not acquired:
            return PhaseOutcome("stood_down", "another run holds the request's lock")
        request = ErasureRequest.objects.get(pk=request_id)
        scope = scope_for(request)
        for name, participant in erasure_participants().items():
            run = current_run(request)
            if request.results.get(name, {}).get("run") == run:
                continue  # done in this run before the redelivery
            try:
                with transaction.atomic():
                    locked = ErasureRequest.objects.select_for_update().get(pk=request_id)
                    if locked.status != ErasureStatus.IN_PROGRESS or not claim.is_mine(locked):
                        raise ClaimLost
                    result = participant.erase(scope)
                    locked.results = {**locked.results, name: _merged(locked.results.get(name), result, run)}
                    locked.heartbeat_at = timezone.now()
                    locked.save(update_fields=["results", "heartbeat_at"])
                    audit_record(
                        actor=None,
                        action="erasure_request.store_erased",
                        obj=locked,
                        payload={"store": name, "counts": result.get("counts", {})},
                    )
                    request = locked
            except ParticipantNotReady as exc:
                # Waiting for a store is not a failed attempt: give the attempt back.
                claim.release(ErasureRequest, [request_id], attempts=F("attempts") - 1)
                return PhaseOutcome("not_ready", f"{name}: {exc}")
            except ClaimLost:
                return PhaseOutcome("stood_down", "the request was taken over")
        return _finish_logical(request_id)


@transaction.atomic
def _finish_logical(request_id: int) -> PhaseOutcome:
    request = ErasureRequest.objects.select_for_update().get(pk=request_id)
    if request.status != ErasureStatus.IN_PROGRESS or not claim.is_mine(request):
        return PhaseOutcome("stood_down", "the request was taken over")
    now = timezone.now()
    within = int(settings.ERASURE_PURGE_WITHIN_S)
    request.status, request.erased_at = ErasureStatus.ERASED, now
    request.purge_due_at = now + timedelta(seconds=within)
    # Suppressed from the logical erasure on, not only at completion: nothing uploaded while the purge
    # waits can bring the subject back.
    _suppress(request)
    # A tainted adapter or a collection that held the subject stops what is deployed from it.
    deployments_recheck(trigger=f"erasure request {request.pk}")
    # The purge is a phase of its own: it claims the row afresh.
    request.attempts, request.worker_pid, request.heartbeat_at = 0, None, None
    request.save()
    audit_record(
        actor=None,
        action="erasure_request.erased",
        obj=request,
        payload={"counts": totals(request), "purge_due_at": request.purge_due_at.isoformat()},
    )
    if within <= 0:
        enqueue_on_commit(PURGE_TASK, request.pk)
    return PhaseOutcome("done")


def totals(request: ErasureRequest) -> dict[str, dict[str, int]]:
    """store -> counts of the logical phase (all runs together)."""
    return {name: dict(result.get("counts", {})) for name, result in store_results(request).items()}


def store_results(request: ErasureRequest) -> dict[str, dict[str, Any]]:
    """store -> its recorded result, without the bookkeeping keys."""
    return {name: result for name, result in sorted(request.results.items()) if not name.startswith("_")}


def current_run(request: ErasureRequest) -> int:
    """1 for the first execution; each retry after a failed verification is one more."""
    return int(request.results.get(RUN_KEY, 1))


def _merged(previous: dict[str, Any] | None, result: dict[str, Any], run: int) -> dict[str, Any]:
    """A store's result of this run, its counts added to those of earlier runs."""
    counts = Counter({k: int(v) for k, v in (previous or {}).get("counts", {}).items()})
    counts.update({k: int(v) for k, v in result.get("counts", {}).items()})
    return {**result, "counts": dict(sorted(counts.items())), "run": run}


# --- Purge, verify, complete ------------------------------------------------------------------------


def erasure_requests_due_for_purge(*, horizon_s: int = 0) -> list[int]:
    """Erased requests whose purge is due within `horizon_s` and that nobody holds.

    Due is the recorded purge_due_at, or erased_at plus the current ERASURE_PURGE_WITHIN_S when that
    is sooner: lowering the setting applies to requests already waiting.
    """
    cutoff = timezone.now() + timedelta(seconds=horizon_s)
    within = timedelta(seconds=int(settings.ERASURE_PURGE_WITHIN_S))
    return list(
        ErasureRequest.objects.filter(status=ErasureStatus.ERASED, worker_pid__isnull=True)
        .filter(Q(purge_due_at__lte=cutoff) | Q(erased_at__lte=cutoff - within))
        .values_list("pk", flat=True)
    )


@transaction.atomic
def erasure_request_purge_now(*, actor: User, request: ErasureRequest) -> ErasureRequest:
    """Purge and verify an erased request now instead of at its due time."""
    require(actor, RESOURCE, WRITE)
    request = _locked(request)
    refuse_unless_kind(request, [RequestKind.ERASURE], "purge")
    _refuse_unless(request, [ErasureStatus.ERASED], "purge")
    if request.worker_pid is not None:
        raise Conflict(
            "the purge is already running", code="erasure_running", details={"status": request.status}
        )
    request.purge_due_at = timezone.now()
    request.save(update_fields=["purge_due_at"])
    enqueue_on_commit(PURGE_TASK, request.pk)
    audit_record(actor=actor, action="erasure_request.purge_requested", obj=request, payload={})
    return request


def erasure_request_run_purge(*, request_id: int) -> PhaseOutcome:
    """Physical purge of every store, then verification; only a clean verification completes."""
    if connection.in_atomic_block:
        raise RuntimeError("the purge runs VACUUM, which cannot run inside a transaction")
    with _advisory_lock(request_id) as acquired:
        if not acquired:
            return PhaseOutcome("stood_down", "another run holds the request's lock")
        request = ErasureRequest.objects.get(pk=request_id)
        scope = scope_for(request)
        purged = dict(request.purge_results)
        for name, participant in erasure_participants().items():
            if name in purged:
                continue
            purged[name] = participant.purge(scope, store_results(request).get(name, {}))
            if not claim.heartbeat(ErasureRequest, [request_id], purge_results=purged):
                return PhaseOutcome("stood_down", "the request was taken over")
        with transaction.atomic():
            locked = ErasureRequest.objects.select_for_update().get(pk=request_id)
            if not claim.is_mine(locked):
                return PhaseOutcome("stood_down", "the request was taken over")
            locked.purged_at = timezone.now()
            locked.save(update_fields=["purged_at"])
            audit_record(
                actor=None,
                action="erasure_request.purged",
                obj=locked,
                payload={"stores": sorted(purged)},
            )
        verification = _verify(ErasureRequest.objects.get(pk=request_id))
        if not verification["ok"]:
            failed = sorted(name for name, v in verification["stores"].items() if not v.get("ok"))
            _fail(request_id, f"verification failed in: {', '.join(failed)}", verification=verification)
            return PhaseOutcome("failed", ", ".join(failed))
        return _complete(request_id, verification)


def _verify(request: ErasureRequest) -> dict[str, Any]:
    scope = scope_for(request, with_identifiers=True)
    stores: dict[str, Any] = {}
    for name, participant in erasure_participants().items():
        try:
            stores[name] = participant.verify(scope)
        except Exception as exc:  # a verification that cannot run must not read as success
            logger.exception("verification of erasure request %s in %s failed to run", request.pk, name)
            stores[name] = {"ok": False, "error": type(exc).__name__}
    if not scope.identifiers:
        stores["_identifiers"] = {"ok": False, "error": "the raw identifiers are gone: no text verification"}
    return {"ok": all(v.get("ok") is True for v in stores.values()), "stores": stores}


@transaction.atomic
def _fail(
    request_id: int, error: str, *, held: bool = True, verification: dict[str, Any] | None = None
) -> None:
    request = ErasureRequest.objects.select_for_update().get(pk=request_id)
    if request.status in TERMINAL or (held and not claim.is_mine(request)):
        return
    request.status, request.error = ErasureStatus.FAILED, error
    if verification is not None:
        request.verification = verification
    request.worker_pid = None
    request.save()
    audit_record(actor=None, action=action(request, "failed"), obj=request, payload={"error": error})


@transaction.atomic
def _complete(request_id: int, verification: dict[str, Any]) -> PhaseOutcome:
    # Import here: rendering loads WeasyPrint, which only the worker completing a request needs.
    from governance.services import erasure_certificate

    request = ErasureRequest.objects.select_for_update().get(pk=request_id)
    if request.status != ErasureStatus.ERASED or not claim.is_mine(request):
        return PhaseOutcome("stood_down", "the request was taken over")
    now = timezone.now()
    _suppress(request)  # already done at the logical phase's end; a retry's keys are covered again
    request.status, request.verification, request.completed_at = ErasureStatus.COMPLETED, verification, now
    sequence, head = audit_chain_head()
    request.chain_head_sequence, request.chain_head_hash = sequence, head
    request.identifiers_encrypted = None  # the request has ended: nothing raw is kept
    request.worker_pid = None
    facts = erasure_certificate.facts(request)
    request.certificate_file, request.certificate_sha256 = erasure_certificate.render_and_store(
        request, facts
    )
    request.certificate_facts = facts
    request.save()
    audit_record(
        actor=None,
        action="erasure_request.completed",
        obj=request,
        payload={
            "counts": totals(request),
            "certificate_sha256": request.certificate_sha256,
            "certified_chain_head": {"sequence": sequence, "hash": head},
            "suppressed_keys": len(request.subject_keys),
        },
    )
    return PhaseOutcome("done")


def _suppress(request: ErasureRequest) -> None:
    """Put the request's unambiguous keys on the suppression list (idempotent)."""
    types = {key: kind for kind, key in _key_types(request)}
    SuppressedKey.objects.bulk_create(
        [
            SuppressedKey(key=key, key_type=types.get(key, ""), request=request)
            for key in request.subject_keys
        ],
        ignore_conflicts=True,
    )


def _key_types(request: ErasureRequest) -> list[tuple[str, str]]:
    """(type, key) of the unambiguous identifiers, while the raw values are still at hand."""
    secret = subject_key_secret()
    return [(kind, keyed(secret, kind, value)) for kind, value in _decrypt(request) if kind != "person"]


# --- Suppression list -------------------------------------------------------------------------------


@transaction.atomic
def suppression_lift(*, actor: User, suppression: SuppressedKey, reason: Any) -> SuppressedKey:
    """Lift one suppressed key (the subject consented to come back, a mistaken request): audited."""
    require(actor, "suppression", REVIEW)
    reason = _reason(reason, "reason", "lift_reason_required")
    locked = SuppressedKey.objects.select_for_update().select_related("request").get(pk=suppression.pk)
    if locked.request.status != ErasureStatus.COMPLETED:
        raise Conflict(
            "the request is still running: its verification would find what a lift lets in",
            code="erasure_not_completed",
            details={"status": locked.request.status},
        )
    if locked.lifted_at is not None:
        raise Conflict("this suppression is already lifted", code="already_lifted")
    locked.lifted_at, locked.lifted_by, locked.lift_reason = timezone.now(), user_or_none(actor), reason
    locked.save()
    audit_record(
        actor=actor,
        action="suppression.lifted",
        obj=locked,
        payload={"request": locked.request_id, "key_type": locked.key_type},
    )
    return locked
