"""One exception handler: every error is `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import (
    PermissionDenied as DjangoPermissionDenied,
)
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from governance.errors import DomainError

_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


def error_response(status_code: int, code: str, message: str, details: Any = None) -> Response:
    return Response({"error": {"code": code, "message": message, "details": details}}, status=status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map domain errors, Django errors and DRF errors to the house error shape."""
    if isinstance(exc, DomainError):
        return error_response(exc.status, exc.code, exc.message, exc.details)
    if isinstance(exc, SuspiciousOperation):
        return _suspicious(exc)
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return error_response(400, "validation_failed", "the data is not valid", errors)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = _CODES.get(response.status_code, "error")
    details: Any = None
    if isinstance(exc, exceptions.ValidationError):
        message, details = "the data is not valid", response.data
        code = "validation_failed"
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        message = str(detail)
        detail_code = getattr(getattr(exc, "detail", None), "code", None)
        if detail_code and (
            response.status_code != status.HTTP_400_BAD_REQUEST or detail_code == "parse_error"
        ):
            code = str(detail_code) if detail_code not in ("error", "invalid") else code
    response.data = {"error": {"code": code, "message": message, "details": details}}
    return response


def _suspicious(exc: SuspiciousOperation) -> Response:
    """Django's own request limits, raised while DRF reads the body: in the error shape, not an HTML page."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error_response(
            413, "payload_too_large", f"the request body exceeds {limit} bytes", {"limit_bytes": limit}
        )
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return error_response(
            400, "too_many_fields", "the request body has too many fields", {"limit": limit}
        )
    return error_response(400, "bad_request", "the request was refused as malformed")
