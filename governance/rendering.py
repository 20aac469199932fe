"""The one rendering layer for every PDF the platform issues (DESIGN sections 11 and 15).

Templates live in `templates/reports/` and are rendered by Django with autoescaping on, so every piece of
user text reaches WeasyPrint as inert text, never as markup. WeasyPrint then fetches nothing but the
platform's own static files: templates name them with absolute `platform-static:` URLs (the scheme is
not in `urllib.parse.uses_relative`, so a relative URL stays relative and is refused), and the fetcher
resolves them through the staticfiles finders. The same facts always give the same bytes: the PDF dates
come from `created`, the file identifier from the rendered HTML, WeasyPrint names font subsets from a
hash of the font, not at random, and the font subsets carry no render time (`_reproducible_font_subsets`).

The fetcher's rule for `data:` URLs: only `image/png` and `image/svg+xml`, the image types a report
template may inline (a generated chart, say). A PNG cannot reference anything; an SVG's own references go
through this same fetcher. Every other `data:` type (CSS above all, which could `@import`) is refused.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import posixpath
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

logger = logging.getLogger(__name__)

STATIC_SCHEME = "platform-static"
BASE_URL = f"{STATIC_SCHEME}:/"
# The static file types a report may load; anything else (fonts included: only system fonts) is refused.
STATIC_TYPES = {".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml"}
DATA_TYPES = frozenset({"image/png", "image/svg+xml"})
SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9.+-]*):")


class FetchRefused(ValueError):
    """A URL the rendering layer will not fetch; WeasyPrint catches it and skips the resource."""

    def __init__(self, scheme: str) -> None:
        # The message names the scheme only: the rest of a URL may be anything a template was given.
        super().__init__(f"refused a {scheme or 'relative'} URL")
        self.scheme = scheme


class StaticOnlyFetcher(URLFetcher):
    """Serves the platform's static files and refuses everything else, without opening any URL."""

    def __init__(self) -> None:
        # No protocol allowed: should anything ever reach the parent's opener, it refuses too.
        super().__init__(allowed_protocols=(), allow_redirects=False, fail_on_errors=False)

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        match = SCHEME_RE.match(url)
        scheme = match[1].lower() if match else ""
        rest = url[match.end() :] if match else url
        if scheme == STATIC_SCHEME:
            return self._static(url, rest)
        if scheme == "data":
            return self._data(url, rest)
        raise self._refuse(scheme[:20])

    def _refuse(self, scheme: str) -> FetchRefused:
        logger.warning("rendering refused a %s URL", scheme or "relative")
        return FetchRefused(scheme)

    def _static(self, url: str, rest: str) -> URLFetcherResponse:
        path = unquote(rest.split("?", 1)[0].split("#", 1)[0]).lstrip("/")
        # Refuse anything not already normal: `..`, `.`, `//`, backslashes, NUL; finders get a clean name.
        if (
            not path
            or posixpath.normpath(path) != path
            or path.startswith("../")
            or "\\" in path
            or "\x00" in path
            or Path(path).suffix.lower() not in STATIC_TYPES
        ):
            raise self._refuse(STATIC_SCHEME)
        found = finders.find(path)
        if not isinstance(found, str) or not _inside_static_roots(Path(found)):
            raise self._refuse(STATIC_SCHEME)
        data = Path(found).read_bytes()
        return URLFetcherResponse(url, data, {"Content-Type": STATIC_TYPES[Path(path).suffix.lower()]})

    def _data(self, url: str, rest: str) -> URLFetcherResponse:
        header, sep, payload = rest.partition(",")
        params = [part.strip().lower() for part in header.split(";")]
        media_type = params[0]
        if not sep or media_type not in DATA_TYPES:
            raise self._refuse("data")
        try:
            data = (
                base64.b64decode(payload, validate=True)
                if "base64" in params[1:]
                else unquote_to_bytes(payload)
            )
        except ValueError:
            raise self._refuse("data") from None
        return URLFetcherResponse(url, data, {"Content-Type": media_type})


def _static_roots() -> list[Path]:
    roots = []
    for finder in finders.get_finders():
        for storage in getattr(finder, "storages", {}).values():
            location = getattr(storage, "location", None)
            if location:
                roots.append(Path(location).resolve())
    return roots


def _inside_static_roots(found: Path) -> bool:
    # The finders already refuse `..`; this also refuses a symlink inside a static root pointing out.
    real = found.resolve()
    return real.is_file() and any(real.is_relative_to(root) for root in _static_roots())


def _w3c(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("created must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_html(template_name: str, context: dict[str, Any], *, title: str, created: datetime) -> str:
    """The report's HTML: the caller's context plus `document` (title, created), which base.html reads."""
    document = {"title": title, "created": _w3c(created)}
    return render_to_string(template_name, {**context, "document": document})


def _reproducible_font_subsets() -> None:
    # Without the system's libharfbuzz-subset, WeasyPrint subsets fonts with fontTools, which stamps each
    # subset's `head.modified` with the current time unless SOURCE_DATE_EPOCH is set (the
    # reproducible-builds convention). A constant, so concurrent renders agree; an operator's value wins.
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")


def render_pdf(template_name: str, context: dict[str, Any], *, title: str, created: datetime) -> bytes:
    """Render a report template to PDF bytes; the same arguments always give the same bytes."""
    _reproducible_font_subsets()
    html = render_html(template_name, context, title=title, created=created)
    identifier = hashlib.sha256(html.encode()).hexdigest()[:32].encode()
    return HTML(string=html, base_url=BASE_URL, url_fetcher=StaticOnlyFetcher()).write_pdf(
        pdf_identifier=identifier
    )


def store_rendered(relative_path: str, data: bytes) -> tuple[str, str]:
    """Write a rendered file under MEDIA_ROOT atomically; returns (relative path, sha256 hex)."""
    clean = posixpath.normpath(relative_path)
    if clean != relative_path or clean.startswith(("/", "../")) or clean in {".", ".."}:
        raise ValueError("relative_path must be a normalised path inside MEDIA_ROOT")
    target = Path(settings.MEDIA_ROOT) / clean
    target.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as the target, so the rename is atomic: a reader sees the old file or the new one.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return clean, hashlib.sha256(data).hexdigest()
