"""Domain errors. One exception handler turns them into `{"error": {code, message, details}}`."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refused operation with a machine-readable code and an HTTP status for the API."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class ValidationFailed(DomainError):
    """The input is malformed or breaks a rule."""

    status = 400
    code = "validation_failed"


class NotPermitted(DomainError):
    """The actor may not do this (role, four-eyes rule)."""

    status = 403
    code = "forbidden"


class NotFound(DomainError):
    """The referenced object does not exist."""

    status = 404
    code = "not_found"


class Conflict(DomainError):
    """The object's state forbids the operation (illegal transition, failed gate, duplicate)."""

    status = 409
    code = "conflict"


class Gone(DomainError):
    """The object existed and is no longer available (an expired or already used download)."""

    status = 410
    code = "gone"


class TooLarge(DomainError):
    """The payload exceeds a configured limit."""

    status = 413
    code = "payload_too_large"


class UnsupportedMedia(DomainError):
    """The payload's type is not one the endpoint accepts."""

    status = 415
    code = "unsupported_media_type"


class TooManyRequests(DomainError):
    """Refused for now: too many attempts; the caller may try again later."""

    status = 429
    code = "too_many_requests"
