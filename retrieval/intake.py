"""Turn an upload (files, a JSONL batch or JSON) into validated documents before anything is stored.

A batch is all or nothing: one bad file or line refuses the whole request with the line named, and
nothing is stored. A partial batch would leave the client to work out which half was indexed.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings

from governance.errors import TooLarge, ValidationFailed
from governance.jsonl import RecordError, RecordInvalid, invalid_file, iter_lines, unstorable
from governance.services.datasets import validate_filename
from retrieval.choices import SourceType
from retrieval.extraction import BATCH_EXTENSIONS, extract, normalise_text, source_type_for

DOCUMENT_KEYS = {"external_id", "title", "source", "text", "metadata"}
MAX_REPORTED_ERRORS = 20
MAX_METADATA_KEYS = 50


@dataclass
class IncomingDocument:
    """One validated document, not yet stored."""

    external_id: str
    text: str
    source_type: str
    size_bytes: int
    title: str = ""
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        """Hash of everything a citation shows: re-sending the same content is a no-op."""
        body = {"text": self.text, "title": self.title, "source": self.source, "metadata": self.metadata}
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def max_document_bytes() -> int:
    return int(settings.RETRIEVAL_MAX_DOCUMENT_BYTES)


def max_batch_documents() -> int:
    return int(settings.RETRIEVAL_MAX_BATCH_DOCUMENTS)


def _too_large(size: int, what: str) -> TooLarge:
    limit = max_document_bytes()
    return TooLarge(
        f"{what} is {size} bytes; the limit per document is {limit}",
        code="document_too_large",
        details={"limit_bytes": limit},
    )


def _short_string(value: Any, name: str, limit: int, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise RecordInvalid(name, "not_a_string", f"'{name}' must be a string")
    if len(value) > limit:  # the limit is on what the client sent, before trimming (as the schema says)
        raise RecordInvalid(name, "invalid_field", f"'{name}' must be one line of at most {limit} characters")
    text = unicodedata.normalize("NFC", value).strip()
    if required and not text:
        raise RecordInvalid(name, "empty_field", f"'{name}' must not be empty")
    if len(text) > limit or any(ch in text for ch in "\x00\r\n"):
        raise RecordInvalid(name, "invalid_field", f"'{name}' must be one line of at most {limit} characters")
    return text


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_METADATA_KEYS:
        raise RecordInvalid(
            "metadata",
            "invalid_metadata",
            f"'metadata' must be an object of at most {MAX_METADATA_KEYS} keys",
        )
    for key, item in value.items():
        # Flat scalars only: filters match them exactly, and nested data has no place in a citation.
        if not isinstance(item, str | int | float | bool) or (isinstance(item, str) and len(item) > 1000):
            raise RecordInvalid(
                f"metadata.{key}",
                "invalid_metadata",
                "metadata values must be short strings, numbers or booleans",
            )
    return dict(value)


def _document_text(value: Any) -> str:
    if not isinstance(value, str):
        raise RecordInvalid("text", "not_a_string", "'text' must be a string")
    if len(value.encode()) > max_document_bytes():
        raise _too_large(len(value.encode()), "the text")
    text = normalise_text(value)
    if not text:
        raise RecordInvalid("text", "empty_document", "the document has no text")
    return text


def document_from_object(record: Any, *, source_type: str = SourceType.JSON) -> IncomingDocument:
    """Validate one `{external_id, title, source, text, metadata}` object."""
    if isinstance(record, _Unparsable):
        raise RecordInvalid("", "invalid_json", "the line is not valid UTF-8 JSON")
    if not isinstance(record, dict):
        raise RecordInvalid("", "not_an_object", "a document must be a JSON object")
    unknown = sorted(set(record) - DOCUMENT_KEYS)
    if unknown:
        raise RecordInvalid(unknown[0], "unknown_field", f"unknown field '{unknown[0]}'")
    if (refused := unstorable(record)) is not None:
        raise RecordInvalid("", *refused)
    text = _document_text(record.get("text"))
    return IncomingDocument(
        external_id=_short_string(record.get("external_id"), "external_id", 300, required=True),
        title=_short_string(record.get("title"), "title", 500),
        source=_short_string(record.get("source"), "source", 1000),
        metadata=_metadata(record.get("metadata")),
        text=text,
        source_type=source_type,
        size_bytes=len(text.encode()),
    )


def _single(record: Any) -> IncomingDocument:
    try:
        return document_from_object(record)
    except RecordInvalid as exc:
        code = exc.code
        raise ValidationFailed(exc.message, code=code, details={"field": exc.field}) from None


def documents_from_json(payload: Any) -> list[IncomingDocument]:
    """A JSON body: one document object, a list of them, or `{"documents": [...]}`."""
    if isinstance(payload, dict) and set(payload) == {"documents"}:
        payload = payload["documents"]
    if isinstance(payload, dict):
        return [_single(payload)]
    if not isinstance(payload, list) or not payload:
        raise ValidationFailed("send a document object or a non-empty list of them", code="invalid_body")
    return _batch((index + 1, item) for index, item in enumerate(payload))


def _batch(items: Any) -> list[IncomingDocument]:
    documents: list[IncomingDocument] = []
    errors: list[RecordError] = []
    seen: dict[str, int] = {}
    for line, record in items:
        try:
            document = document_from_object(record)
        except RecordInvalid as exc:
            errors.append(RecordError(line, exc.field, exc.code, exc.message))
        else:
            if document.external_id in seen:
                errors.append(
                    RecordError(
                        line,
                        "external_id",
                        "duplicate_external_id",
                        f"external_id repeats the one on line {seen[document.external_id]}",
                    )
                )
            seen.setdefault(document.external_id, line)
            documents.append(document)
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
        if len(documents) > max_batch_documents():
            raise TooLarge(
                f"a batch holds at most {max_batch_documents()} documents",
                code="too_many_documents",
                details={"limit_documents": max_batch_documents()},
            )
    if errors:
        raise invalid_file(errors)
    return documents


def documents_from_jsonl(stream: IO[bytes]) -> list[IncomingDocument]:
    """A JSONL batch, one document per line; any bad line refuses the whole batch, naming the line."""

    def records() -> Any:
        for number, raw in iter_lines(stream, max_line_bytes=max_document_bytes() + 64 * 1024):
            try:
                yield number, json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                yield number, _Unparsable()

    documents = _batch(records())
    if not documents:
        raise ValidationFailed("the batch holds no documents", code="empty_batch")
    return documents


class _Unparsable:
    """Stands for a line that is not JSON, so the batch reports it with the other errors."""


def document_from_file(
    data: bytes,
    *,
    filename: str,
    content_type: str = "",
    external_id: str = "",
    title: str = "",
    source: str = "",
    metadata: Any = None,
) -> IncomingDocument:
    """One uploaded file: type from its name, text extracted now so a bad file is refused at once."""
    validate_filename(filename)
    source_type = source_type_for(filename, content_type)
    if len(data) > max_document_bytes():
        raise _too_large(len(data), f"'{filename}'")
    if not data.strip():
        raise ValidationFailed("the document is empty", code="empty_document", details={"file": filename})
    text = extract(data, filename=filename, source_type=source_type)
    if not text:
        raise ValidationFailed("the document has no text", code="empty_document", details={"file": filename})
    try:
        return IncomingDocument(
            external_id=_short_string(external_id or filename, "external_id", 300, required=True),
            title=_short_string(title or filename, "title", 500),
            source=_short_string(source, "source", 1000),
            metadata=_metadata(metadata),
            text=text,
            source_type=source_type,
            size_bytes=len(data),
        )
    except RecordInvalid as exc:
        raise ValidationFailed(
            exc.message, code=exc.code, details={"field": exc.field, "file": filename}
        ) from None


def is_batch_file(filename: str) -> bool:
    return filename.lower().endswith(BATCH_EXTENSIONS)
