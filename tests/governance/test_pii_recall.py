"""Scanner recall on a Polish corpus (issue 8: masking is only as good as the scanner).

The corpus (tests/governance/pii_corpus.py) plants every identifier at known offsets. Measured on
1000 records of it before name completion: person 825/1198 full names and 165/322 one-word mentions
found whole and keyed, phones 604/613 (PESEL read out of "+48..."), mask leaks in 374 of 1000
records. After: every planted identifier found and keyed, no leak. The thresholds below leave one
name in a hundred for spaCy's moods; structured identifiers have no slack.
"""

from __future__ import annotations

import pytest

from governance import pii
from governance.pii import engine
from governance.pii.identifiers import validate_identifiers
from governance.pii.names import complete_names
from tests.governance.pii_corpus import Measurement, make_corpus, measure, texts

CORPUS_SIZE = 200
STRUCTURED = ("email", "phone", "pesel", "nip", "iban")


@pytest.fixture
def spacy_engine(settings):
    settings.PII_ENGINE = "spacy"


@pytest.fixture
def regex_engine(settings):
    settings.PII_ENGINE = "regex"


def _scan_and_measure() -> Measurement:
    records = make_corpus(CORPUS_SIZE)
    results = pii.scan_texts(texts(records))
    masked = [pii.mask_text(record.text, result) for record, result in zip(records, results, strict=True)]
    return measure(records, results, masked)


def _key(identifier_type: str, value: str) -> str:
    return validate_identifiers([{"type": identifier_type, "value": value}])[0].subject_key


def _found(text: str, result: pii.ScanResult) -> list[tuple[str, str]]:
    return [(f.entity_type, text[f.start : f.end]) for f in result.findings]


def test_every_structured_identifier_of_the_corpus_is_found_keyed_and_masked(spacy_engine):
    measured = _scan_and_measure()

    for kind in STRUCTURED:
        assert measured.planted[kind] > 20
        assert measured.recall(kind) == 1.0, (kind, measured.lines())
        assert measured.leaks.get(kind, 0) == 0, (kind, measured.lines())


def test_names_of_the_corpus_are_found_whole_keyed_and_masked(spacy_engine):
    measured = _scan_and_measure()

    assert measured.planted["person"] > 150
    assert measured.planted["person_part"] > 30
    assert measured.recall("person") >= 0.99, measured.lines()
    assert measured.recall("person_part") >= 0.99, measured.lines()
    assert measured.leaked_records <= CORPUS_SIZE // 100, measured.lines()


def test_name_completion_adds_no_person_to_the_filler_records(spacy_engine, monkeypatch):
    with_completion = _scan_and_measure()
    monkeypatch.setattr(engine, "complete_names", lambda text, spans: spans)
    monkeypatch.setattr(engine, "plausible", lambda text: True)
    spacy_alone = _scan_and_measure()

    # The filler records name no one; what spaCy itself tags there ("Dashboard") stays its own.
    assert with_completion.spurious_in_filler <= spacy_alone.spurious_in_filler
    assert spacy_alone.recall("person") < with_completion.recall("person")


def test_a_partial_name_is_keyed_and_masked_as_the_full_name(spacy_engine):
    text = "Dear Dorota Kowalska, your request was registered. Kowalska will get a letter."
    result = pii.scan_text(text)

    assert _found(text, result) == [("PERSON", "Dorota Kowalska"), ("PERSON", "Kowalska")]
    assert [f.subject_key for f in result.findings] == [
        _key("person", "Dorota Kowalska"),
        _key("person", "Kowalska"),
    ]
    masked = pii.mask_text(text, result)
    assert "Dorota" not in masked and "Kowalska" not in masked


def test_a_title_is_not_part_of_the_name_key(spacy_engine):
    text = "Jolanta Olszewska called. Ms Olszewska also wants the invoice by post."
    result = pii.scan_text(text)

    assert _found(text, result) == [("PERSON", "Jolanta Olszewska"), ("PERSON", "Olszewska")]
    assert result.findings[1].subject_key == _key("person", "Olszewska")


