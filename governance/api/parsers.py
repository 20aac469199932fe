"""A multipart parser that refuses dangerous file names instead of silently rewriting them."""

from __future__ import annotations

from typing import Any

from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, MultiPartParser

from governance.services.datasets import validate_filename


class _StrictDjangoParser(DjangoMultiPartParser):
    def sanitize_file_name(self, file_name: str) -> str | None:
        # Django would strip "../" and control characters and carry on; a governance record should
        # not store a name other than the one the client sent, so such names are refused outright.
        validate_filename(file_name)
        return file_name


class StrictMultiPartParser(MultiPartParser):
    """Multipart with file names validated by the dataset service's rules."""

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
        return DataAndFiles(data, files)
