"""The one error tree of the server side (store, service, api, worker).

    PrelabelError                 base; carries a message a person can act on
    ├── InvalidInput (400/422)    the request is malformed or violates the interface / a rule
    ├── Unauthenticated (401)     no or bad credentials
    ├── PermissionDenied (403)    authenticated but the role does not allow it
    ├── NotFound (404)            the object does not exist (or is invisible to this user)
    ├── Conflict (409)            uniqueness or state conflict (duplicate external id, stale lease, ...)
    ├── PayloadTooLarge (413)     upload over the configured size
    ├── UnsupportedMediaType (415) wrong content type for an upload
    ├── TooManyAttempts (429)     wrong passwords came too fast; says when to try again
    └── SchemaOutOfDate (503)     the database schema is behind the code; names the upgrade command

The API maps each class to its status code and one JSON body shape:
``{"error": {"code": "<snake_case>", "message": "...", "details": {...}}}``.
The SDK (`prelabel.client`) has its own tree and does not import this module.
"""

from __future__ import annotations

from typing import Any


class PrelabelError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(PrelabelError):
    status_code = 422
    code = "invalid_input"


class Unauthenticated(PrelabelError):
    status_code = 401
    code = "unauthenticated"


class PermissionDenied(PrelabelError):
    status_code = 403
    code = "permission_denied"


class NotFound(PrelabelError):
    status_code = 404
    code = "not_found"


class Conflict(PrelabelError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(PrelabelError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(PrelabelError):
    status_code = 415
    code = "unsupported_media_type"


class TooManyAttempts(PrelabelError):
    """429: wrong passwords came too fast (service/throttle.py); `retry_after_s` says when the next try is checked."""

    status_code = 429
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, details={"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class SchemaOutOfDate(PrelabelError):
    status_code = 503
    code = "schema_out_of_date"