def test_a_compact_phone_after_tel_is_a_phone_and_not_a_pesel_or_name(spacy_engine):
    text = "Complaint from Paweł Żak, tel. +48705543849: the invoice was charged twice."
    result = pii.scan_text(text)

    assert ("PHONE_NUMBER", "+48705543849") in _found(text, result)
    assert _key("phone", "+48705543849") in result.subject_keys()
    assert "+48705543849" not in pii.mask_text(text, result)


@pytest.mark.parametrize("phone", ["+48 701 234 567", "703-123-456", "0048 705 123 456", "+48708123456"])
@pytest.mark.parametrize("engine_name", ["spacy", "regex"])
def test_a_70x_phone_is_found_keyed_and_masked_by_both_engines(settings, engine_name, phone):
    settings.PII_ENGINE = engine_name
    text = f"Please call back on {phone} after five."
    result = pii.scan_text(text)

    assert _found(text, result) == [("PHONE_NUMBER", phone)]
    assert result.subject_keys() == [_key("phone", phone)]
    assert pii.mask_text(text, result) == "Please call back on <PHONE_NUMBER> after five."


def test_the_regex_engine_still_finds_no_names(regex_engine):
    text = "Dear Dorota Kowalska, Jan Nowak wrote from jan.nowak@example.com."

    assert pii.scan_text(text).summary() == {"EMAIL_ADDRESS": 1}


def test_scan_texts_and_scan_text_agree_on_completed_names(spacy_engine):
    corpus = texts(make_corpus(30))

    assert pii.scan_texts(corpus) == [pii.scan_text(text) for text in corpus]


# complete_names alone: (entity, start, end, score) spans in, the same shape out; no spaCy involved.


def _names(text: str, *spans: tuple[str, str]) -> list[str]:
    given = [(entity, text.index(value), text.index(value) + len(value), 0.85) for entity, value in spans]
    return [text[start:end] for entity, start, end, _ in complete_names(text, given) if entity == "PERSON"]


def test_a_surname_span_is_widened_to_a_first_name_before_it():
    assert _names("Invoice for Zdzisława Kuźniar was sent.", ("PERSON", "Kuźniar")) == ["Zdzisława Kuźniar"]


def test_a_first_name_span_is_widened_to_a_surname_after_it():
    assert _names("The report from Mieszko Buśko arrived.", ("PERSON", "Mieszko")) == ["Mieszko Buśko"]


def test_a_sentence_initial_ordinary_word_is_not_taken_into_a_name():
    assert _names("Yesterday Buśko called. Later Buśko wrote.", ("PERSON", "Buśko")) == ["Buśko", "Buśko"]


def test_stop_words_titles_and_implausible_spans_are_not_names():
    assert _names("Order 12345 shipped on Monday.", ("PERSON", "Order")) == []
    assert _names("Call mobile +48601234567 today.", ("PERSON", "mobile +48601234567")) == []
    assert _names("The line rang twice today.", ("PERSON", "rang twice")) == []
    assert _names("Thanks, Ryszard Łuczak, PESEL follows.", ("PERSON", "Ryszard Łuczak, PESEL")) == [
        "Ryszard Łuczak"
    ]


def test_further_mentions_are_found_but_never_over_another_identifier():
    text = "Anna Nowak wrote. ANNA NOWAK again; anna.nowak@example.com, Nowak-Kowalska, nowak."
    email = text.index("anna.nowak@")
    spans = [("PERSON", 0, 10, 0.85), ("EMAIL_ADDRESS", email, email + 22, 1.0)]

    completed = complete_names(text, spans)

    assert [(e, text[s:t]) for e, s, t, _ in completed] == [
        ("PERSON", "Anna Nowak"),
        ("PERSON", "ANNA NOWAK"),
        ("EMAIL_ADDRESS", "anna.nowak@example.com"),
    ]


def test_a_known_first_name_and_a_capitalised_word_make_a_name_without_spacy():
    assert _names("Refund approved for Grażyna Ślusarczyk today.") == ["Grażyna Ślusarczyk"]
    assert _names("Refund approved for Grażyna today, on Monday.") == []
