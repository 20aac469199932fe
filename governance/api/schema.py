"""OpenAPI schema that says what the API does: every error status an operation can answer, in one shape.

drf-spectacular documents only the success response of each operation. Clients (and schemathesis, which
CI runs against the schema) need the refusals too, so every operation lists the statuses the one
exception handler (governance/api/errors.py) can produce for it, each with the error body.
"""

from __future__ import annotations

from typing import Any, Literal

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers

_MESSAGES = {
    400: "The request is malformed or breaks a rule (`error.code` names which).",
    401: "No valid credentials were sent.",
    403: "The caller's role does not allow this.",
    404: "No such object, or not visible to the caller.",
    409: "The object's state forbids this (illegal transition, failed gate, duplicate).",
    413: "The payload exceeds a configured limit.",
    415: "The payload's media type is not accepted.",
    429: "Too many requests or login attempts; retry later.",
}
_READ = (400, 401, 403, 404, 429)
_WRITE = (*_READ, 409, 413, 415)


class ErrorDetailOut(serializers.Serializer):
    """The inner object of every error response."""

    code = serializers.CharField(help_text="Machine-readable error code, e.g. `gates_failed`.")
    message = serializers.CharField()
    details = serializers.JSONField(allow_null=True, help_text="Per-field or per-item detail, or null.")


class ErrorOut(serializers.Serializer):
    """`{"error": {code, message, details}}`: the one shape of every 4xx answer."""

    error = ErrorDetailOut()


class AutoSchema(SpectacularAutoSchema):
    """Adds the documented error responses to every operation unless the view already names them.

    It also states the input rules the API enforces for every operation: a body takes only the fields
    its serializer declares (governance/api/validation.py refuses the rest), and a query parameter
    needs a value without NUL characters (governance/api/filters.py refuses `?name=` and `a%00b`).
    """

    def get_operation(self, *args: Any, **kwargs: Any) -> Any:
        operation = super().get_operation(*args, **kwargs)
        for parameter in (operation or {}).get("parameters", []):
            schema = parameter.get("schema", {})
            if parameter.get("in") == "query" and schema.get("type") == "string" and "enum" not in schema:
                schema.setdefault("minLength", 1)
                schema.setdefault("pattern", "^[^\\x00]+$")
        return operation

    def _map_serializer(self, serializer: Any, direction: str, bypass_extensions: bool = False) -> Any:
        result = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and result.get("type") == "object":
            result["additionalProperties"] = False
        return result

    def _get_response_bodies(self, direction: Literal["request", "response"] = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        statuses = _READ if self.method in ("GET", "HEAD", "OPTIONS") else _WRITE
        for status_code in statuses:
            if str(status_code) in responses:
                continue
            responses[str(status_code)] = self._get_response_for_code(
                ErrorOut, str(status_code), direction=direction
            )
            responses[str(status_code)]["description"] = _MESSAGES[status_code]
        if self.method == "GET":
            # Refused by gunicorn before Django runs (its limit_request_line), so it is its HTML page.
            responses["414"] = {
                "description": "The request line (path and query) is longer than the web server accepts.",
                "content": {"text/html": {"schema": {"type": "string"}}},
            }
        return responses
