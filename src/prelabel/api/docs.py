"""The OpenAPI schema and its interactive page: open in development, for signed-in users in production.

In production the API's surface is not published to anyone who finds the server: `/openapi.json` needs an API
token or a live browser session (its row is checked as on every UI page: an ended or expired session does not
count), and `/docs` sends a visitor without one to the login page first.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials

from prelabel.api.deps import get_actor, get_settings, get_store
from prelabel.config import Settings
from prelabel.errors import Unauthenticated
from prelabel.service.auth import SessionPolicy, authenticate_session

OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"


def docs_urls(settings: Settings) -> dict[str, Any]:
    """`FastAPI(...)` arguments: its own open routes, unless production (then `install_docs` adds guarded ones)."""
    if settings.environment == "production":
        return {"docs_url": None, "openapi_url": None, "redoc_url": None}
    return {"docs_url": DOCS_URL, "openapi_url": OPENAPI_URL, "redoc_url": None}


def install_docs(app: FastAPI, settings: Settings) -> None:
    if settings.environment != "production":
        return

    @app.get(OPENAPI_URL, include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        if not _has_session(request):
            _token_actor(request)  # Unauthenticated (401, the API's error body) without a valid token
        return JSONResponse(app.openapi())

    @app.get(DOCS_URL, include_in_schema=False, response_model=None)
    def docs(request: Request) -> HTMLResponse | RedirectResponse:
        if not _has_session(request):
            return RedirectResponse(f"/login?next={quote(DOCS_URL)}", status_code=303)
        return get_swagger_ui_html(openapi_url=OPENAPI_URL, title=f"{app.title} API")


def _has_session(request: Request) -> bool:
    secret = request.session.get("sid") if "session" in request.scope else None
    if not isinstance(secret, str) or not secret:
        return False
    try:
        authenticate_session(get_store(request), secret, SessionPolicy.from_settings(get_settings(request)))
    except Unauthenticated:
        return False
    return True


def _token_actor(request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    bearer = None
    if scheme.lower() == "bearer" and credentials:
        bearer = HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)
    get_actor(get_store(request), bearer, request.headers.get("x-api-key"))
