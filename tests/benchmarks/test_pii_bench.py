"""PII scanning throughput: scan_texts on both engines against presidio's per-text analyze, same run.

Run with `make bench` (or `pytest tests/benchmarks/test_pii_bench.py -s -o addopts=""`). Prints the
figures and appends them to bench-results/pii.json. PII_BENCH_RECORDS sets the number of records.
Also prints recall per identifier type and the mask leak rate on the Polish corpus of
tests/governance/pii_corpus.py (PII_RECALL_RECORDS records, spaCy engine).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpEngineProvider, NoOpNlpEngine

from governance.pii import ENTITY_TYPES, mask_text, scan_texts, warm_up
from governance.pii.engine import LANGUAGE, spacy_nlp_configuration
from governance.pii.keys import phone_regions
from governance.pii.recognizers import build_recognizers
from tests.governance.pii_corpus import make_corpus, measure

RESULTS_FILE = Path(__file__).resolve().parents[2] / "bench-results" / "pii.json"
SEED = 20240521

FIRST_NAMES = [
    "Jan", "Anna", "Piotr", "Katarzyna", "Tomasz", "Małgorzata", "Michał", "Agnieszka", "Paweł",
    "Joanna", "Krzysztof", "Ewa", "John", "Sarah", "David", "Emily", "Łukasz", "Zofia",
]  # fmt: skip
LAST_NAMES = [
    "Kowalski", "Nowak", "Wiśniewski", "Wójcik", "Kamińska", "Lewandowski", "Zielińska", "Szymański",
    "Woźniak", "Dąbrowska", "Smith", "Johnson", "Brown", "Taylor", "Mazur", "Krawczyk",
]  # fmt: skip
DOMAINS = ["example.com", "example.pl", "mail.example.org", "firma.com.pl", "uni.example.edu"]
MOBILE_PREFIXES = ["501", "502", "601", "602", "604", "605", "661", "691", "693", "697", "721", "781", "791"]
TEMPLATES = [
    "Ticket {n}: {name} ({email}) reported a failed card payment and asked for a call back on {phone}. "
    "Identity confirmed with PESEL {pesel} by the support agent.",
    "Refund of {amount} PLN approved for {name}. Please transfer it to IBAN {iban} and confirm by "
    "email to {email} once the bank has processed the transaction.",
    "{name} asked to update the delivery address for order {n}; new contact number {phone}. "
    "The previous parcel was returned to the depot in Poznań.",
    "Meeting notes: {name} and {name2} agreed the Q3 budget for the analytics team. Follow-up by "
    "email to {email} before Friday, escalation to {phone} if urgent.",
    "Nightly batch finished: {n} records processed in {minutes} minutes, no errors reported, the next "
    "run is scheduled for 02:00 UTC and the archive job for Sunday.",
    "Complaint from {name}, PESEL {pesel}, tel. {phone}: the invoice for {amount} PLN was charged "
    "twice. Refund account {iban}.",
]
FILLER = " The customer was informed about the processing of personal data under the privacy notice."


def _pesel(rng: random.Random) -> str:
    year, month, day = rng.randint(1950, 2009), rng.randint(1, 12), rng.randint(1, 28)
    month += 20 if year >= 2000 else 0
    body = f"{year % 100:02d}{month:02d}{day:02d}{rng.randint(0, 9999):04d}"
    weighted = sum(int(d) * w for d, w in zip(body, (1, 3, 7, 9, 1, 3, 7, 9, 1, 3), strict=True))
    return body + str((10 - weighted % 10) % 10)


def _iban(rng: random.Random) -> str:
    bban = "".join(str(rng.randint(0, 9)) for _ in range(24))
    # ISO 13616: check digits make BBAN + country letters as numbers + check digits = 1 (mod 97).
    check = 98 - int(bban + "2521" + "00") % 97
    raw = f"PL{check:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4)) if rng.random() < 0.6 else raw


def _phone(rng: random.Random) -> str:
    digits = rng.choice(MOBILE_PREFIXES) + "".join(str(rng.randint(0, 9)) for _ in range(6))
    style = rng.randint(0, 2)
    if style == 0:
        return f"+48 {digits[:3]} {digits[3:6]} {digits[6:]}"
    if style == 1:
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def _email(rng: random.Random, first: str, last: str) -> str:
    ascii_name = f"{first}.{last}".lower().translate(str.maketrans("ąćęłńóśźż", "acelnoszz"))
    tag = f"+{rng.choice(['news', 'shop', 'x'])}" if rng.random() < 0.2 else ""
    return f"{ascii_name}{tag}@{rng.choice(DOMAINS)}"


def make_records(count: int, seed: int = SEED) -> list[str]:
    """count realistic 150-300 byte records with mixed PII, the same for the same seed."""
    rng = random.Random(seed)
    records = []
    while len(records) < count:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        record = rng.choice(TEMPLATES).format(
            n=rng.randint(10_000, 99_999),
            name=f"{first} {last}",
            name2=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            email=_email(rng, first, last),
            phone=_phone(rng),
            pesel=_pesel(rng),
            iban=_iban(rng),
            amount=f"{rng.randint(10, 9999)}.{rng.randint(0, 99):02d}",
            minutes=rng.randint(2, 90),
        )
        while len(record.encode()) < 150:
            record += FILLER
        if len(record.encode()) <= 300:
            records.append(record)
    return records


def _reference_analyzer(engine: str) -> AnalyzerEngine:
    """presidio as a caller would set it up: full spaCy pipeline (or no-op), the same recognisers."""
    if engine == "spacy":
        nlp_engine = NlpEngineProvider(nlp_configuration=spacy_nlp_configuration()).create_engine()
    else:
        nlp_engine = NlpEngineProvider(
            nlp_engines=(NoOpNlpEngine,),
            nlp_configuration={
                "nlp_engine_name": "no_op",
                "models": [{"lang_code": LANGUAGE, "model_name": ""}],
            },
        ).create_engine()
    registry = RecognizerRegistry(
        recognizers=build_recognizers(phone_regions()), supported_languages=[LANGUAGE]
    )
    registry.add_nlp_recognizer(nlp_engine=nlp_engine)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[LANGUAGE])


def _timed(work: Callable[[], int]) -> tuple[float, float, int]:
    """Wall and CPU seconds of work(); CPU time shows the cost when other processes share the cores."""
    started, cpu_started = time.perf_counter(), time.process_time()
    found = work()
    return time.perf_counter() - started, time.process_time() - cpu_started, found


def _figures(
    seconds: float, cpu_seconds: float, records: int, size: int, found: int
) -> dict[str, float | int]:
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "records_per_s": round(records / seconds, 1),
        "kb_per_s": round(size / 1024 / seconds, 1),
        "kb_per_cpu_s": round(size / 1024 / cpu_seconds, 1),
        "findings": found,
    }


def _scan_all(records: Sequence[str], batch: int) -> int:
    found = 0
    for start in range(0, len(records), batch):
        found += sum(len(r.findings) for r in scan_texts(records[start : start + batch]))
    return found


def test_it_reports_scanning_throughput_of_both_engines_against_presidio(settings) -> None:
    count = int(os.environ.get("PII_BENCH_RECORDS", "2000"))
    batch = int(settings.DATASET_SCAN_BATCH)
    records = make_records(count)
    size = sum(len(r.encode()) for r in records)
    figures: dict[str, dict[str, float | int]] = {}

    for engine in ("spacy", "regex"):
        settings.PII_ENGINE = engine
        started = time.perf_counter()
        warm_up()
        load_seconds = time.perf_counter() - started
        seconds, cpu_seconds, found = _timed(lambda: _scan_all(records, batch))
        figures[f"scan_texts[{engine}]"] = {
            **_figures(seconds, cpu_seconds, count, size, found),
            "load_seconds": round(load_seconds, 2),
        }

        reference = _reference_analyzer(engine)
        entities = [e for e in ENTITY_TYPES if e in reference.get_supported_entities(LANGUAGE)]
        reference.analyze(records[0], language=LANGUAGE, entities=entities)
        seconds, cpu_seconds, found = _timed(
            lambda ref=reference, ents=entities: sum(
                len(ref.analyze(r, language=LANGUAGE, entities=ents)) for r in records
            )
        )
        figures[f"presidio_analyze[{engine}]"] = _figures(seconds, cpu_seconds, count, size, found)

    settings.PII_ENGINE = "spacy"
    corpus = make_corpus(int(os.environ.get("PII_RECALL_RECORDS", "1000")))
    results = [
        r
        for start in range(0, len(corpus), batch)
        for r in scan_texts([c.text for c in corpus[start : start + batch]])
    ]
    recall = measure(corpus, results, [mask_text(c.text, r) for c, r in zip(corpus, results, strict=True)])

    ratios = {
        f"{engine} ({basis})": round(
            figures[f"scan_texts[{engine}]"][basis] / figures[f"presidio_analyze[{engine}]"][basis], 2
        )
        for engine in ("spacy", "regex")
        for basis in ("kb_per_s", "kb_per_cpu_s")
    }
    run = {
        "when": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "records": count,
        "bytes": size,
        "batch": batch,
        "cpus": os.cpu_count(),
        "figures": figures,
        "speedup_vs_presidio_analyze": ratios,
        "polish_corpus": {
            "records": recall.records,
            "recall": {kind: round(recall.recall(kind), 4) for kind in sorted(recall.planted)},
            "mask_leaked_records": recall.leaked_records,
            "spurious_person_in_filler": recall.spurious_in_filler,
        },
    }
    print(f"\nPII scan of {count} records ({size / 1024:.0f} KB), batches of {batch}:")
    for name, row in figures.items():
        rate = (
            f"{row['records_per_s']:>8} records/s {row['kb_per_s']:>7} KB/s ({row['kb_per_cpu_s']} KB/cpu-s)"
        )
        print(f"  {name:28} {rate}  {row['findings']} findings")
    print(f"  scan_texts / presidio analyze: {ratios}")
    print(f"Polish corpus ({recall.records} records), found whole and keyed / planted:")
    for line in recall.lines():
        print(f"  {line}")

    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else []
    history.append(run)
    RESULTS_FILE.write_text(json.dumps(history, indent=2) + "\n")
    assert figures["scan_texts[spacy]"]["findings"] > 0
