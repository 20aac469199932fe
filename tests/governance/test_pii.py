"""PII scanning, normalisation and subject keys (governance.pii)."""

from __future__ import annotations

import hashlib
import hmac
import socket

import pytest

from governance import pii
from governance.pii import engine, recognizers

PESEL = "44051401359"
NIP = "123-456-32-18"
IBAN = "PL61 1090 1014 0000 0712 1981 2874"
CARD = "4111 1111 1111 1111"
EMAIL = "jan.kowalski@example.com"
PHONE = "+48 601 234 567"
IP = "192.168.1.20"
PERSON = "Jan Kowalski"

REALISTIC = (
    f"Customer {PERSON} (PESEL {PESEL}, NIP {NIP}) wrote from {EMAIL} and asked to be called on "
    f"{PHONE}. Refund goes to IBAN {IBAN}; the card {CARD} was blocked after a login from {IP}."
)
NO_PII = (
    "The nightly batch processed 1200 records in 14 minutes on 15.03.2024 at 10:30. Budget for "
    "room 204 is 150000 EUR, version 3.11.4 ships on Friday."
)


@pytest.fixture
def regex_engine(settings):
    settings.PII_ENGINE = "regex"


@pytest.fixture
def spacy_engine(settings):
    settings.PII_ENGINE = "spacy"


def found(text: str, result: pii.ScanResult) -> list[tuple[str, str]]:
    return [(f.entity_type, text[f.start : f.end]) for f in result.findings]


def test_it_finds_every_entity_type_in_a_realistic_text(spacy_engine):
    result = pii.scan_text(REALISTIC)

    assert found(REALISTIC, result) == [
        ("PERSON", PERSON),
        ("PL_PESEL", PESEL),
        ("PL_NIP", NIP),
        ("EMAIL_ADDRESS", EMAIL),
        ("PHONE_NUMBER", PHONE),
        ("IBAN_CODE", IBAN),
        ("CREDIT_CARD", CARD),
        ("IP_ADDRESS", IP),
    ]
    assert set(result.summary()) == set(pii.ENTITY_TYPES)


def test_the_regex_engine_finds_everything_but_names(regex_engine):
    result = pii.scan_text(REALISTIC)

    assert set(result.summary()) == set(pii.ENTITY_TYPES) - {"PERSON"}


@pytest.mark.parametrize(
    ("text", "person"),
    [
        ("Please forward the contract to Anna Nowak before Monday.", "Anna Nowak"),
        ("Yesterday John Smith met the auditors in London.", "John Smith"),
        ("The complaint was signed by Piotr Wiśniewski on behalf of the family.", "Piotr Wiśniewski"),
    ],
)
def test_it_finds_a_person_by_name(spacy_engine, text, person):
    assert ("PERSON", person) in found(text, pii.scan_text(text))


@pytest.mark.parametrize("phone", ["+48 601 234 567", "601-234-567", "601 234 567", "+48601234567"])
def test_it_finds_a_polish_phone_number_without_a_context_word(regex_engine, phone):
    text = f"Reach me at {phone} tomorrow."

    assert found(text, pii.scan_text(text)) == [("PHONE_NUMBER", phone)]


def test_it_finds_an_email_address(regex_engine):
    text = "Write to Jan.Kowalski+news@Example.COM for the minutes."

    assert found(text, pii.scan_text(text)) == [("EMAIL_ADDRESS", "Jan.Kowalski+news@Example.COM")]


def test_it_finds_an_iban_with_and_without_spaces(regex_engine):
    text = f"Pay to {IBAN} or to {IBAN.replace(' ', '')} by Friday."

    assert found(text, pii.scan_text(text)) == [("IBAN_CODE", IBAN), ("IBAN_CODE", IBAN.replace(" ", ""))]


def test_it_finds_a_credit_card_number_that_passes_luhn(regex_engine):
    text = f"Charged to {CARD}, not to 4111 1111 1111 1112."

    assert found(text, pii.scan_text(text)) == [("CREDIT_CARD", CARD)]


@pytest.mark.parametrize("address", ["192.168.1.20", "2001:db8::8a2e:370:7334"])
def test_it_finds_an_ip_address(regex_engine, address):
    text = f"Login from {address} was blocked."

    assert found(text, pii.scan_text(text)) == [("IP_ADDRESS", address)]


def test_it_finds_a_polish_pesel_with_a_valid_checksum(regex_engine):
    text = f"Identity confirmed with {PESEL} by the agent."

    assert found(text, pii.scan_text(text)) == [("PL_PESEL", PESEL)]


def test_it_ignores_a_pesel_with_an_invalid_checksum(regex_engine):
    text = "Identity number 44051401358 could not be confirmed."

    assert not pii.scan_text(text).contains_pii


def test_it_does_not_read_a_pesel_out_of_a_longer_number(regex_engine):
    text = f"Reference 9{PESEL}7 is an order number."

    assert "PL_PESEL" not in pii.scan_text(text).summary()


