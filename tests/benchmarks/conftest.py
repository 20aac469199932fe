"""At the end of `make bench`, one table of every ratio the targets name (tests/benchmarks/summary.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.benchmarks import summary

# Figures written after this count as this run's; older ones are shown with their date.
_STARTED = datetime.now(tz=UTC)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the table whatever the benchmarks did: a missing or odd file blanks rows, never fails."""
    try:
        text = summary.write(since=_STARTED)
    except Exception as error:  # noqa: BLE001 - the summary must never turn a bench run red
        terminalreporter.write_line(f"benchmark summary unavailable: {type(error).__name__}: {error}")
        return
    terminalreporter.section("where users wait: measured against the raw libraries")
    terminalreporter.write_line(text)
    terminalreporter.write_line(f"(also in {summary.RESULTS / 'summary.md'} and summary.json)")
