"""Completing the names spaCy finds: whole spans, titles trimmed, every mention in the text.

en_core_web_sm finds most English names but on Polish ones it often tags only part of a full name
("Nowak" of "Jan Nowak"), a title with it ("Ms Nowak"), or nothing at all ("Dear Dorota Kowalska"),
and a second mention of the same person in the next sentence is hit or miss. A partial span keys the
wrong name and leaves the rest of it in masked text. So, after spaCy and before keys are computed:

1. spans that cannot be names are dropped (digits, "@", no capital letter: "rang twice",
   "mobile +48 ...") and leading titles or salutations are trimmed ("Ms", "Dear", "Pani");
2. a known first name followed by a capitalised word is a person (FIRST_NAMES: common Polish and
   English given names, so recall on names outside the list still rests on spaCy), and so are the
   capitalised words after a title or salutation ("Dear Marika Sawicka", "Pani Kędzierska");
3. a one-word name is extended over an adjacent capitalised word that is not a stop word, unless that
   word starts a sentence (where "Later Nowak" reads like "Jan Nowak");
4. every other occurrence of a found name in the same text is a person too: the full name compared
   case-insensitively, and each of its words when written capitalised (widened as in 3). A surname
   alone is keyed as itself, a weaker key than the full name, as a request naming only it would be.

Pure Python over the text and the spans, no spaCy call: its cost is a few regular expressions per text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

PERSON = "PERSON"
# The score of a name found by the first-name list, or found again by propagation: spaCy's own.
NAME_SCORE = 0.85

FIRST_NAMES = frozenset(
    """
    Adam Adrian Albert Aleksander Alfred Alojzy Andrzej Antoni Arkadiusz Artur Bartłomiej Bartosz
    Benedykt Błażej Bogdan Bogusław Bolesław Bronisław Cezary Czesław Damian Daniel Dariusz Dawid
    Dominik Edward Emil Eryk Eugeniusz Fabian Feliks Filip Franciszek Fryderyk Gabriel Grzegorz Gustaw
    Henryk Hubert Ignacy Igor Ireneusz Jacek Jakub Jan Janusz Jarosław Jerzy Joachim Józef Julian
    Juliusz Kacper Kajetan Kamil Karol Kazimierz Konrad Kornel Krystian Krzysztof Ksawery Leon Leszek
    Lucjan Ludwik Łukasz Maciej Maksymilian Marcin Marek Marian Mariusz Mateusz Maurycy Michał Mieczysław
    Mikołaj Miłosz Mirosław Nikodem Norbert Oliwer Oliwier Oskar Patryk Paweł Piotr Przemysław Radosław
    Rafał Robert Roman Ryszard Sebastian Seweryn Stanisław Stefan Sylwester Szymon Sławomir Tadeusz
    Teodor Tomasz Tymon Tymoteusz Wacław Waldemar Wiesław Wiktor Witold Władysław Włodzimierz Wojciech
    Zbigniew Zdzisław Zenon Zygmunt
    Ada Adrianna Agata Agnieszka Aleksandra Alicja Amelia Anastazja Aneta Angelika Aniela Anna Antonina
    Barbara Beata Bogumiła Bożena Cecylia Celina Danuta Daria Dominika Dorota Edyta Elżbieta Emilia
    Ewa Ewelina Franciszka Gabriela Genowefa Grażyna Halina Hanna Helena Ilona Irena Iwona Izabela
    Jadwiga Janina Joanna Jolanta Józefa Julia Julita Justyna Kamila Karolina Katarzyna Kinga Klaudia
    Kornelia Krystyna Laura Lena Lidia Liliana Łucja Magdalena Maja Malwina Małgorzata Maria Marianna
    Marta Marzena Michalina Milena Monika Natalia Nikola Nina Oliwia Patrycja Paula Paulina Regina
    Renata Roksana Róża Sabina Sandra Stanisława Stefania Sylwia Teresa Urszula Wanda Weronika
    Wiesława Wiktoria Zofia Zuzanna Żaneta Żaklina
    Alice Andrew Anthony Benjamin Charles Charlotte Christopher Daniel David Edward Elizabeth Emily
    Emma George Hannah Henry Jack Jacob James Jane Jennifer Jessica John Joseph Joshua Laura Linda
    Lucy Margaret Mary Matthew Michael Oliver Patricia Peter Rachel Richard Robert Samuel Sarah Sophie
    Susan Thomas William
    """.split()
)
# Capitalised words that are not surnames even after a first name, and never start a name.
_STOP_WORDS = frozenset(
    """
    a an and as at but by for from in into of on or the to with via per than then
    i he she we they you it his her our their your its this that these those my
    mr mrs ms miss mx dr prof sir madam dear hi hello pan pani panie państwo
    monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday
    january february march april may june july august september october november december
    pln eur usd gbp ticket order invoice refund complaint customer client support team contact
    company account phone tel mobile email mail pesel nip iban please thanks thank later also
    """.split()
)
_TITLES = frozenset(
    "mr mrs ms miss mx dr prof sir madam dear hi hello pan pani panie państwo customer client".split()
)

# A word: letters, with inner hyphens or apostrophes (Nowak-Kowalska, O'Brien).
_WORD = r"[^\W\d_]+(?:[-'’][^\W\d_]+)*"
_WORD_RE = re.compile(_WORD)
_FIRST_NAME_RE = re.compile(
    r"(?<![\w@.+-])(?:" + "|".join(sorted(FIRST_NAMES, key=len, reverse=True)) + r")"
    r"(?:[ \u00a0](?:" + "|".join(sorted(FIRST_NAMES, key=len, reverse=True)) + r"))?"
    r"[ \u00a0](" + _WORD + r")(?![\w@]|\.\w)"
)
# A title or salutation names the person after it: "Dear Marika Sawicka", "Pani Kędzierska".
_TITLED_RE = re.compile(
    r"(?<![\w@.+-])(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Dear|Pan|Pani|Panie)\.?[ \u00a0]+"
    r"(" + _WORD + r"(?:[ \u00a0]" + _WORD + r")?)(?![\w@]|\.\w)"
)
_NEXT_WORD_RE = re.compile(r"[ \u00a0](" + _WORD + r")(?![\w@]|\.\w)")
_PREVIOUS_WORD_RE = re.compile(r"(?<![\w@.+-])(" + _WORD + r")[ \u00a0]$")


def _capitalised(word: str) -> bool:
    return word[:1].isupper() and any(ch.islower() for ch in word[1:]) and word.lower() not in _STOP_WORDS


def plausible(text: str) -> bool:
    """Whether a span could be a name at all: a capital, no digits or address signs, not stop words only.

    The engine drops other spans before overlaps are resolved, so "tel. +48 601 ..." tagged PERSON
    by spaCy (scored above the phone recogniser) cannot hide the phone number.
    """
    return (
        any(ch.isupper() for ch in text)
        and not any(ch.isdigit() or ch in "@/\\#_=<>" for ch in text)
        and any(word.lower() not in _STOP_WORDS for word in _WORD_RE.findall(text))
    )


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Narrow start:end past leading titles and trailing punctuation; (start, start) when nothing is left."""
    while True:
        match = _WORD_RE.match(text, start)
        if not match or match.group().lower() not in _TITLES or match.end() >= end:
            break
        start = match.end()
        while start < end and not text[start].isalpha():
            start += 1
    while True:
        while end > start and not text[end - 1].isalpha():
            end -= 1
        # spaCy sometimes runs a name on into the next label: "Jan Nowak, PESEL".
        last = re.search(_WORD + r"$", text[start:end])
        if last is None or last.start() == 0 or last.group().lower() not in _STOP_WORDS:
            return start, end
        end = start + last.start()


