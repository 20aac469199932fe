"""Pieces every admin page is built from, so registers read like documents rather than forms.

Status badges whose colour means what a reader expects, links from any object to its page, JSON shown
as tables, shortened hashes with a copy button, bars for a metric against its baseline, and live boxes
that refresh themselves (governance/static/governance/ui.js) and degrade to a plain page without
JavaScript. Everything returns escaped HTML (`format_html`); nothing here reads the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db.models import Model
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

# What a status means to a reader: done and fine, waiting on someone, wrong, no longer in play.
OK, WAIT, BAD, OFF, INFO = "ok", "wait", "bad", "off", "info"
TONES: dict[str, str] = {
    **dict.fromkeys(
        ("approved", "active", "passed", "completed", "indexed", "succeeded", "ok", "pass", "current",
         "ready", "erased", "true", "confirmed", "yes", "verified"),
        OK,
    ),
    **dict.fromkeys(
        ("requested", "in_review", "received", "in_progress", "queued", "running", "pending", "on_hold",
         "draft", "scanning", "uploaded", "preparing", "evaluating", "extracting", "embedding", "retrying",
         "due", "unresolved", "undecided", "registered", "staging"),
        WAIT,
    ),
    **dict.fromkeys(
        ("rejected", "blocked", "tainted", "failed", "overdue", "expired", "prohibited", "fail", "false",
         "broken", "suppressed", "high", "no"),
        BAD,
    ),
    **dict.fromkeys(
        ("retired", "cancelled", "superseded", "withdrawn", "lifted", "excluded", "deleted"), OFF
    ),
}  # fmt: skip


def tone(value: Any) -> str:
    """The badge colour of a status value (unknown values are neutral information)."""
    return TONES.get(str(value).lower(), INFO)


def badge(value: Any, label: Any = None, *, tone_of: str | None = None) -> SafeString:
    """A coloured status label; the text always carries the meaning, the colour only repeats it."""
    text = value if label is None else label
    if isinstance(value, bool):
        value, text = ("yes" if value else "no"), (_("yes") if value else _("no")) if label is None else label
    return format_html(
        '<span class="gv-badge gv-{}">{}</span>', tone_of or tone(value), str(text).replace("_", " ")
    )


def admin_url(obj: Model) -> str | None:
    """The admin page of any registered object, or None when it has none."""
    meta = obj._meta
    try:
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return None


def link(obj: Model | None, label: Any = None) -> SafeString:
    """A link to the object's page ("-" for nothing); every object id on a page goes through this."""
    if obj is None:
        return format_html("{}", "-")
    url = admin_url(obj)
    text = str(obj) if label is None else str(label)
    return format_html('<a href="{}">{}</a>', url, text) if url else format_html("{}", text)


def changelist_link(model: type[Model], label: Any, **filters: Any) -> SafeString:
    """A link to a register's list, filtered (`status__exact="failed"`)."""
    meta = model._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    if filters:
        from urllib.parse import urlencode

        url = f"{url}?{urlencode(filters)}"
    return format_html('<a href="{}">{}</a>', url, label)


def short_hash(value: str | None, length: int = 12) -> SafeString:
    """The first characters of a hash, the whole one in the title, and a button that copies it."""
    if not value:
        return format_html("{}", "-")
    return format_html(
        '<span class="gv-hash"><code title="{}">{}…</code> '
        '<button type="button" class="gv-copy" data-copy="{}" aria-label="{}">{}</button></span>',
        value,
        value[:length],
        value,
        _("Copy the full value"),
        _("Copy"),
    )


def when(value: datetime | None) -> str:
    """A date-time in the reader's time zone (the middleware activates it), to the minute."""
    if value is None:
        return "-"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z")


def _cell(value: Any, depth: int) -> SafeString:
    if isinstance(value, Mapping | list | tuple) and value and depth < 4:
        return json_table(value, depth=depth + 1)
    if isinstance(value, bool) or value is None:
        return badge(value) if isinstance(value, bool) else format_html("{}", "-")
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return short_hash(value)
    if isinstance(value, float):
        return format_html("{}", f"{value:.4g}")
    if isinstance(value, Mapping | list | tuple):
        return format_html("{}", "-")
    return format_html("{}", value)


