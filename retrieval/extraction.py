"""Text extraction from uploads: plain text, Markdown, HTML (a real parser) and PDF (pypdf)."""

from __future__ import annotations

import io
import logging
import re
import time
from pathlib import PurePath
from typing import Any

from bs4 import BeautifulSoup
from django.conf import settings

from governance.errors import TooLarge, UnsupportedMedia, ValidationFailed
from retrieval.choices import SourceType

logger = logging.getLogger(__name__)

EXTENSIONS = {
    ".txt": SourceType.TXT, ".text": SourceType.TXT, ".md": SourceType.MD, ".markdown": SourceType.MD,
    ".html": SourceType.HTML, ".htm": SourceType.HTML, ".pdf": SourceType.PDF,
}  # fmt: skip
CONTENT_TYPES = {
    "text/plain": SourceType.TXT, "text/markdown": SourceType.MD, "text/html": SourceType.HTML,
    "application/pdf": SourceType.PDF,
}  # fmt: skip
BATCH_EXTENSIONS = (".jsonl", ".ndjson")
_DROPPED_TAGS = ("script", "style", "noscript", "template", "head")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def source_type_for(filename: str, content_type: str = "") -> SourceType:
    """The type of an upload from its extension, else its declared content type; 415 if neither fits."""
    suffix = PurePath(filename).suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    declared = (content_type or "").split(";")[0].strip().lower()
    if not suffix and declared in CONTENT_TYPES:
        return CONTENT_TYPES[declared]
    raise UnsupportedMedia(
        f"files of type '{suffix or declared or 'unknown'}' are not supported",
        code="unsupported_type",
        details={"file": filename, "supported": sorted({*EXTENSIONS, *BATCH_EXTENSIONS})},
    )


def decode_text(data: bytes, *, filename: str) -> str:
    """UTF-8 text with normalised newlines; NUL bytes or invalid UTF-8 mean it is not a text file."""
    if b"\x00" in data:
        raise UnsupportedMedia(
            "the file holds binary data, not text", code="binary_content", details={"file": filename}
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedMedia(
            f"the file is not valid UTF-8 text (byte {exc.start})",
            code="binary_content",
            details={"file": filename, "offset": exc.start},
        ) from None
    return normalise_text(text)


def normalise_text(text: str) -> str:
    """Unix newlines, no trailing spaces, at most one blank line in a row, trimmed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def html_to_text(html: str) -> str:
    """Visible text of an HTML page: scripts, styles and the head dropped, blocks on their own lines."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(_DROPPED_TAGS):
        tag.decompose()
    return normalise_text(soup.get_text("\n"))


class _ExtractionLimit(Exception):
    """Raised inside pypdf's text visitor to stop a page that runs past a bound."""


def _extraction_limit(filename: str, reason: str, limit: float | int) -> TooLarge:
    return TooLarge(
        f"the PDF expands past the extraction limits ({reason}); split it or extract its text first",
        code="extraction_limit",
        details={"file": filename, "limit": reason, "maximum": limit},
    )


def pdf_to_text(data: bytes, *, filename: str) -> str:
    """The text layer of every page, bounded in pages, characters, time and decompressed bytes.

    A compressed bomb (a few hundred KB of FlateDecode expanding to hundreds of MB, or to a content
    stream of millions of text operators that pypdf parses at ~0.5 MB/s) is refused with 413
    extraction_limit rather than holding the request for a minute.
    """
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError, PdfReadError

    if not data.startswith(b"%PDF-"):
        raise ValidationFailed("the file is not a PDF", code="invalid_pdf", details={"file": filename})
    max_pages = int(settings.RETRIEVAL_PDF_MAX_PAGES)
    max_chars = int(settings.RETRIEVAL_PDF_MAX_CHARS)
    max_seconds = float(settings.RETRIEVAL_PDF_MAX_SECONDS)
    max_page_bytes = int(settings.RETRIEVAL_PDF_MAX_PAGE_CONTENT_BYTES)
    max_stream = int(settings.RETRIEVAL_PDF_MAX_STREAM_BYTES)
    deadline = time.monotonic() + max_seconds
    pages: list[str] = []
    chars = 0

    def visit(text: str, *args: Any) -> None:
        nonlocal chars
        chars += len(text)
        if chars > max_chars or time.monotonic() > deadline:
            raise _ExtractionLimit

    limits = {
        name: max_stream
        for name in (
            "zlib_maximum_output_length",
            "lzw_maximum_output_length",
            "run_length_maximum_output_length",
            "brotli_maximum_output_length",
            "array_based_stream_maximum_output_length",
        )
    }
    try:
        with apply_configuration(None, **limits):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise ValidationFailed(
                    "encrypted PDFs are not supported", code="encrypted_pdf", details={"file": filename}
                )
            if len(reader.pages) > max_pages:
                raise _extraction_limit(filename, "pages", max_pages)
            for page in reader.pages:
                if time.monotonic() > deadline:
                    raise _extraction_limit(filename, "seconds", max_seconds)
                contents = page.get_contents()
                # Parsing costs ~2 s per MB of operators, before any text comes out: bound it first.
                if contents is not None and len(contents.get_data()) > max_page_bytes:
                    raise _extraction_limit(filename, "page_content_bytes", max_page_bytes)
                pages.append(page.extract_text(visitor_text=visit) or "")
    except _ExtractionLimit:
        reason, limit = ("characters", max_chars) if chars > max_chars else ("seconds", max_seconds)
        raise _extraction_limit(filename, reason, limit) from None
    except LimitReachedError:
        raise _extraction_limit(filename, "stream_bytes", max_stream) from None
    except (ValidationFailed, TooLarge):
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        logger.info("unreadable PDF upload: %s", type(exc).__name__)
        raise ValidationFailed(
            "the PDF could not be read", code="invalid_pdf", details={"file": filename}
        ) from None
    text = normalise_text("\n\n".join(pages))
    if not text:
        raise ValidationFailed(
            "the PDF has no text layer (a scan?); run OCR before indexing it",
            code="no_text_layer",
            details={"file": filename, "pages": len(pages)},
        )
    return text


def extract(data: bytes, *, filename: str, source_type: SourceType) -> str:
    """The text of an uploaded file, ready for scanning and chunking."""
    if source_type == SourceType.PDF:
        return pdf_to_text(data, filename=filename)
    text = decode_text(data, filename=filename)
    if source_type == SourceType.HTML:
        text = html_to_text(text)
    return text
