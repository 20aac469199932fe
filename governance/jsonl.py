"""Validate and normalise JSONL training records.

A record is `{"input": str, "output": str}` or `{"messages": [{"role", "content"}, ...]}`, optionally
with a `metadata` object. Normalisation (NFC, trimmed strings, sorted keys, compact JSON) makes the
sha256 of a record independent of how the uploader formatted it, so exact duplicates collapse.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from dataclasses import dataclass
from typing import IO, Any

from governance.errors import TooLarge, ValidationFailed

ROLES = ("system", "user", "assistant")
ALLOWED_KEYS = {"input", "output", "messages", "metadata"}


@dataclass(frozen=True)
class RecordError:
    """Where a record is wrong and why."""

    line: int
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "code": self.code, "message": self.message}


class RecordInvalid(Exception):
    """Raised by `normalise_record` with the field that is wrong."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


def unstorable(value: Any) -> tuple[str, str] | None:
    """(code, reason) when a JSON value holds what PostgreSQL or a strict JSON reader refuses, else None.

    A lone surrogate (valid in a JSON string escape, never in UTF-8) and a number out of float range
    (1e400 parses as infinity; NaN and Infinity literals) anywhere, keys included.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "invalid_character", "a string holds a lone surrogate character, which is not text"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "invalid_number", "a number is infinite or not a number"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _depth(value: Any, limit: int) -> int:
    """Nesting depth, stopping early once it passes `limit`."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise RecordInvalid(field, "not_a_string", f"'{field}' must be a string")
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise RecordInvalid(field, "empty_field", f"'{field}' must not be empty")
    return text


def _messages(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise RecordInvalid("messages", "invalid_messages", "'messages' must be a non-empty list")
    out = []
    for i, message in enumerate(value):
        field = f"messages[{i}]"
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise RecordInvalid(
                field, "invalid_message", f"'{field}' must be an object with role and content"
            )
        if message["role"] not in ROLES:
            raise RecordInvalid(f"{field}.role", "invalid_role", f"'{field}.role' must be one of {ROLES}")
        out.append({"role": message["role"], "content": _text(message["content"], f"{field}.content")})
    if out[-1]["role"] != "assistant":
        raise RecordInvalid("messages", "no_answer", "the last message must come from the assistant")
    return out


def normalise_record(record: Any, *, max_depth: int) -> dict[str, Any]:
    """Check one parsed record and return its normal form."""
    if not isinstance(record, dict):
        raise RecordInvalid("", "not_an_object", "the line must hold a JSON object")
    if _depth(record, max_depth) > max_depth:
        raise RecordInvalid("", "too_deeply_nested", f"the record is nested deeper than {max_depth} levels")
    unknown = sorted(set(record) - ALLOWED_KEYS)
    if unknown:
        raise RecordInvalid(unknown[0], "unknown_field", f"unknown field '{unknown[0]}'")
    if (refused := unstorable(record)) is not None:
        raise RecordInvalid("", *refused)
    normal: dict[str, Any] = {}
    if "messages" in record:
        if "input" in record or "output" in record:
            raise RecordInvalid("messages", "mixed_format", "use either messages or input/output, not both")
        normal["messages"] = _messages(record["messages"])
    else:
        for field in ("input", "output"):
            if field not in record:
                raise RecordInvalid(field, "missing_field", f"'{field}' is required")
            normal[field] = _text(record[field], field)
    if "metadata" in record:
        if not isinstance(record["metadata"], dict):
            raise RecordInvalid("metadata", "invalid_metadata", "'metadata' must be an object")
        normal["metadata"] = record["metadata"]
    return normal


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_sha256(canonical_line: str) -> str:
    return hashlib.sha256(canonical_line.encode()).hexdigest()


def record_text(record: dict[str, Any]) -> str:
    """All free text of a record, for PII scanning."""
    if "messages" in record:
        return "\n".join(m["content"] for m in record["messages"])
    return f"{record['input']}\n{record['output']}"


def record_format(record: dict[str, Any]) -> str:
    return "messages" if "messages" in record else "input_output"


def parse_line(raw: bytes, *, line: int, max_depth: int) -> dict[str, Any]:
    """Decode and validate one JSONL line (without its newline)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordInvalid("", "invalid_utf8", f"bytes at offset {exc.start} are not UTF-8") from None
    try:
        parsed = json.loads(text)
    except RecursionError:
        raise RecordInvalid("", "too_deeply_nested", "the line is nested too deeply to parse") from None
    except json.JSONDecodeError as exc:
        raise RecordInvalid(
            "", "invalid_json", f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"
        ) from None
    return normalise_record(parsed, max_depth=max_depth)


def iter_lines(stream: IO[bytes], *, max_line_bytes: int) -> Any:
    """Yield (line number, bytes) for each non-blank line; a line over the limit is an error."""
    number = 0
    while True:
        raw = stream.readline(max_line_bytes + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            raise TooLarge(
                f"line {number} is longer than {max_line_bytes} bytes",
                code="line_too_long",
                details={"line": number, "limit_bytes": max_line_bytes},
            )
        stripped = raw.rstrip(b"\r\n")
        if stripped.strip():
            yield number, stripped


def invalid_file(errors: list[RecordError]) -> ValidationFailed:
    first = errors[0]
    where = f"line {first.line}" + (f", field '{first.field}'" if first.field else "")
    return ValidationFailed(
        f"{where}: {first.message}", code=first.code, details={"errors": [e.as_dict() for e in errors]}
    )
