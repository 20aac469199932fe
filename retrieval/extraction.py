"""Text extraction from uploads: plain text, Markdown, HTML (a real parser) and PDF (pypdf)."""

from __future__ import annotations

import io
import logging
import re
from pathlib import PurePath

from bs4 import BeautifulSoup

from governance.errors import UnsupportedMedia, ValidationFailed
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


def pdf_to_text(data: bytes, *, filename: str) -> str:
    """The text layer of every page; a scanned PDF without one is refused."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.startswith(b"%PDF-"):
        raise ValidationFailed("the file is not a PDF", code="invalid_pdf", details={"file": filename})
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ValidationFailed(
                "encrypted PDFs are not supported", code="encrypted_pdf", details={"file": filename}
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except ValidationFailed:
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
