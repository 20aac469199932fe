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
# Types only an erasure request names (no recogniser finds them in text).
REQUEST_ONLY_KEY_TYPES: tuple[str, ...] = ("customer_id",)

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


def _fits_numbering_plan(number: phonenumbers.PhoneNumber) -> bool:
    # Full length in its country (not a local-only short form) and shaped like the country's numbers
    # (its general pattern), but not necessarily in an allocated range: +48 702 ... is possible, not
    # valid. The pattern keeps dates (15.03.2024) and amounts (150000) from reading as Polish numbers.
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return False
    code = number.country_code
    if code is None:
        return False
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    pattern = metadata.general_desc.national_number_pattern if metadata and metadata.general_desc else None
    if not pattern:
        return False
    return re.fullmatch(pattern, phonenumbers.national_significant_number(number)) is not None


def phone_number(value: str, regions: Sequence[str] | None = None) -> phonenumbers.PhoneNumber | None:
    """The phone number a text names, or None: the one predicate the scanner and erasure requests share.

    A number valid in some region (in settings.PII_PHONE_REGIONS order) wins, so keys of valid numbers
    never change; otherwise a possible number fitting its country's numbering plan, read in the home
    region (the first one; a number written with its country code is read as that country's). Other
    regions count for valid numbers only: their possible-only ranges also cover IP addresses.
    """
    value = unicodedata.normalize("NFKC", value)
    regions = phone_regions() if regions is None else tuple(regions)
    home = None
    for index, region in enumerate(regions):
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
        if index == 0:
            home = number
    if home is None or not _fits_numbering_plan(home):
        return None
    # 192.168.1.20 has the nine digits of a Polish number; an address is never a phone.
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return home
    return None


def _phone(value: str) -> str:
    number = phone_number(value)
    if number is None:
        raise ValueError("not a possible phone identifier")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


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
        result = _phone(value)
    elif key_type == "iban":
        result = _iban(value)
    elif key_type == "ip":
        result = _ip(value)
    elif key_type == "person":
        result = _person(value)
    elif key_type in {"credit_card", "pesel", "nip"}:
        result = _digits(_fold(value))
    elif key_type == "customer_id":
        # Keyed verbatim (case and inner spacing kept): an account reference is compared as issued.
        result = unicodedata.normalize("NFKC", value).strip()
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
