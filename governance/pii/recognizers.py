"""The pattern recognisers the scanner runs: presidio's, configured for offline Polish use, plus PL_NIP."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import tldextract
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    PlPeselRecognizer,
)

_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
_ASCII_DIGITS = frozenset("0123456789")


@functools.cache
def _offline_tld_extract() -> tldextract.TLDExtract:
    # No suffix list URLs and no cache dir: the bundled public suffix snapshot, never the network.
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's email recogniser, validating the domain against the bundled suffix list only."""

    def validate_result(self, pattern_text: str) -> bool:
        """Accept the match when its domain ends in a known public suffix."""
        return _offline_tld_extract()(pattern_text).fqdn != ""


class PlNipRecognizer(PatternRecognizer):
    """Polish tax id (NIP): ten digits, as 123-456-32-18, 123-45-67-819 or plain, with a mod-11 checksum."""

    # (?<![\w-]) and (?![\w-]) keep a NIP from being read out of a longer number or a hyphenated code.
    PATTERNS = [
        Pattern(
            "NIP (3-3-2-2)",
            r"(?<![\w-])(?:PL ?)?[0-9]{3}([- ])[0-9]{3}\1[0-9]{2}\1[0-9]{2}(?![\w-])",
            0.5,
        ),
        Pattern(
            "NIP (3-2-2-3)",
            r"(?<![\w-])(?:PL ?)?[0-9]{3}([- ])[0-9]{2}\1[0-9]{2}\1[0-9]{3}(?![\w-])",
            0.5,
        ),
        Pattern("NIP (plain)", r"(?<![\w-])(?:PL ?)?[0-9]{10}(?![\w-])", 0.5),
    ]
    CONTEXT = ["nip", "vat", "tax"]

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity="PL_NIP",
            patterns=list(self.PATTERNS),
            context=list(self.CONTEXT),
            supported_language=supported_language,
            name="PlNipRecognizer",
        )

    def validate_result(self, pattern_text: str) -> bool:
        """Check the weighted mod-11 checksum (weights 6,5,7,2,3,4,5,6,7)."""
        digits = [int(ch) for ch in pattern_text if ch in _ASCII_DIGITS]
        if len(digits) != 10:
            return False
        check = sum(w * d for w, d in zip(_NIP_WEIGHTS, digits, strict=False)) % 11
        return check != 10 and check == digits[9]

    def invalidate_result(self, pattern_text: str) -> bool:
        """Reject runs of one digit and a leading zero, which pass the checksum but are never issued."""
        digits = "".join(ch for ch in pattern_text if ch in _ASCII_DIGITS)
        # The first three digits are the issuing tax office's code, and no office code starts with 0.
        return len(set(digits)) == 1 or digits.startswith("0")


# presidio's own PESEL pattern has no boundaries and would read 11 digits out of any longer number.
_PESEL_PATTERN = Pattern(
    "PESEL",
    r"(?<![0-9])[0-9]{2}([02468][1-9]|[13579][012])(0[1-9]|1[0-9]|2[0-9]|3[01])[0-9]{5}(?![0-9])",
    0.4,
)


def build_recognizers(phone_regions: Sequence[str]) -> list[EntityRecognizer]:
    """One instance of every pattern recogniser, all registered for English text."""
    return [
        OfflineEmailRecognizer(),
        # leniency 1 (VALID): the number must be valid in the region's numbering plan, not just possible.
        PhoneRecognizer(supported_regions=tuple(phone_regions), leniency=1),
        # Its error log would quote the match, but only on a ValueError its ASCII-only pattern cannot give.
        IbanRecognizer(),
        CreditCardRecognizer(),
        IpRecognizer(),
        # presidio validates the PESEL checksum (weights 1,3,7,9,...) but registers it for "pl" only.
        PlPeselRecognizer(patterns=[_PESEL_PATTERN], supported_language="en"),
        PlNipRecognizer(supported_language="en"),
    ]
