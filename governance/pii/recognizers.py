"""The pattern recognisers the scanner runs: presidio's, configured for offline Polish use, plus PL_NIP."""

from __future__ import annotations

import re
from collections.abc import Sequence

import phonenumbers
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    PlPeselRecognizer,
)
from presidio_analyzer.predefined_recognizers.generic.iban_patterns import regex_per_country

from governance.pii.checks import (
    credit_card_is_valid,
    email_domain_is_known,
    iban_is_valid,
    nip_is_valid,
    offline_tld_extract,
    pesel_is_valid,
)
from governance.pii.keys import phone_number

_ASCII_DIGITS = frozenset("0123456789")
# The suffix list loader lives in governance.pii.checks; the old name stays for callers and tests.
_offline_tld_extract = offline_tld_extract


def _ascii_digits(text: str) -> str:
    return "".join(ch for ch in text if ch in _ASCII_DIGITS)


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's email recogniser, validating the domain against the bundled suffix list only."""

    def validate_result(self, pattern_text: str) -> bool:
        """Accept the match when its domain ends in a known public suffix."""
        return email_domain_is_known(pattern_text)


class PossiblePhoneRecognizer(PhoneRecognizer):
    """presidio's phone recogniser keeping every possible number (keys.phone_number), not only valid ones."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Match candidates leniently in each region; keep those the key builder reads as a number."""
        results = []
        for region in self.supported_regions:
            for match in phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.POSSIBLE
            ):
                # The same predicate as the subject key and erasure-request validation, over all regions.
                if phone_number(match.raw_string, self.supported_regions) is not None:
                    results.append(self._get_recognizer_result(match, text, region, nlp_artifacts))
        return EntityRecognizer.remove_duplicates(results)


class ChecksumIbanRecognizer(IbanRecognizer):
    """presidio's IBAN recogniser with the shared mod-97 check, plus presidio's per-country format."""

    def validate_result(self, pattern_text: str) -> bool:
        """Accept an IBAN passing mod 97 whose BBAN has its country's format."""
        compact = "".join(ch for ch in pattern_text.upper() if ch not in " -")
        country = regex_per_country.get(compact[:2])
        return iban_is_valid(compact) and country is not None and re.match(country, compact) is not None


class LuhnCreditCardRecognizer(CreditCardRecognizer):
    """presidio's card recogniser with the shared Luhn check."""

    def validate_result(self, pattern_text: str) -> bool:
        """Accept 12 to 19 digits passing Luhn."""
        return credit_card_is_valid("".join(ch for ch in pattern_text if ch not in " -"))


class DatedPeselRecognizer(PlPeselRecognizer):
    """presidio's PESEL recogniser with the shared check: check digit and a real birth date."""

    def validate_result(self, pattern_text: str) -> bool:
        """Accept a PESEL whose check digit and encoded birth date are valid."""
        return pesel_is_valid(pattern_text)


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
        """Check the shared NIP rule: mod-11 checksum, no run of one digit, no leading zero."""
        return nip_is_valid(_ascii_digits(pattern_text))


# presidio's own PESEL pattern has no boundaries and would read 11 digits out of any longer number;
# nor after a "+": +48721500238 is a phone number whose digits happen to pass the PESEL checks.
_PESEL_PATTERN = Pattern(
    "PESEL",
    r"(?<![0-9+])[0-9]{2}([02468][1-9]|[13579][012])(0[1-9]|1[0-9]|2[0-9]|3[01])[0-9]{5}(?![0-9])",
    0.4,
)


def build_recognizers(phone_regions: Sequence[str]) -> list[EntityRecognizer]:
    """One instance of every pattern recogniser, all registered for English text."""
    return [
        OfflineEmailRecognizer(),
        # Possible numbers, not only valid ones: +48 70x numbers parse but are not "valid" (recall first).
        PossiblePhoneRecognizer(supported_regions=tuple(phone_regions), leniency=0),
        ChecksumIbanRecognizer(),
        LuhnCreditCardRecognizer(),
        IpRecognizer(),
        # presidio registers its PESEL recogniser for "pl" only.
        DatedPeselRecognizer(patterns=[_PESEL_PATTERN], supported_language="en"),
        PlNipRecognizer(supported_language="en"),
    ]
