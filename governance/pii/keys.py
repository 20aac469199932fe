"""Normalisation of identifiers and the subject keys derived from them (DESIGN section 6)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import unicodedata
from collections.abc import Sequence

import phonenumbers
from django.conf import settings

# Presidio entity type -> the key type used in subject keys and erasure requests.
_KEY_TYPE_BY_ENTITY = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "PERSON": "person",
    "IBAN_CODE": "iban",
    "CREDIT_CARD": "credit_card",
    "IP_ADDRESS": "ip",
    "PL_PESEL": "pesel",
    "PL_NIP": "nip",
}
KEY_TYPES: tuple[str, ...] = tuple(_KEY_TYPE_BY_ENTITY.values())

_WHITESPACE = re.compile(r"\s+")


def phone_regions() -> tuple[str, ...]:
    """Regions whose national formats are recognised, in order of preference (settings.PII_PHONE_REGIONS)."""
    return tuple(settings.PII_PHONE_REGIONS)


def key_type_for(entity_type: str) -> str:
    """Map a presidio entity type (EMAIL_ADDRESS) to its key type (email)."""
    try:
        return _KEY_TYPE_BY_ENTITY[entity_type]
    except KeyError:
        raise ValueError(f"unknown entity type {entity_type!r}") from None


def _fold(value: str) -> str:
    # casefold can leave text that is no longer NFKC (e.g. U+0130), so normalise on both sides.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold()).strip()


def _digits(value: str) -> str:
    # unicodedata.decimal also reads digits of other scripts that NFKC leaves alone.
    return "".join(str(unicodedata.decimal(ch)) for ch in value if unicodedata.decimal(ch, None) is not None)


def _email(value: str) -> str:
    local, at, domain = _fold(value).rpartition("@")
    if not at or not local or not domain:
        raise ValueError("not a valid email identifier")
    return f"{local.split('+', 1)[0]}@{domain}"


def _phone(value: str, regions: Sequence[str]) -> str:
    # The same number written nationally and internationally must give one key, so read it as E.164
    # digits in the first region where it is valid; a number no region validates keeps its digits.
    for region in regions:
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")
    return _digits(value)


def _iban(value: str) -> str:
    # The country code and any BBAN letters (GB sort codes) are part of the account, so keep them.
    return "".join(ch for ch in _fold(value).upper() if ch.isascii() and ch.isalnum())


def _ip(value: str) -> str:
    # A prefix length or IPv6 zone names the network or interface, not a different host.
    host = _fold(value).split("/", 1)[0].split("%", 1)[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("not a valid ip identifier") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.compressed


def _person(value: str) -> str:
    return _WHITESPACE.sub(" ", _fold(value))


def normalise(key_type: str, value: str) -> str:
    """Canonical form of an identifier, so every way of writing it gives the same subject key."""
    if key_type == "email":
        result = _email(value)
    elif key_type == "phone":
        result = _phone(unicodedata.normalize("NFKC", value), phone_regions())
    elif key_type == "iban":
        result = _iban(value)
    elif key_type == "ip":
        result = _ip(value)
    elif key_type == "person":
        result = _person(value)
    elif key_type in {"credit_card", "pesel", "nip"}:
        result = _digits(_fold(value))
    else:
        raise ValueError(f"unknown key type {key_type!r}")
    if not result:
        # The message names the type only: identifiers never reach logs or exception text.
        raise ValueError(f"empty {key_type} identifier")
    return result


def subject_key_secret() -> bytes:
    """The HMAC key for subject keys, read from settings on every call so overrides apply."""
    secret = settings.SUBJECT_KEY_SECRET
    if not secret:
        raise ValueError("SUBJECT_KEY_SECRET is not set")
    return secret.encode() if isinstance(secret, str) else bytes(secret)


def keyed(secret: bytes, key_type: str, value: str) -> str:
    """Subject key of a value under an already-read secret (the scanner reads it once per batch)."""
    message = f"{key_type}:{normalise(key_type, value)}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def subject_key(key_type: str, value: str) -> str:
    """HMAC-SHA256 hex of "key_type:normalised value" under settings.SUBJECT_KEY_SECRET."""
    return keyed(subject_key_secret(), key_type, value)
