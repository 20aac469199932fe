"""What the dashboard and an AI system's story page are made of, contributed by each app.

Governance cannot import retrieval or training (they depend on it), so, as with erasure participants
and gates, each app registers its own parts in its AppConfig.ready():

- a card source `(user) -> list[Card]`: counts with a link and a few lines each (the dashboard);
- a story section `(system, user) -> Section | None`: one part of an AI system's page.

A card or a section is built from the selectors the API uses and shown to whoever the policy lets
read the resource behind it; each source checks that itself, as the pages it links to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.safestring import SafeString

from governance import ui


@dataclass(frozen=True)
class Card:
    """One dashboard card: `key` is stable (tests and screenshots find it by `data-card`)."""

    key: str
    title: str
    count: int
    url: str | None = None
    tone: str = ui.OK  # ui.OK when nothing needs doing, ui.WAIT when someone must act, ui.BAD when late
    lines: tuple[SafeString, ...] = ()
    order: int = 100

    @property
    def attention(self) -> bool:
        return self.count > 0 and self.tone != ui.OK


@dataclass(frozen=True)
class Section:
    """One part of an AI system's story page, already rendered."""

    key: str
    title: str
    html: SafeString
    order: int = 100
    count: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


CardSource = Callable[[Any], list[Card]]
SectionSource = Callable[[Any, Any], Section | None]

_CARDS: list[CardSource] = []
_SECTIONS: list[SectionSource] = []


def register_cards(source: CardSource) -> None:
    if source not in _CARDS:
        _CARDS.append(source)


def register_story_section(source: SectionSource) -> None:
    if source not in _SECTIONS:
        _SECTIONS.append(source)


def cards_for(user: Any) -> list[Card]:
    """Every registered card the user may see, those needing attention first, then by order."""
    cards = [card for source in _CARDS for card in source(user)]
    return sorted(cards, key=lambda c: (not c.attention, c.order, c.key))


def story_sections(system: Any, user: Any) -> list[Section]:
    sections = [section for source in _SECTIONS if (section := source(system, user)) is not None]
    return sorted(sections, key=lambda s: (s.order, s.key))


def tone_for(count: int, *, late: bool = False) -> str:
    """A card's colour: nothing to do is fine; something waiting is amber; something late is red."""
    if not count:
        return ui.OK
    return ui.BAD if late else ui.WAIT
