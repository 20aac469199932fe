"""Erasure-request identifiers: validation codes, and keys equal to the scanner's."""

from __future__ import annotations

import json

import pytest

from governance import pii
from governance.errors import ValidationFailed
from governance.pii import checks
from governance.pii.identifiers import IDENTIFIER_TYPES, subject_keys, validate_identifiers

PESEL = "44051401359"
NIP = "123-456-32-18"
IBAN = "PL61 1090 1014 0000 0712 1981 2874"
CARD = "4111 1111 1111 1111"
EMAIL = "jan.kowalski@example.com"
PHONE = "+48 601 234 567"
# Parses as a possible Polish number, but libphonenumber does not call +48 702 valid.
POSSIBLE_PHONE = "+48 702 234 567"
IP = "192.168.1.20"


@pytest.fixture
def regex_engine(settings):
    settings.PII_ENGINE = "regex"


def refusal(items: list) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as error:
        validate_identifiers(items)
    return error.value


def assert_value_hidden(error: ValidationFailed, value: str) -> None:
    text = error.message + str(error) + json.dumps(error.details)
    assert value not in text


@pytest.mark.parametrize(
    ("identifier_type", "value", "code"),
    [
        ("pesel", "44051401358", "invalid_pesel"),
        ("pesel", "44023001356", "invalid_pesel"),  # 30 February, a valid check digit
        ("nip", "123-456-32-19", "invalid_nip"),
        ("nip", "0000000000", "invalid_nip"),
        ("iban", "PL62 1090 1014 0000 0712 1981 2874", "invalid_iban"),
        ("phone", "12", "invalid_phone"),
        ("phone", "15.03.2024", "invalid_phone"),
        ("phone", "192.168.1.20", "invalid_phone"),
        ("email", "jan.kowalski@", "invalid_email"),
        ("email", "jan.kowalski@example.notasuffix", "invalid_email"),
        ("ip", "999.1.2.3", "invalid_ip"),
        ("credit_card", "4111 1111 1111 1112", "invalid_credit_card"),
    ],
)
def test_a_bad_identifier_is_refused_with_its_code_and_index_but_not_its_value(identifier_type, value, code):
    items = [{"type": "email", "value": EMAIL}, {"type": identifier_type, "value": value}]

    error = refusal(items)

    assert error.code == code
    assert error.status == 400
    assert error.details == {"index": 1, "type": identifier_type}
    assert_value_hidden(error, value)


def test_the_pesel_date_check_is_what_made_the_february_pesel_invalid():
    # Same check digit rule, so only the date can be the reason.
    digits = "44023001356"
    weighted = sum(w * int(d) for w, d in zip((1, 3, 7, 9, 1, 3, 7, 9, 1, 3), digits, strict=False))
    assert (10 - weighted % 10) % 10 == int(digits[10])
    assert not checks.pesel_is_valid(digits)


def test_an_empty_list_is_refused():
    error = refusal([])

    assert error.code == "no_identifiers"


def test_more_identifiers_than_the_limit_are_refused(settings):
    settings.ERASURE_MAX_IDENTIFIERS = 3
    items = [{"type": "email", "value": f"user{i}@example.com"} for i in range(4)]

    error = refusal(items)

    assert error.code == "too_many_identifiers"
    assert error.details == {"count": 4, "limit": 3}
    assert_value_hidden(error, "user0@example.com")


def test_the_default_limit_is_ten_thousand_identifiers(settings):
    items = [{"type": "customer_id", "value": f"C-{i}"} for i in range(10_001)]

    assert settings.ERASURE_MAX_IDENTIFIERS == 10_000
    assert refusal(items).code == "too_many_identifiers"
    assert len(validate_identifiers(items[:10_000])) == 10_000


def test_an_unknown_type_is_refused_without_echoing_it():
    error = refusal([{"type": "passport-AB1234567", "value": "AB1234567"}])

    assert error.code == "unknown_identifier_type"
    assert error.details["index"] == 0
    assert error.details["allowed"] == list(IDENTIFIER_TYPES)
    assert_value_hidden(error, "AB1234567")


@pytest.mark.parametrize(
    "item",
    [{"type": "email"}, {"type": "email", "value": ""}, {"type": "email", "value": 7}, "x@example.com"],
)
def test_a_malformed_item_is_refused(item):
    error = refusal([item])

    assert error.code == "invalid_identifier"
    assert error.details["index"] == 0


