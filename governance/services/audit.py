"""Append to and verify the audit chain (DESIGN section 7)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, models, transaction
from django.utils import timezone

from governance.models import AuditChainHead, AuditEvent

GENESIS_HASH = "0" * 64
# A constant key for pg_advisory_xact_lock: appends are serialised so sequence and prev_hash never fork.
_CHAIN_LOCK_KEY = 0x417564697443  # "AuditC"
# Defence in depth: services build payloads from ids and counts, but an e-mail address slipping in
# through a free-text field would put raw personal data in an undeletable table.
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[a-z]{2,}", re.IGNORECASE)

Actor = AbstractBaseUser | AnonymousUser | None


def canonical_json(data: Any) -> str:
    """Stable JSON: sorted keys, no whitespace, UTF-8 kept."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(prev_hash: str, event: dict[str, Any]) -> str:
    """sha256(prev_hash || canonical JSON of the event)."""
    return hashlib.sha256((prev_hash + canonical_json(event)).encode()).hexdigest()


def _event_body(event: AuditEvent) -> dict[str, Any]:
    return {
        "sequence": event.sequence,
        "timestamp": event.timestamp.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "payload": event.payload,
    }


def _check_payload(value: Any) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _check_payload(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_payload(item)
    elif isinstance(value, str) and _EMAIL.search(value):
        raise ValueError("audit payloads must not carry personal data (an e-mail address was found)")


def actor_name(actor: Actor) -> str:
    """How the chain and every PDF footer name a person: the username, or user#id for an e-mail."""
    if actor is None or not actor.is_authenticated:
        return "system"
    name = str(actor.get_username())
    # A username that is an e-mail address is personal data: the undeletable chain names the id instead.
    return f"user#{actor.pk}" if _EMAIL.search(name) else name


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event; must run inside the transaction of the write it records."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the write's transaction")
    payload = json.loads(canonical_json(payload or {}))
    _check_payload(payload)
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    head = AuditChainHead.objects.filter(id=1).first()
    sequence, prev_hash = (head.sequence + 1, head.hash) if head else (1, GENESIS_HASH)
    event = AuditEvent(
        sequence=sequence,
        timestamp=timezone.now(),
        actor=actor_name(actor),
        action=action,
        object_type=object_type,
        object_id=object_id,
        payload=payload,
        prev_hash=prev_hash,
    )
    event.hash = event_hash(prev_hash, _event_body(event))
    event.save(force_insert=True)
    # One UPDATE (the advisory lock above serialises writers), an INSERT only for the very first event.
    if not AuditChainHead.objects.filter(id=1).update(sequence=sequence, hash=event.hash):
        AuditChainHead.objects.create(id=1, sequence=sequence, hash=event.hash)
    return event


@dataclass(frozen=True)
class ChainVerification:
    """The outcome of recomputing the chain."""

    ok: bool
    events_checked: int
    head_sequence: int
    head_hash: str
    first_broken_sequence: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "head_sequence": self.head_sequence,
            "head_hash": self.head_hash,
            "first_broken_sequence": self.first_broken_sequence,
            "reason": self.reason,
        }


def audit_chain_head() -> tuple[int, str]:
    """The recorded head of the chain (sequence, hash), (0, genesis) when empty."""
    head = AuditChainHead.objects.filter(id=1).first()
    return (head.sequence, head.hash) if head else (0, GENESIS_HASH)


def audit_verify_chain(*, expected_head_hash: str | None = None) -> ChainVerification:
    """Recompute every link in order and name the first sequence number that does not hold."""
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    events = AuditEvent.objects.order_by("sequence").iterator(chunk_size=2000)
    for event in events:
        checked += 1
        if event.sequence != expected_seq:
            return _broken(checked, expected_seq, f"sequence {expected_seq} is missing")
        if event.prev_hash != prev_hash:
            return _broken(checked, event.sequence, "prev_hash does not match the previous link")
        if event_hash(prev_hash, _event_body(event)) != event.hash:
            return _broken(checked, event.sequence, "hash does not match the event's content")
        prev_hash, expected_seq = event.hash, expected_seq + 1
    head_seq, head_hash = audit_chain_head()
    last_seq = expected_seq - 1
    if checked == 0 and head_seq > 0:
        # Every event is gone (a TRUNCATE with its trigger disabled, a restored empty table) while the
        # head remembers them: an empty chain is only intact when nothing was ever recorded.
        return _broken(checked, 1, f"the chain is empty but its head records {head_seq} events")
    if head_seq != last_seq:
        # Rows after the last intact link were removed (or the head row was rewritten).
        first = min(head_seq, last_seq) + 1
        return _broken(checked, first, f"chain ends at {last_seq} but its head records {head_seq}")
    if head_hash != prev_hash:
        return _broken(checked, last_seq, "the last link's hash differs from the recorded chain head")
    if expected_head_hash and expected_head_hash != head_hash:
        return _broken(checked, last_seq, "head hash differs from the expected head hash")
    return ChainVerification(ok=True, events_checked=checked, head_sequence=head_seq, head_hash=head_hash)


def _broken(checked: int, sequence: int, reason: str) -> ChainVerification:
    head_seq, head_hash = audit_chain_head()
    return ChainVerification(
        ok=False,
        events_checked=checked,
        head_sequence=head_seq,
        head_hash=head_hash,
        first_broken_sequence=sequence,
        reason=reason,
    )


VERIFIED_ACTION = "audit.chain_verified"


def audit_verify_and_record(*, actor: Actor) -> ChainVerification:
    """Verify the whole chain, then append the outcome (its first broken sequence, if any) to it.

    The dashboard's "verify now": who verified, when, and what they found is itself in the chain.
    """
    result = audit_verify_chain()
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=VERIFIED_ACTION,
            object_type="governance.auditchain",
            object_id="chain",
            payload=result.as_dict(),
        )
    return result
