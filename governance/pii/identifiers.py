"""Identifiers named by an erasure request: validation, and the subject keys the scanner would give them.

Validity comes from the same functions the scanner's recognisers use (governance.pii.checks and
keys.phone_number) and keys from the same normaliser and HMAC (governance.pii.keys.keyed), so a key
computed here equals the key of the same identifier found in any stored text.

Types: the scanner's key types (email, phone, pesel, nip, iban, person, ip, credit_card) plus
customer_id, which no recogniser finds and which is keyed verbatim after NFKC and strip. A person
name is ambiguous (several people share one): its Identifier carries ambiguous=True, and a name
never erases on its own; it only counts where an item also carries another of the subject's keys.
Errors name the item's index and type, never its value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from governance.errors import ValidationFailed
from governance.pii.checks import (
    credit_card_is_valid,
    email_is_valid,
    iban_is_valid,
    nip_is_valid,
    pesel_is_valid,
)
from governance.pii.keys import KEY_TYPES, REQUEST_ONLY_KEY_TYPES, keyed, normalise, subject_key_secret

IDENTIFIER_TYPES: tuple[str, ...] = KEY_TYPES + REQUEST_ONLY_KEY_TYPES
AMBIGUOUS_TYPES = frozenset({"person"})
# Longer than any real identifier; bounds the work one item can cause.
MAX_VALUE_CHARS = 512

# Checks on the normalised form, beyond normalising at all (which already rejects a bad ip or e-mail
# shape and a phone that is not a possible number).
_CHECKS: dict[str, Callable[[str], bool]] = {
    "email": email_is_valid,
    "pesel": pesel_is_valid,
    "nip": nip_is_valid,
    "iban": iban_is_valid,
    "credit_card": credit_card_is_valid,
}


@dataclass(frozen=True)
class Identifier:
    """One validated identifier; value and normalised are kept out of repr so they never reach a log."""

    type: str
    value: str = field(repr=False)
    normalised: str = field(repr=False)
    subject_key: str
    ambiguous: bool


def _refuse(index: int, identifier_type: str | None, code: str, reason: str) -> ValidationFailed:
    details: dict[str, Any] = {"index": index}
    if identifier_type is not None:
        details["type"] = identifier_type
    return ValidationFailed(f"identifiers[{index}]: {reason}", code=code, details=details)


def _identifier(index: int, item: object, secret: bytes) -> Identifier:
    if not isinstance(item, dict) or set(item) != {"type", "value"}:
        raise _refuse(
            index, None, "invalid_identifier", "an identifier is an object with type and value only"
        )
    identifier_type, value = item["type"], item["value"]
    if not isinstance(identifier_type, str) or identifier_type not in IDENTIFIER_TYPES:
        # The unknown type is not echoed: a caller may have put the value in it.
        raise ValidationFailed(
            f"identifiers[{index}]: unknown identifier type",
            code="unknown_identifier_type",
            details={"index": index, "allowed": list(IDENTIFIER_TYPES)},
        )
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_VALUE_CHARS:
        raise _refuse(
            index,
            identifier_type,
            "invalid_identifier",
            f"value must be a non-empty string of at most {MAX_VALUE_CHARS} characters",
        )
    invalid = f"invalid_{identifier_type}"
    try:
        normalised = normalise(identifier_type, value)
    except ValueError:
        raise _refuse(index, identifier_type, invalid, f"not a valid {identifier_type}") from None
    check = _CHECKS.get(identifier_type)
    if check is not None and not check(normalised):
        raise _refuse(index, identifier_type, invalid, f"not a valid {identifier_type}")
    return Identifier(
        type=identifier_type,
        value=value,
        normalised=normalised,
        subject_key=keyed(secret, identifier_type, value),
        ambiguous=identifier_type in AMBIGUOUS_TYPES,
    )


def validate_identifiers(items: list[dict[str, Any]]) -> list[Identifier]:
    """Validate [{"type", "value"}, ...] in order; ValidationFailed names the first bad item's index."""
    if not isinstance(items, list):
        raise ValidationFailed("identifiers must be a list", code="invalid_identifier")
    if not items:
        raise ValidationFailed("name at least one identifier", code="no_identifiers")
    limit = int(settings.ERASURE_MAX_IDENTIFIERS)
    if len(items) > limit:
        raise ValidationFailed(
            f"at most {limit} identifiers per request",
            code="too_many_identifiers",
            details={"count": len(items), "limit": limit},
        )
    secret = subject_key_secret()
    return [_identifier(index, item, secret) for index, item in enumerate(items)]


def subject_keys(identifiers: Iterable[Identifier]) -> list[str]:
    """The distinct subject keys, sorted as ScanResult.subject_keys gives them; ambiguous ones included."""
    return sorted({identifier.subject_key for identifier in identifiers})
