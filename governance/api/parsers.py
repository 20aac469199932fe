"""Parsers that refuse what they would otherwise mishandle: deep JSON, dangerous file names."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, JSONParser, MultiPartParser
from rest_framework.utils import json

from governance.errors import ValidationFailed

# A JSON string (escapes included), removed before counting brackets so "[[[" inside text is not depth.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether `text` nests arrays and objects deeper than `limit`, stopping at the first excess."""
    depth = 0
    for char in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        depth = depth + 1 if char in "[{" else depth - 1
        if depth > limit:
            return True
    return False


class BoundedJSONParser(JSONParser):
    """JSON whose nesting depth is checked before parsing.

    The json module recurses per level: ~50,000 levels raise RecursionError, which no parser catches,
    so every JSON endpoint (the anonymous token endpoint too) answered with a 500 page.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        limit = settings.API_MAX_JSON_DEPTH
        if json_depth_exceeds(text, limit):
            raise _too_deep(limit)
        try:
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except RecursionError as exc:  # a limit set above what the interpreter's stack allows
            raise _too_deep(limit) from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


def _too_deep(limit: int) -> ValidationFailed:
    return ValidationFailed(
        f"the JSON body is nested more than {limit} levels deep",
        code="too_deeply_nested",
        details={"max_depth": limit},
    )


class _StrictDjangoParser(DjangoMultiPartParser):
    def sanitize_file_name(self, file_name: str) -> str | None:
        # Django would strip "../" and control characters and carry on; a governance record should
        # not store a name other than the one the client sent, so such names are refused outright.
        # Imported here: this module is loaded while DRF's APIView class is being built (default parser),
        # and the services import chain would import DRF views back.
        from governance.services.datasets import validate_filename

        validate_filename(file_name)
        return file_name


class StrictMultiPartParser(MultiPartParser):
    """Multipart with file names validated by the dataset service's rules, and no silent empty form.

    Django reads a body with bytes but no well-formed part (`--b\\r\\n147--b--`) as an empty form, so a
    PATCH made of garbage answered 200 and changed nothing: such a body is a 400 `malformed_body`.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> DataAndFiles:
        parser_context = parser_context or {}
        request = parser_context["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            parser = _StrictDjangoParser(meta, stream, request.upload_handlers, "utf-8")
            data, files = parser.parse()
        except MultiPartParserError as exc:
            raise ParseError(f"multipart form parse error: {exc}") from exc
        if not data and not files and _content_length(meta) > 0:
            raise ValidationFailed(
                "the multipart body holds no well-formed part", code="malformed_body", details=None
            )
        return DataAndFiles(data, files)


def _content_length(meta: dict[str, Any]) -> int:
    raw = str(meta.get("CONTENT_LENGTH") or "0")
    return int(raw) if raw.isascii() and raw.isdigit() else 0
