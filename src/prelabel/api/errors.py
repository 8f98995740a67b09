"""One error body for the whole API: ``{"error": {"code": str, "message": str, "details": {...}}}``.

- `PrelabelError` (and subclasses) → its own status code and snake_case code.
- FastAPI's `RequestValidationError` → 422 ``invalid_input``, the message naming each bad field.
- Starlette's HTTP errors (unknown path 404, wrong method 405, …) → their status, code from the status.
- Anything else → 500 ``internal_error`` with a generic message (the traceback goes to the log, never to
  the client).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from prelabel.errors import PrelabelError

log = logging.getLogger("prelabel.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _prelabel_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PrelabelError)
    if exc.status_code >= 500:
        log.error("%s: %s", type(exc).__name__, exc.message)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        where = parts[0]
        rest = ".".join(parts[1:])
        return f"{where} {rest}" if rest else where
    return ".".join(parts)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    parts = []
    for err in exc.errors():
        where = _location(err.get("loc", ()))
        msg = str(err.get("msg", "invalid"))
        errors.append({"location": where, "message": msg, "type": err.get("type")})
        parts.append(f"{where}: {msg}")
    message = "Invalid request: " + "; ".join(parts) if parts else "Invalid request."
    return error_response(422, "invalid_input", message, {"errors": errors})


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, "http_error")
    detail = exc.detail
    if status == 404 and detail in (None, "Not Found"):
        message = "Not found: no such path. The API lives under /api/v1; see /docs."
    elif status == 405:
        message = f"Method not allowed on this path ({_request.method}); see /docs for the allowed methods."
    elif isinstance(detail, str) and detail:
        message = detail
    else:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = "HTTP error"
    return error_response(status, code, message, headers=getattr(exc, "headers", None))


def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500, "internal_error", "Internal server error; the server log has the details. Please report it."
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PrelabelError, _prelabel_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
