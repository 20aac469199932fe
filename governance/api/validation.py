"""One input check for every API body: known fields only, one value each, no NUL, then the serializer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.http import QueryDict
from rest_framework import serializers

from governance.errors import ValidationFailed

_MANY = (serializers.ListField, serializers.ManyRelatedField, serializers.MultipleChoiceField)


def valid_input(serializer_class: type[Any], data: Any, *, partial: bool = False) -> dict[str, Any]:
    """The validated data of `serializer_class`; fields it does not declare are refused, not dropped."""
    serializer = serializer_class(data=data, partial=partial)
    if isinstance(data, dict):  # a QueryDict (form, multipart) is a dict too
        _refuse_unknown(data, serializer.fields)
        _refuse_nul(data, path="")
        _refuse_booleans_as_numbers(data, serializer.fields)
        _refuse_non_strings_as_text(data, serializer.fields)
    if not serializer.is_valid():
        raise ValidationFailed("the data is not valid", code="validation_failed", details=serializer.errors)
    return dict(serializer.validated_data)


def _refuse_unknown(data: dict[str, Any], fields: dict[str, serializers.Field]) -> None:
    # A misspelt field ("purpose" for "intended_purpose") used to be dropped and the request succeed.
    writable = {name for name, field in fields.items() if not field.read_only}
    for name in sorted(data, key=str):
        values = data.getlist(name) if isinstance(data, QueryDict) else [data[name]]
        is_file = any(isinstance(value, UploadedFile) for value in values)
        if name not in writable:
            code, message = ("unexpected_file", "file part") if is_file else ("unknown_field", "field")
            raise ValidationFailed(
                f"unknown {message} '{name}'", code=code, details={"field": name, "allowed": sorted(writable)}
            )
        if isinstance(data, QueryDict) and values == [""] and not getattr(fields[name], "allow_blank", False):
            # DRF reads an empty form part as "not sent" for an optional field, so `owner=` in a
            # multipart body was accepted (and defaulted) where JSON `"owner": ""` is refused.
            raise ValidationFailed(
                "the data is not valid",
                code="validation_failed",
                details={name: ["This field may not be blank."]},
            )
        if len(values) > 1 and not isinstance(fields[name], _MANY):
            code = "unexpected_file" if is_file else "duplicate_field"
            raise ValidationFailed(
                f"'{name}' takes one value; the request sent {len(values)}",
                code=code,
                details={"field": name, "count": len(values)},
            )


def _refuse_booleans_as_numbers(data: dict[str, Any], fields: dict[str, serializers.Field]) -> None:
    # DRF's FloatField reads JSON `false` as 0.0 (float(False)), so `"min_score": false` was stored.
    for name, field in fields.items():
        if isinstance(field, serializers.FloatField | serializers.DecimalField) and isinstance(
            data.get(name), bool
        ):
            raise ValidationFailed(
                "the data is not valid",
                code="validation_failed",
                details={name: ["A valid number is required."]},
            )


def _refuse_non_strings_as_text(data: dict[str, Any], fields: dict[str, serializers.Field]) -> None:
    # DRF's CharField reads JSON `0` or `false` as "0" / "False", so `"description": 0` was stored.
    for name, field in fields.items():
        value = data.get(name)
        if isinstance(field, serializers.CharField) and value is not None and not isinstance(value, str):
            raise ValidationFailed(
                "the data is not valid",
                code="validation_failed",
                details={name: ["Not a valid string."]},
            )


def _refuse_nul(value: Any, *, path: str) -> None:
    # PostgreSQL text and jsonb cannot hold NUL: a lookup or insert with one was a 500.
    for where, text in _strings(value, path):
        if "\x00" in text:
            raise ValidationFailed(
                "NUL characters are not allowed", code="invalid_character", details={"field": where}
            )


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, QueryDict):
        for key, values in value.lists():
            yield key, key
            for item in values:
                yield from _strings(item, key)
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            yield where, str(key)
            yield from _strings(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")
