"""One error body for the whole API: ``{"error": {"code": str, "message": str, "details": {...}}}``.

- `PrelabelError` (and subclasses) → its own status code and snake_case code.
- FastAPI's `RequestValidationError` → 422 ``invalid_input``, the message naming each bad field.
- Starlette's HTTP errors (unknown path 404, wrong method 405, …) → their status, code from the status.
- Anything else → 500 ``internal_error`` with a generic message (the traceback goes to the log, never to
  the client).

`error_responses(...)` documents those answers in OpenAPI with `ErrorBody` as their model; `create_app`
declares 422 for every route, each router and route the statuses it can add. A 405 and an OPTIONS request name
every method of the path in ``Allow`` (FastAPI has one route per method, and Starlette only knows the first).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

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


_DESCRIPTIONS = {
    400: "The JSON body could not be decoded: not UTF-8, or nested too deeply.",
    401: "No API token, or one that is invalid or revoked.",
    403: "Your role in the project does not allow this.",
    404: "No such object, or a project you are not a member of.",
    409: "The change conflicts with existing data or with the object's state.",
    413: "The upload is larger than the server's PRELABEL_MAX_UPLOAD_BYTES.",
    415: "This route does not accept the request's content type.",
    422: "Invalid input: a parameter or field, an id out of range, or a rule of the project.",
    429: "Too many requests; retry after the seconds in Retry-After.",
    503: "The database is unreachable, or its schema is behind this prelabel (run `prelabel db upgrade`).",
}


class ErrorInfo(BaseModel):
    code: str = Field(description="snake_case, e.g. not_found, invalid_input, permission_denied.")
    message: str = Field(description="What went wrong and what to do about it, for a person.")
    details: dict[str, Any] = Field(description="Specifics for programs: the field, ids or limits involved.")


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorInfo


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the one error body."""
    return {status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses}


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


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
_UNPARSABLE_BODY = "There was an error parsing the body"  # FastAPI's 400 when decoding a JSON body fails


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on the request's path: the app's routes asked with each method in turn
    (mounted apps such as /static answer for themselves)."""
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]


def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> Response:
    """OPTIONS: 204 naming the path's methods; any other method the path lacks: 405 naming them."""
    allowed = _allowed_methods(request)
    if not allowed:  # a mounted app's own 405 (static files): it named its methods itself
        allow = (exc.headers or {}).get("Allow", "")
    elif request.method == "OPTIONS":
        return Response(status_code=204, headers={"Allow": ", ".join([*allowed, "OPTIONS"])})
    else:
        allow = ", ".join(allowed)
    message = f"Method {request.method} is not allowed on this path; it allows {allow or 'no method'} (see /docs)."
    return error_response(405, "method_not_allowed", message, headers={"Allow": allow} if allow else None)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 405:
        return _method_not_allowed(request, exc)
    code = _HTTP_CODES.get(status, "http_error")
    detail = exc.detail
    if status == 404 and detail in (None, "Not Found"):
        message = "Not found: no such path. The API lives under /api/v1; see /docs."
    elif status == 400 and isinstance(exc.__cause__, RecursionError):  # FastAPI's parse error, from json.loads
        message = "The request body is JSON nested too deeply to parse; send objects nested a few levels at most."
    elif status == 400 and detail == _UNPARSABLE_BODY:  # FastAPI's, e.g. a JSON body that is not UTF-8
        message = "The request body could not be parsed: send JSON encoded as UTF-8 (Content-Type: application/json)."
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
