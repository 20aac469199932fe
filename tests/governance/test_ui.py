"""The admin's building blocks: escaping, readable JSON, hashes, and colours that pass WCAG AA."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from governance import ui

CSS = (Path(settings.BASE_DIR) / "governance" / "static" / "governance" / "ui.css").read_text()


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _rule(selector: str) -> dict[str, str]:
    found = re.search(re.escape(selector) + r"\s*\{([^}]*)\}", CSS)
    assert found, selector
    return dict(re.findall(r"(?<![-\w])(background|color):\s*(#[0-9a-fA-F]{6})", found.group(1)))


def test_every_badge_and_button_passes_wcag_aa_for_text() -> None:
    for selector in (".gv-ok", ".gv-wait", ".gv-bad", ".gv-off", ".gv-info", ".gv-risk-1", ".gv-risk-2",
                     ".gv-risk-3", ".gv-risk-4", "a.gv-button, button.gv-button"):  # fmt: skip
        colours = _rule(selector)
        assert contrast(colours["color"], colours["background"]) >= 4.5, selector
    overdue = _rule(".gv-overdue")["color"]
    assert contrast(overdue, "#ffffff") >= 4.5


def test_the_contrast_check_itself_catches_a_poor_pair() -> None:
    assert contrast("#777777", "#999999") < 4.5
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0


def test_badges_name_the_status_in_words_and_escape_it() -> None:
    html = ui.badge("<script>", "in_review <b>")
    assert "<script>" not in html and "&lt;b&gt;" in html
    assert 'class="gv-badge gv-info"' in html
    assert (
        "gv-bad" in ui.badge("blocked")
        and "gv-ok" in ui.badge("approved")
        and "gv-wait" in ui.badge("queued")
    )
    assert ">yes<" in ui.badge(True) and "gv-bad" in ui.badge(False)


def test_json_becomes_tables_and_hashes_are_shortened_with_the_full_value_kept() -> None:
    digest = "ab" * 32
    html = ui.json_table(
        {"rank": 8, "modules": ["q_proj", "v_proj"], "sha256": digest, "rows": [{"a": 1}, {"b": 2}]}
    )
    assert html.count("<table") == 2 and "<pre" not in html
    assert "q_proj, v_proj" in html
    assert f'data-copy="{digest}"' in html and f"{digest[:12]}…" in html
    assert ui.json_table({}) == "<em>none</em>"
    assert "&lt;img" in ui.json_table({"x": "<img src=x onerror=alert(1)>"})


def test_a_live_box_polls_its_url_and_degrades_to_a_refresh_link() -> None:
    html = ui.live("/admin/x/1/fragment/progress/", "50%", every_s=2)
    assert 'data-poll="/admin/x/1/fragment/progress/"' in html and 'data-poll-every="2"' in html
    assert "<noscript>" in html
    assert "data-poll=" not in ui.live("/u/", "done", done=True)


def test_the_activity_chart_has_a_table_for_screen_readers() -> None:
    html = ui.column_chart([("2026-12-01", 3), ("2026-12-02", 0)], title="Events")
    assert (
        'role="img"' in html
        and "<caption>Events</caption>" in html
        and "<td>2026-12-01</td><td>3</td>" in html
    )
