"""A deterministic Polish-flavoured PII corpus with every planted identifier's offsets, for recall tests.

Records are short support-desk texts in English (the scanner's NLP language) naming Polish people
(diacritics, female surname forms), with e-mails, +48 phones (mobile, landline and the 70x ranges
libphonenumber calls possible but not valid), PESEL, NIP and PL IBANs in the ways people write them.
A person is planted as a full name, and some records mention the person again by surname or first
name alone, as real texts do. Filler-only records (capitalised ordinary words, place names, no
identifiers) measure false positives. Used by tests/governance/test_pii_recall.py; kept free of
Django imports so a benchmark or a shell can use it too.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

SEED = 20261202

MALE_FIRST_NAMES = [
    "Jan", "Piotr", "Tomasz", "Michał", "Paweł", "Krzysztof", "Łukasz", "Grzegorz", "Wojciech",
    "Jakub", "Mateusz", "Marek", "Andrzej", "Stanisław", "Zbigniew", "Jerzy", "Mirosław", "Józef",
    "Bartłomiej", "Ryszard", "Kamil", "Przemysław", "Maciej", "Dariusz", "Sławomir", "Zdzisław",
]  # fmt: skip
FEMALE_FIRST_NAMES = [
    "Anna", "Katarzyna", "Małgorzata", "Agnieszka", "Joanna", "Ewa", "Zofia", "Magdalena", "Barbara",
    "Dorota", "Elżbieta", "Jadwiga", "Halina", "Bożena", "Grażyna", "Urszula", "Jolanta", "Teresa",
    "Żaneta", "Aleksandra", "Weronika", "Iwona", "Beata", "Renata", "Wiesława", "Łucja",
]  # fmt: skip
SURNAMES = [
    "Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński",
    "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur", "Kwiatkowski", "Krawczyk",
    "Piotrowski", "Grabowski", "Nowakowski", "Pawłowski", "Michalski", "Nowicki", "Adamczyk", "Dudek",
    "Zając", "Wieczorek", "Jabłoński", "Król", "Majewski", "Olszewski", "Jaworski", "Wróbel",
    "Malinowski", "Pawlak", "Witkowski", "Walczak", "Stępień", "Górski", "Rutkowski", "Michalak",
    "Sikora", "Ostrowski", "Baran", "Szewczyk", "Tomaszewski", "Pietrzak", "Marciniak", "Zalewski",
    "Jakubowski", "Jasiński", "Zawadzki", "Sadowski", "Bąk", "Chmielewski", "Włodarczyk", "Czarnecki",
    "Sokołowski", "Kubiak", "Szczepański", "Kaźmierczak", "Głowacki", "Kołodziej", "Ziółkowski",
    "Przybylski", "Gołębiowski", "Żak", "Łuczak", "Ślusarczyk", "Źrałek", "Ćwikła",
]  # fmt: skip
DOMAINS = ["example.com", "example.pl", "mail.example.org", "firma.com.pl", "poczta.example.pl"]
# Mobile ranges, the 70x ranges (possible, not valid: the 71-in-718 miss of issue 8) and landlines.
MOBILE_PREFIXES = ["501", "502", "512", "533", "601", "602", "604", "661", "691", "697", "721", "781", "791"]
POSSIBLE_PREFIXES = ["700", "701", "703", "704", "705", "707", "708"]
LANDLINE_AREAS = ["22", "12", "61", "71", "58", "42"]

# {name}: full name, {name2}: a second person, {surname}/{first}: a later mention of the first
# person by one part of the name, {title}: Mr/Ms. The rest are identifiers or plain values.
TEMPLATES = [
    "Ticket {n}: {name} ({email}) reported a failed card payment and asked for a call back on {phone}. "
    "Identity confirmed with PESEL {pesel}.",
    "{name} asked to update the delivery address for order {n}; new contact number {phone}. "
    "{title} {surname} also wants the invoice sent to {email}.",
    "Refund of {amount} PLN approved for {name}. Transfer it to IBAN {iban}; the invoice goes to NIP {nip}.",
    "Meeting notes: {name} and {name2} agreed the budget for the analytics team. {first} will send "
    "the minutes to {email} before Friday.",
    "Complaint from {name}, PESEL {pesel}, tel. {phone}: the invoice was charged twice. Refund "
    "account {iban}. {surname} was informed on Monday.",
    "Dear {name}, your request {n} has been registered. We will contact you at {phone} or {email}.",
    "Company data: NIP {nip}, account {iban}, contact person {name}, mobile {phone}.",
    "Call log {n}: {phone} rang twice, the caller introduced herself as {name} and gave PESEL {pesel}. "
    "Later {name_again} wrote from {email}.",
    "Invoice {n} for {name} (NIP {nip}) is overdue. Reminder sent to {email}; {title} {surname} "
    "promised to pay by Thursday.",
    "Please forward the signed contract to {name} at {email} and copy {name2}.",
    "According to {name}, the parcel never arrived. Contact {phone}; account for the refund {iban}.",
    "Support agent {name2} verified {name} by PESEL {pesel} and NIP {nip} before changing the phone "
    "number to {phone}.",
]
# Capitalised ordinary words, weekdays, teams, Polish places and products: no person here.
FILLER_TEMPLATES = [
    "Nightly batch finished: {n} records processed in {minutes} minutes. Monday's Release Notes "
    "mention the new Dashboard, the Security Review and the Quarterly Report.",
    "The Warsaw office moves to Marszałkowska Street in March. Facilities will confirm the date; "
    "Finance approved the budget of {amount} PLN.",
    "Customer Success reviewed {n} tickets. Most were about Delivery Times in Kraków, Gdańsk and "
    "Wrocław. Next review: Friday at 10:00.",
    "Please Note: the Privacy Notice was updated. Legal Team and Data Protection Officer signed off "
    "on version {minutes}.",
    "Order {n} shipped from Poznań via Poczta Polska. Tracking will be available on Tuesday.",
    "Thank You for contacting Support. Your Feedback helps the Product Team improve Online Banking.",
]


@dataclass(frozen=True)
class Planted:
    """One identifier placed in a record: its identifiers.py type, raw value and offsets."""

    type: str
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class Record:
    """A text and everything planted in it; filler records plant nothing."""

    text: str
    planted: tuple[Planted, ...]

    @property
    def name_tokens(self) -> set[str]:
        """Every first name and surname planted here, as single words."""
        return {token for p in self.planted if p.type == "person" for token in p.value.split()}


_FIELD = re.compile(r"\{(\w+)\}")


def _female(first: str) -> bool:
    return first.endswith("a")


def _surname(rng: random.Random, female: bool) -> str:
    surname = rng.choice(SURNAMES)
    if female:
        for male_ending, female_ending in (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka")):
            if surname.endswith(male_ending):
                return surname[: -len(male_ending)] + female_ending
    return surname


def _person(rng: random.Random) -> tuple[str, str, bool]:
    female = rng.random() < 0.5
    first = rng.choice(FEMALE_FIRST_NAMES if female else MALE_FIRST_NAMES)
    return first, _surname(rng, female), female


def pesel(rng: random.Random) -> str:
    """A PESEL with a valid birth date and check digit."""
    year, month, day = rng.randint(1940, 2009), rng.randint(1, 12), rng.randint(1, 28)
    month += 20 if year >= 2000 else 0
    body = f"{year % 100:02d}{month:02d}{day:02d}{rng.randint(0, 9999):04d}"
    weighted = sum(int(d) * w for d, w in zip(body, (1, 3, 7, 9, 1, 3, 7, 9, 1, 3), strict=True))
    return body + str((10 - weighted % 10) % 10)


def nip(rng: random.Random) -> str:
    """A NIP with a valid mod-11 checksum, written plain, 3-3-2-2 or 3-2-2-3."""
    while True:
        body = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(8))
        check = sum(int(d) * w for d, w in zip(body, (6, 5, 7, 2, 3, 4, 5, 6, 7), strict=True)) % 11
        if check != 10 and len(set(body)) > 1:
            break
    raw = body + str(check)
    style = rng.randint(0, 2)
    if style == 0:
        return raw
    if style == 1:
        return f"{raw[:3]}-{raw[3:6]}-{raw[6:8]}-{raw[8:]}"
    return f"{raw[:3]}-{raw[3:5]}-{raw[5:7]}-{raw[7:]}"


def iban(rng: random.Random) -> str:
    """A PL IBAN passing mod 97, compact or in groups of four."""
    bban = "".join(str(rng.randint(0, 9)) for _ in range(24))
    check = 98 - int(bban + "2521" + "00") % 97
    raw = f"PL{check:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4)) if rng.random() < 0.6 else raw


def phone(rng: random.Random) -> str:
    """A Polish number in one of the ways people write it; one in five in a 70x range."""
    kind = rng.random()
    if kind < 0.2:
        digits = rng.choice(POSSIBLE_PREFIXES) + "".join(str(rng.randint(0, 9)) for _ in range(6))
    elif kind < 0.3:
        digits = (
            rng.choice(LANDLINE_AREAS)
            + str(rng.randint(2, 8))
            + "".join(str(rng.randint(0, 9)) for _ in range(6))
        )
        return rng.choice(("+48 ", "", "0048 ")) + f"{digits[:2]} {digits[2:5]} {digits[5:7]} {digits[7:]}"
    else:
        digits = rng.choice(MOBILE_PREFIXES) + "".join(str(rng.randint(0, 9)) for _ in range(6))
    style = rng.randint(0, 4)
    if style == 0:
        return f"+48 {digits[:3]} {digits[3:6]} {digits[6:]}"
    if style == 1:
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    if style == 2:
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    if style == 3:
        return f"+48{digits}"
    return f"0048 {digits[:3]} {digits[3:6]} {digits[6:]}"


def email(rng: random.Random, first: str, last: str) -> str:
    """An address built from the name (ASCII-folded), sometimes plus-tagged or a bare initial."""
    folded = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")
    local = rng.choice(
        (f"{first}.{last}", f"{first[0]}{last}", f"{last}.{first}", f"{first}{rng.randint(1, 99)}")
    )
    tag = f"+{rng.choice(['news', 'shop', 'x'])}" if rng.random() < 0.15 else ""
    local = "".join(ch for ch in local.lower().translate(folded) if ch.isascii() and ch not in " '")
    return f"{local}{tag}@{rng.choice(DOMAINS)}"


def _render(template: str, values: dict[str, tuple[str | None, str]]) -> Record:
    """Fill template; values map a field to (identifier type or None for plain text, value)."""
    parts: list[str] = []
    planted: list[Planted] = []
    position = 0
    cursor = 0
    for match in _FIELD.finditer(template):
        literal = template[cursor : match.start()]
        parts.append(literal)
        position += len(literal)
        kind, value = values[match.group(1)]
        if kind is not None:
            planted.append(Planted(kind, value, position, position + len(value)))
        parts.append(value)
        position += len(value)
        cursor = match.end()
    parts.append(template[cursor:])
    return Record("".join(parts), tuple(planted))


def make_corpus(count: int, seed: int = SEED, filler_every: int = 10) -> list[Record]:
    """count records, the same for the same seed; every filler_every-th one plants nothing."""
    rng = random.Random(seed)
    records = []
    for index in range(count):
        if filler_every and index % filler_every == filler_every - 1:
            template = rng.choice(FILLER_TEMPLATES)
            values: dict[str, tuple[str | None, str]] = {
                "n": (None, str(rng.randint(10_000, 99_999))),
                "minutes": (None, str(rng.randint(2, 90))),
                "amount": (None, f"{rng.randint(10, 9999)}.{rng.randint(0, 99):02d}"),
            }
            records.append(_render(template, values))
            continue
        first, last, female = _person(rng)
        first2, last2, _ = _person(rng)
        values = {
            "name": ("person", f"{first} {last}"),
            "name_again": ("person", f"{first} {last}"),
            "name2": ("person", f"{first2} {last2}"),
            "first": ("person", first),
            "surname": ("person", last),
            "title": (None, "Ms" if female else "Mr"),
            "email": ("email", email(rng, first, last)),
            "phone": ("phone", phone(rng)),
            "pesel": ("pesel", pesel(rng)),
            "nip": ("nip", nip(rng)),
            "iban": ("iban", iban(rng)),
            "n": (None, str(rng.randint(10_000, 99_999))),
            "amount": (None, f"{rng.randint(10, 9999)}.{rng.randint(0, 99):02d}"),
            "minutes": (None, str(rng.randint(2, 90))),
        }
        records.append(_render(rng.choice(TEMPLATES), values))
    return records


@dataclass
class Measurement:
    """Recall per type, mask leaks and spurious findings of one scan of a corpus."""

    planted: dict[str, int]
    found: dict[str, int]
    leaked_records: int
    leaks: dict[str, int]
    records: int
    spurious: dict[str, int]
    spurious_in_filler: int
    missed: list[tuple[int, str, str]]

    def recall(self, kind: str) -> float:
        """Share of planted identifiers of kind found whole and keyed as an erasure request keys them."""
        return self.found.get(kind, 0) / self.planted[kind] if self.planted.get(kind) else 1.0

    def lines(self) -> list[str]:
        """A printable summary (types and counts only)."""
        rows = [
            f"{kind:14} {self.found.get(kind, 0):4}/{count:<4} {self.recall(kind):.4f}"
            for kind, count in sorted(self.planted.items())
        ]
        rows.append(
            f"mask leaks: {self.leaked_records}/{self.records} records {dict(sorted(self.leaks.items()))}"
        )
        rows.append(
            f"spurious findings: {dict(sorted(self.spurious.items()))}, "
            f"PERSON in filler: {self.spurious_in_filler}"
        )
        return rows


def _kind(planted: Planted) -> str:
    if planted.type == "person":
        return "person" if " " in planted.value else "person_part"
    return planted.type


def measure(records: Sequence[Record], results: Sequence[object], masked: Sequence[str]) -> Measurement:
    """Compare scan results (governance.pii.ScanResult) and masked texts with what was planted.

    A planted identifier counts as found when a finding of its type covers its whole span and carries
    the subject key governance.pii.identifiers gives the raw value. A record leaks when its masked
    text still holds a planted raw value or, for a person, any planted first name or surname as a word.
    """
    from governance.pii.identifiers import validate_identifiers
    from governance.pii.keys import key_type_for

    planted_count: dict[str, int] = {}
    found: dict[str, int] = {}
    leaks: dict[str, int] = {}
    spurious: dict[str, int] = {}
    spurious_in_filler = 0
    leaked_records = 0
    missed: list[tuple[int, str, str]] = []
    keys: dict[tuple[str, str], str] = {}
    for index, (record, result, text) in enumerate(zip(records, results, masked, strict=True)):
        findings = result.findings  # type: ignore[attr-defined]
        for p in record.planted:
            kind = _kind(p)
            planted_count[kind] = planted_count.get(kind, 0) + 1
            if (p.type, p.value) not in keys:
                keys[p.type, p.value] = validate_identifiers([{"type": p.type, "value": p.value}])[
                    0
                ].subject_key
            key = keys[p.type, p.value]
            if any(
                key_type_for(f.entity_type) == p.type
                and f.start <= p.start
                and f.end >= p.end
                and f.subject_key == key
                for f in findings
            ):
                found[kind] = found.get(kind, 0) + 1
            else:
                missed.append((index, kind, p.value))
        for f in findings:
            if not any(f.start < p.end and p.start < f.end for p in record.planted):
                spurious[f.entity_type] = spurious.get(f.entity_type, 0) + 1
                if not record.planted and f.entity_type == "PERSON":
                    spurious_in_filler += 1
        leaked = False
        for p in record.planted:
            if p.type == "person":
                hit = any(re.search(rf"(?<!\w){re.escape(token)}(?!\w)", text) for token in p.value.split())
            else:
                hit = p.value in text
            if hit:
                leaks[_kind(p)] = leaks.get(_kind(p), 0) + 1
                leaked = True
        leaked_records += leaked
    return Measurement(
        planted_count, found, leaked_records, leaks, len(records), spurious, spurious_in_filler, missed
    )


def texts(records: Sequence[Record]) -> list[str]:
    """The texts of records, in order."""
    return [record.text for record in records]