@pytest.mark.parametrize(
    "nip", ["123-456-32-18", "123-45-63-218", "123 456 32 18", "1234563218", "PL1234563218"]
)
def test_it_finds_a_polish_nip_in_each_written_form(regex_engine, nip):
    text = f"Invoice to the company with tax id {nip}, payable in 14 days."

    assert found(text, pii.scan_text(text)) == [("PL_NIP", nip)]


@pytest.mark.parametrize("nip", ["123-456-32-19", "1234563219", "0000000000", "1111111111"])
def test_it_ignores_a_nip_with_an_invalid_checksum(regex_engine, nip):
    text = f"Invoice to the company with tax id {nip}, payable in 14 days."

    assert "PL_NIP" not in pii.scan_text(text).summary()


def test_a_text_without_pii_gives_an_empty_result(spacy_engine):
    result = pii.scan_text(NO_PII)

    assert result == pii.ScanResult(findings=())
    assert not result.contains_pii
    assert result.summary() == {}
    assert result.subject_keys() == []


def test_it_reports_no_us_bank_number_driver_licence_or_url(spacy_engine):
    text = f"PESEL {PESEL}, see {EMAIL} or example.com for details."

    assert set(pii.scan_text(text).summary()) == {"PL_PESEL", "EMAIL_ADDRESS"}


def test_findings_never_overlap_and_the_best_score_wins(regex_engine):
    # A PESEL of someone born in 2007 is also a valid GB phone number; the checksum makes it PESEL.
    text = "Child's PESEL 07291517343 was added to the file."

    assert found(text, pii.scan_text(text)) == [("PL_PESEL", "07291517343")]


def test_findings_hold_offsets_and_keys_but_not_the_identifiers(spacy_engine):
    result = pii.scan_text(REALISTIC)
    raw_values = {PERSON, PESEL, NIP, EMAIL, PHONE, IBAN, CARD, IP}

    for finding in result.findings:
        assert set(vars(finding)) == {"entity_type", "start", "end", "score", "subject_key"}
        assert not raw_values & {str(value) for value in vars(finding).values()}
    assert pii.subject_key("email", EMAIL) in result.subject_keys()


def test_summary_counts_findings_per_type(regex_engine):
    text = f"Call {PHONE} or 601-234-568, or write to {EMAIL}."

    assert pii.scan_text(text).summary() == {"PHONE_NUMBER": 2, "EMAIL_ADDRESS": 1}


def test_subject_keys_are_sorted_and_unique(regex_engine):
    text = f"Write to {EMAIL}, or to Jan.Kowalski+x@Example.COM, or call {PHONE}."
    result = pii.scan_text(text)

    assert len(result.findings) == 3
    assert result.subject_keys() == sorted({pii.subject_key("email", EMAIL), pii.subject_key("phone", PHONE)})


def test_it_drops_findings_below_the_score_threshold(regex_engine, settings):
    text = f"Login from {IP}, PESEL {PESEL}."
    settings.PII_SCORE_THRESHOLD = 0.9

    assert found(text, pii.scan_text(text)) == [("PL_PESEL", PESEL)]


def test_scan_texts_gives_the_same_results_as_scan_text(settings):
    texts = [REALISTIC, NO_PII, "", "Anna Nowak, tel. 601-234-567.", f"{EMAIL} {IBAN}", "   "]
    for engine_name in ("spacy", "regex"):
        settings.PII_ENGINE = engine_name

        assert pii.scan_texts(texts) == [pii.scan_text(text) for text in texts]


def test_scan_texts_of_nothing_is_an_empty_list(regex_engine):
    assert pii.scan_texts([]) == []


def test_it_finds_identifiers_on_both_sides_of_a_window_edge(spacy_engine, monkeypatch):
    monkeypatch.setattr(engine, "MAX_SEGMENT_CHARS", 400)
    monkeypatch.setattr(engine, "SEGMENT_OVERLAP", 100)
    sentence = f"Mail {EMAIL} about PESEL {PESEL} and phone {PHONE} today. "
    text = sentence * 20

    result = pii.scan_text(text)

    assert result.summary() == {"EMAIL_ADDRESS": 20, "PL_PESEL": 20, "PHONE_NUMBER": 20}
    assert pii.scan_texts([text]) == [result]


def test_scanning_an_email_never_touches_the_network(regex_engine, monkeypatch):
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    # Forget the loaded suffix list, so this scan has to load it again.
    recognizers._offline_tld_extract.cache_clear()

    result = pii.scan_text(f"Write to {EMAIL} or anna@firma.com.pl.")

    assert result.summary() == {"EMAIL_ADDRESS": 2}
    assert attempts == []


def test_warm_up_loads_each_engine_once_per_process(regex_engine):
    pii.warm_up()
    loaded = dict(engine._scanners)
    pii.warm_up()
    pii.scan_text("nothing here")

    assert engine._scanners == loaded
    assert any(name == "regex" for name, _ in loaded)


def test_an_unknown_engine_is_refused(settings):
    settings.PII_ENGINE = "stanza"

    with pytest.raises(ValueError, match="PII_ENGINE"):
        pii.scan_text("anything")


