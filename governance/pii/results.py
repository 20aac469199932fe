"""What a scan returns: offsets, types, scores and subject keys, never the identifiers themselves."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One identifier found in a text: where it is, what it is, and its subject key."""

    entity_type: str
    start: int
    end: int
    score: float
    subject_key: str


@dataclass(frozen=True)
class ScanResult:
    """All findings in one text, ordered by position and never overlapping."""

    findings: tuple[Finding, ...] = ()

    def summary(self) -> dict[str, int]:
        """Number of findings per entity type."""
        return dict(Counter(finding.entity_type for finding in self.findings))

    def subject_keys(self) -> list[str]:
        """The distinct subject keys, sorted."""
        return sorted({finding.subject_key for finding in self.findings})

    @property
    def contains_pii(self) -> bool:
        """Whether anything was found."""
        return bool(self.findings)
