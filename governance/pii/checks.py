"""Checksums and validity rules shared by the scanner's recognisers and erasure-request validation.

One implementation each, so an identifier the request accepts is one the scanner would find, and
the other way round. Pure functions on the canonical form (governance.pii.keys.normalise); no
presidio import, so validating a request does not load the NLP stack.
"""

from __future__ import annotations

import datetime
import functools
import re

import tldextract

_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
# PESEL months carry the century: +80 for the 1800s, +0, +20, +40, +60 for the 1900s to the 2200s.
_PESEL_CENTURY = (1900, 2000, 2100, 2200, 1800)
_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _is_ascii_digits(value: str, length: int) -> bool:
    return len(value) == length and value.isascii() and value.isdigit()


def pesel_is_valid(digits: str) -> bool:
    """Eleven digits with the PESEL check digit (weights 1,3,7,9,...) and a real birth date."""
    if not _is_ascii_digits(digits, 11):
        return False
    month = int(digits[2:4])
    try:
        datetime.date(_PESEL_CENTURY[month // 20] + int(digits[0:2]), month % 20, int(digits[4:6]))
    except ValueError:
        return False
    weighted = sum(w * int(d) for w, d in zip(_PESEL_WEIGHTS, digits, strict=False))
    return (10 - weighted % 10) % 10 == int(digits[10])


def nip_is_valid(digits: str) -> bool:
    """Ten digits with the NIP mod-11 check digit (weights 6,5,7,2,3,4,5,6,7), as issued."""
    if not _is_ascii_digits(digits, 10):
        return False
    # A run of one digit passes the checksum but is never issued, and no tax office code starts with 0.
    if len(set(digits)) == 1 or digits.startswith("0"):
        return False
    check = sum(w * int(d) for w, d in zip(_NIP_WEIGHTS, digits, strict=False)) % 11
    return check != 10 and check == int(digits[9])


def iban_is_valid(compact: str) -> bool:
    """An upper-case IBAN without separators: country, check digits, 11-30 BBAN characters, mod 97 == 1."""
    if not _IBAN_SHAPE.fullmatch(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def credit_card_is_valid(digits: str) -> bool:
    """12 to 19 digits passing the Luhn check."""
    if not (12 <= len(digits) <= 19 and digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for position, ch in enumerate(reversed(digits)):
        value = int(ch) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


@functools.cache
def offline_tld_extract() -> tldextract.TLDExtract:
    """tldextract with the bundled public suffix snapshot: no suffix list URLs, no cache dir, no network."""
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())


def email_domain_is_known(address: str) -> bool:
    """Whether the address's domain ends in a known public suffix (the scanner's e-mail rule)."""
    return offline_tld_extract()(address).fqdn != ""


def email_is_valid(address: str) -> bool:
    """local@domain.suffix, no spaces, one @, with a domain under a known public suffix."""
    return bool(_EMAIL_SHAPE.fullmatch(address)) and email_domain_is_known(address)
