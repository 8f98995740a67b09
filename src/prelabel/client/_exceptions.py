"""Errors raised by the SDK. It has its own tree and imports nothing from the server.

    PrelabelAPIError              the server answered with an error: .status, .code, .message, .details,
    │                             .request and .response (httpx objects)
    ├── InvalidRequestError       400, 413, 415, 422: the request was malformed or broke a rule
    ├── AuthenticationError       401: missing, invalid or revoked token
    ├── PermissionDeniedError     403: your role in the project does not allow it
    ├── NotFoundError             404: no such object (or not visible to you)
    ├── ConflictError             409: duplicate external id, stale state, ...
    └── ServerError               5xx, including 503 when the schema needs `prelabel db upgrade`

Network failures (connection refused, timeouts) surface as httpx's own `httpx.TransportError`.
"""

from __future__ import annotations

from typing import Any

import httpx


class PrelabelAPIError(Exception):
    """An error response from the server, in its one body shape ``{"error": {code, message, details}}``."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        details: dict[str, Any] | None = None,
        request: httpx.Request | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details or {}
        self.request = request
        self.response = response

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class InvalidRequestError(PrelabelAPIError):
    pass


class AuthenticationError(PrelabelAPIError):
    pass


class PermissionDeniedError(PrelabelAPIError):
    pass


class NotFoundError(PrelabelAPIError):
    pass


class ConflictError(PrelabelAPIError):
    pass


class ServerError(PrelabelAPIError):
    pass


def _class_for(status: int) -> type[PrelabelAPIError]:
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDeniedError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status >= 500:
        return ServerError
    if 400 <= status < 500:
        return InvalidRequestError
    return PrelabelAPIError


def error_from_response(response: httpx.Response) -> PrelabelAPIError:
    """Build the matching exception from an error response (any body: falls back to the status text)."""
    code = f"http_{response.status_code}"
    message = response.reason_phrase or "HTTP error"
    details: dict[str, Any] = {}
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = str(err.get("code") or code)
        message = str(err.get("message") or message)
        if isinstance(err.get("details"), dict):
            details = err["details"]
    elif response.text:
        message = f"{message}: {response.text[:500]}"
    cls = _class_for(response.status_code)
    try:
        request: httpx.Request | None = response.request
    except RuntimeError:  # a response built by hand has no request
        request = None
    return cls(
        message, status=response.status_code, code=code, details=details, request=request, response=response
    )