def json_table(value: Any, *, depth: int = 0) -> SafeString:
    """A JSON value as a table: objects by key, lists of objects with one column per key."""
    if isinstance(value, Mapping):
        if not value:
            return format_html("<em>{}</em>", _("none"))
        rows = format_html_join(
            "",
            "<tr><th scope='row'>{}</th><td>{}</td></tr>",
            ((str(k), _cell(v, depth)) for k, v in value.items()),
        )
        return format_html('<table class="gv-kv">{}</table>', rows)
    if isinstance(value, list | tuple):
        if not value:
            return format_html("<em>{}</em>", _("none"))
        if all(isinstance(item, Mapping) for item in value):
            keys: list[str] = []
            for item in value:
                keys.extend(k for k in item if k not in keys)
            head = format_html_join("", "<th scope='col'>{}</th>", ((k,) for k in keys))
            body = format_html_join(
                "",
                "<tr>{}</tr>",
                (
                    (format_html_join("", "<td>{}</td>", ((_cell(item.get(k), depth),) for k in keys)),)
                    for item in value
                ),
            )
            return format_html(
                '<table class="gv-grid"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, body
            )
        return format_html_join(", ", "{}", ((_cell(item, depth),) for item in value))
    return _cell(value, depth)


def metric_bars(
    rows: Iterable[tuple[str, float | None, float | None]], *, threshold: float | None = None
) -> SafeString:
    """Each metric as two bars (adapter, baseline) on a 0..1 scale, the adapter's coloured pass/fail."""
    out = []
    for name, mine, base in rows:
        passed = mine is not None and (threshold is None or mine >= threshold)
        out.append(
            format_html(
                '<div class="gv-metric"><span class="gv-metric-name">{}</span>{}{}</div>',
                name,
                _bar(_("adapter"), mine, OK if passed else BAD),
                _bar(_("baseline"), base, OFF),
            )
        )
    return format_html('<div class="gv-metrics">{}</div>', mark_safe("".join(out)))  # noqa: S308 - parts escaped


def _bar(label: str, value: float | None, colour: str) -> SafeString:
    if value is None:
        return format_html('<div class="gv-bar"><span>{}</span> <em>-</em></div>', label)
    width = max(0.0, min(1.0, float(value))) * 100
    return format_html(
        '<div class="gv-bar"><span>{}</span><span class="gv-track" role="img" aria-label="{} {}">'
        '<span class="gv-fill gv-{}" style="width: {}%"></span></span> {}</div>',
        label,
        label,
        f"{value:.3f}",
        colour,
        f"{width:.1f}",
        f"{value:.3f}",
    )


def column_chart(series: Sequence[tuple[str, int]], *, title: str, height: int = 80) -> SafeString:
    """A small inline SVG column chart (no script, no CDN); the numbers are in a table for screen readers."""
    top = max((v for _, v in series), default=0) or 1
    width = max(len(series), 1) * 12
    columns = format_html_join(
        "",
        '<rect x="{}" y="{}" width="9" height="{}" class="gv-col"><title>{}: {}</title></rect>',
        (
            (i * 12, height - round(v / top * (height - 2)), round(v / top * (height - 2)), label, v)
            for i, (label, v) in enumerate(series)
        ),
    )
    rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", series)
    return format_html(
        '<figure class="gv-chart">'
        '<svg viewBox="0 0 {} {}" width="100%" height="{}" role="img" aria-label="{}">{}</svg>'
        "<figcaption>{}</figcaption>"
        '<table class="gv-sr-only"><caption>{}</caption>{}</table></figure>',
        width,
        height,
        height,
        title,
        columns,
        title,
        title,
        rows,
    )


def live(
    url: str, content: Any, *, every_s: int = 3, done: bool = False, reload_when_done: bool = False
) -> SafeString:
    """A box that re-fetches its own content from `url` until a fragment says it is done.

    Without JavaScript the box is the page's own content and a refresh link; with it, ui.js polls `url`
    every `every_s` seconds and stops when the fragment carries `data-poll-done`. With
    `reload_when_done`, the page reloads once then, so its other parts (status, buttons) catch up.
    """
    if done:
        return format_html('<div class="gv-live">{}</div>', content)
    return format_html(
        '<div class="gv-live" data-poll="{}" data-poll-every="{}"{} aria-live="polite">{}'
        '<noscript><p><a href="">{}</a></p></noscript></div>',
        url,
        every_s,
        mark_safe(" data-poll-reload") if reload_when_done else "",  # noqa: S308 - constant markup
        content,
        _("Refresh to see progress"),
    )


def done_marker() -> SafeString:
    """Put inside a fragment whose work has ended: the poller stops."""
    return mark_safe("<span data-poll-done hidden></span>")  # noqa: S308 - constant markup
