"""The suppression list: subject keys of completed erasure requests, which no store takes in again.

Stores ask `suppressed(keys)` with the keys their scan found: a document carrying one is rejected
(`suppressed_subject`), a dataset record carrying one is dropped and counted (`suppressed_records`).
"""

from __future__ import annotations

from collections.abc import Iterable

from governance.models import SuppressedKey


def suppressed(keys: Iterable[str]) -> set[str]:
    """The keys among `keys` that an active (not lifted) suppression covers."""
    wanted = sorted({key for key in keys if key})
    if not wanted:
        return set()
    found: set[str] = set()
    for start in range(0, len(wanted), 10_000):
        found.update(
            SuppressedKey.objects.filter(key__in=wanted[start : start + 10_000], lifted_at__isnull=True)
            .values_list("key", flat=True)
            .distinct()
        )
    return found


def any_suppressed() -> bool:
    """Whether any suppression is active (lets a scan skip the lookup when the list is empty)."""
    return SuppressedKey.objects.filter(lifted_at__isnull=True).exists()