def test_valid_identifiers_give_the_keys_the_scanner_gives_the_same_identifiers_in_a_text(regex_engine):
    text = (
        f"PESEL {PESEL}, NIP {NIP}, mail {EMAIL}, phone {PHONE}, IBAN {IBAN}, card {CARD}, login from {IP}."
    )
    items = [
        {"type": "pesel", "value": PESEL},
        {"type": "nip", "value": "PL 1234563218"},
        {"type": "email", "value": "Jan.Kowalski+erasure@EXAMPLE.com"},
        {"type": "phone", "value": "601-234-567"},
        {"type": "iban", "value": IBAN.replace(" ", "").lower()},
        {"type": "credit_card", "value": CARD.replace(" ", "-")},
        {"type": "ip", "value": "::ffff:192.168.1.20"},
    ]

    identifiers = validate_identifiers(items)

    assert subject_keys(identifiers) == pii.scan_text(text).subject_keys()
    assert not any(identifier.ambiguous for identifier in identifiers)


def test_a_person_key_equals_the_scanners_and_is_marked_ambiguous(settings):
    settings.PII_ENGINE = "spacy"
    text = "Please forward the contract to Anna Nowak before Monday."

    [identifier] = validate_identifiers([{"type": "person", "value": "  ANNA   nowak "}])

    assert identifier.ambiguous is True
    assert identifier.subject_key in pii.scan_text(text).subject_keys()


@pytest.mark.parametrize("written", [POSSIBLE_PHONE, "0048702234567", "702-234-567", "702 234 567"])
def test_a_possible_but_not_valid_phone_in_a_text_is_keyed_like_the_identifier(regex_engine, written):
    text = f"Call me on {POSSIBLE_PHONE} after five."

    result = pii.scan_text(text)
    [identifier] = validate_identifiers([{"type": "phone", "value": written}])

    assert [(f.entity_type, text[f.start : f.end]) for f in result.findings] == [
        ("PHONE_NUMBER", POSSIBLE_PHONE)
    ]
    assert result.subject_keys() == [identifier.subject_key]


def test_a_nationally_written_possible_phone_in_a_text_is_found_and_keyed(regex_engine):
    text = "Oddzwonię z 705-234-567 jutro."

    [identifier] = validate_identifiers([{"type": "phone", "value": "+48 705 234 567"}])

    assert pii.scan_text(text).subject_keys() == [identifier.subject_key]


def test_dates_and_amounts_are_not_read_as_possible_phones(regex_engine):
    text = "On 15.03.2024 the budget of room 204 was 150000 EUR for 1200 records."

    assert not pii.scan_text(text).contains_pii


def test_plus_addressing_and_case_give_one_email_key():
    identifiers = validate_identifiers(
        [
            {"type": "email", "value": "Jan.Kowalski+news@Example.COM"},
            {"type": "email", "value": "jan.kowalski@example.com"},
            {"type": "email", "value": " JAN.KOWALSKI+x@EXAMPLE.COM "},
        ]
    )

    assert len(subject_keys(identifiers)) == 1


def test_a_customer_id_is_keyed_verbatim_after_nfkc_and_strip():
    identifiers = validate_identifiers(
        [
            {"type": "customer_id", "value": " ＡＢＣ-42 "},
            {"type": "customer_id", "value": "ABC-42"},
            {"type": "customer_id", "value": "abc-42"},
        ]
    )

    assert (
        identifiers[0].subject_key == identifiers[1].subject_key == pii.subject_key("customer_id", "ABC-42")
    )
    assert identifiers[2].subject_key != identifiers[1].subject_key


def test_an_identifiers_repr_never_shows_its_value():
    [identifier] = validate_identifiers([{"type": "email", "value": EMAIL}])

    assert EMAIL not in repr(identifier)
    assert "jan" not in repr(identifier)


def test_the_scanner_and_the_validator_share_one_checksum_per_type(regex_engine):
    # A PESEL whose check digit is right but whose date is not is neither found nor accepted.
    text = "Identity number 44023001356 was given."

    assert not pii.scan_text(text).contains_pii
    assert refusal([{"type": "pesel", "value": "44023001356"}]).code == "invalid_pesel"