def _sentence_start(text: str, position: int) -> bool:
    before = text[max(0, position - 64) : position].rstrip()
    return not before or before[-1] in ".!?:;"


def _extend(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a one-word name over a capitalised neighbour: a surname after, a first name before."""
    if " " in text[start:end]:
        return start, end
    after = _NEXT_WORD_RE.match(text, end)
    if after and _capitalised(after.group(1)):
        return start, after.end()
    # A window: the word before a name is short, and a long text is not searched from its start.
    before = _PREVIOUS_WORD_RE.search(text, max(0, start - 64), start)
    if before and _capitalised(before.group(1)):
        if before.group(1) in FIRST_NAMES or not _sentence_start(text, before.start()):
            return before.start(), end
    return start, end


class _Names:
    """Name spans of one text with a per-character mask, so overlap checks cost a span, not a list."""

    def __init__(self, text: str, taken: Iterable[tuple[int, int]]) -> None:
        self.taken = bytearray(len(text))
        for start, end in taken:
            self.taken[start:end] = b"\x01" * (end - start)
        self.used = bytearray(len(text))
        self.spans: dict[int, tuple[int, float]] = {}

    def free(self, start: int, end: int) -> bool:
        """Whether start:end overlaps no identifier of another type."""
        return not any(self.taken[start:end])

    def covered(self, start: int, end: int) -> bool:
        """Whether start:end lies within a name already (names never span whitespace unmarked)."""
        return all(self.used[start:end])

    def add(self, start: int, end: int, score: float, replace: bool = False) -> None:
        """Keep start:end unless it overlaps a kept name; replace=True first drops the names inside it."""
        if replace:
            for inner in [s for s in range(start, end) if s in self.spans and self.spans[s][0] <= end]:
                inner_end, _ = self.spans.pop(inner)
                self.used[inner:inner_end] = b"\x00" * (inner_end - inner)
        if not any(self.used[start:end]):
            self.spans[start] = (end, score)
            self.used[start:end] = b"\x01" * (end - start)

    def sorted(self) -> list[tuple[int, int, float]]:
        return [(start, end, score) for start, (end, score) in sorted(self.spans.items())]


def complete_names(
    text: str, spans: Sequence[tuple[str, int, int, float]]
) -> list[tuple[str, int, int, float]]:
    """Resolved (entity, start, end, score) spans of one text with its names completed, in text order.

    Spans of other types are kept as they are and never overlapped; PERSON spans are cleaned,
    widened, joined by first-name matches and by every further mention of each name found.
    """
    others = [span for span in spans if span[0] != PERSON]
    names = _Names(text, [(start, end) for _, start, end, _ in others])
    candidates: list[tuple[int, int, float]] = []
    for _, start, end, score in (span for span in spans if span[0] == PERSON):
        start, end = _trim(text, start, end)
        if end > start and plausible(text[start:end]):
            candidates.append((*_extend(text, start, end), score))
    for match in _FIRST_NAME_RE.finditer(text):
        if _capitalised(match.group(1)):
            candidates.append((match.start(), match.end(), NAME_SCORE))
    for match in _TITLED_RE.finditer(text):
        start, end = match.span(1)
        words = list(_WORD_RE.finditer(text, start, end))
        # The second word only where it is capitalised too: "Dear Anna, thank you" is "Anna".
        while words and not _capitalised(words[-1].group()):
            words.pop()
        if words and _capitalised(words[0].group()):
            candidates.append((start, words[-1].end(), NAME_SCORE))
    # Of overlapping candidates the longest (then the earliest) wins: one name is one span.
    for start, end, score in sorted(candidates, key=lambda n: (n[0] - n[1], n[0])):
        if names.free(start, end):
            names.add(start, end, score)
    found = {text[start:end] for start, (end, _) in names.spans.items()}
    if found:
        _mentions(text, found, names)
    completed = others + [(PERSON, start, end, score) for start, end, score in names.sorted()]
    return sorted(completed, key=lambda span: (span[1], span[2]))


def _bounded(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start else " "
    after = text[end : end + 2]
    return (
        not (before.isalnum() or before in "_@.+-")
        and not (after[:1].isalnum() or after[:1] in "_@")
        and not (after[:1] == "." and after[1:].isalnum())
    )


def _mentions(text: str, found: set[str], names: _Names) -> None:
    """Add every further word-bounded mention of the found names not overlapping other identifiers.

    Full names are compared word by word case-insensitively (any whitespace between the words), and
    before the single words (a one-word name, or a capitalised word of a full name), which must match
    exactly. Matching runs over the text's words, so no regular expression is compiled per text.
    """
    full = {tuple(w.casefold() for w in _WORD_RE.findall(name)) for name in found}
    longest = max(len(words) for words in full)
    single = {w for name in found for w in _WORD_RE.findall(name) if _capitalised(w)}
    single |= {name for name in found if len(_WORD_RE.findall(name)) == 1}
    full = {words for words in full if len(words) > 1}
    tokens = [(m.start(), m.end(), m.group()) for m in _WORD_RE.finditer(text)]
    candidates: list[tuple[int, int]] = []
    for size in range(longest, 1, -1):
        for i in range(len(tokens) - size + 1):
            window = tokens[i : i + size]
            if tuple(t[2].casefold() for t in window) in full and all(
                text[window[j][1] : window[j + 1][0]].isspace() for j in range(size - 1)
            ):
                candidates.append((window[0][0], window[-1][1]))
    candidates += [(start, end) for start, end, word in tokens if word in single]
    for start, end in candidates:
        if not _bounded(text, start, end) or not names.free(start, end) or names.covered(start, end):
            continue
        # A first name found again may be followed by a surname this time.
        start, end = _extend(text, start, end)
        if names.free(start, end):
            # A longer mention replaces the partial spans inside it.
            names.add(start, end, NAME_SCORE, replace=True)