def test_mask_text_replaces_each_identifier_with_its_type(spacy_engine):
    masked = pii.mask_text(REALISTIC, pii.scan_text(REALISTIC))

    for placeholder in ("<PERSON>", "<PL_PESEL>", "<PL_NIP>", "<EMAIL_ADDRESS>", "<PHONE_NUMBER>"):
        assert placeholder in masked
    for placeholder in ("<IBAN_CODE>", "<CREDIT_CARD>", "<IP_ADDRESS>"):
        assert placeholder in masked
    for value in (PERSON, "Kowalski", PESEL, NIP, EMAIL, PHONE, IBAN, CARD, IP):
        assert value not in masked
    assert masked.startswith("Customer <PERSON> (PESEL <PL_PESEL>, NIP <PL_NIP>) wrote from <EMAIL_ADDRESS>")


def test_mask_text_leaves_a_text_without_pii_unchanged(spacy_engine):
    assert pii.mask_text(NO_PII, pii.scan_text(NO_PII)) == NO_PII


@pytest.mark.parametrize(
    ("key_type", "value", "expected"),
    [
        ("email", "jan.kowalski+news@Example.com", "jan.kowalski@example.com"),
        ("email", " JAN.KOWALSKI@EXAMPLE.COM ", "jan.kowalski@example.com"),
        ("email", "ｊａｎ@ｅｘａｍｐｌｅ.ｃｏｍ", "jan@example.com"),
        ("phone", "+48 601 234 567", "48601234567"),
        ("phone", "601-234-567", "48601234567"),
        ("phone", "0048 601 234 567", "48601234567"),
        ("phone", "(601) 234 567", "48601234567"),
        ("phone", "６０１ ２３４ ５６７", "48601234567"),
        ("phone", "+1 415 555 2671", "14155552671"),
        ("person", "  JAN   Kowalski\n", "jan kowalski"),
        ("person", "Ｊａｎ Ｋｏｗａｌｓｋｉ", "jan kowalski"),
        ("person", "ŁUKASZ Wiśniewski", "łukasz wiśniewski"),
        ("iban", "pl61 1090 1014 0000 0712 1981 2874", "PL61109010140000071219812874"),
        ("iban", "GB82-WEST-1234-5698-7654-32", "GB82WEST12345698765432"),
        ("credit_card", "4111-1111-1111-1111", "4111111111111111"),
        ("ip", "192.168.1.20", "192.168.1.20"),
        ("ip", "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("ip", "::ffff:192.168.1.20", "192.168.1.20"),
        ("ip", "10.0.0.1/24", "10.0.0.1"),
        ("pesel", "440514 01359", "44051401359"),
        ("nip", "PL 123-456-32-18", "1234563218"),
    ],
)
def test_normalise_gives_one_canonical_form(key_type, value, expected):
    assert pii.normalise(key_type, value) == expected


def test_normalise_refuses_an_unknown_key_type():
    with pytest.raises(ValueError, match="unknown key type"):
        pii.normalise("passport", "AB1234567")


def test_normalise_errors_never_contain_the_value():
    with pytest.raises(ValueError) as error:
        pii.normalise("ip", "999.1.2.3-secret")

    assert "999" not in str(error.value)
    assert "secret" not in str(error.value)


def test_subject_keys_are_equal_for_two_spellings_of_one_email():
    assert pii.subject_key("email", "Jan.Kowalski+x@Example.COM") == pii.subject_key(
        "email", "jan.kowalski@example.com"
    )


def test_subject_keys_differ_under_another_secret(settings):
    before = pii.subject_key("email", "jan.kowalski@example.com")
    settings.SUBJECT_KEY_SECRET = "another-secret"

    assert pii.subject_key("email", "jan.kowalski@example.com") != before


def test_subject_keys_differ_by_key_type():
    assert pii.subject_key("nip", "1234563218") != pii.subject_key("phone", "1234563218")


def test_a_subject_key_is_the_hmac_of_type_and_normalised_value(settings):
    settings.SUBJECT_KEY_SECRET = "s3cret"
    expected = hmac.new(b"s3cret", b"email:jan.kowalski@example.com", hashlib.sha256).hexdigest()

    assert pii.subject_key("email", "Jan.Kowalski+x@Example.COM") == expected


def test_scan_findings_carry_the_same_keys_as_an_erasure_request_would(regex_engine):
    text = "Reach Jan.Kowalski+news@Example.COM or 601-234-567."
    keys = pii.scan_text(text).subject_keys()

    assert pii.subject_key("email", "jan.kowalski@example.com") in keys
    assert pii.subject_key("phone", "+48 601 234 567") in keys


def test_key_type_for_maps_every_entity_type():
    assert [pii.key_type_for(entity) for entity in pii.ENTITY_TYPES] == [
        "email",
        "phone",
        "person",
        "iban",
        "credit_card",
        "ip",
        "pesel",
        "nip",
    ]
    with pytest.raises(ValueError, match="unknown entity type"):
        pii.key_type_for("URL")
