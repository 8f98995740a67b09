"""The UI's plumbing: templates, the session user, CSRF, and HTML error pages.

- Sessions are Starlette's signed cookie (itsdangerous, `settings.secret_key`) holding the user id, the
  username and a CSRF token. Each request re-reads the user (`auth.get_actor`), so a deactivated or deleted
  user is logged out at once.
- CSRF: every unsafe request (POST ...) to a UI route must carry the session's token, either as the form field
  ``csrf_token`` or as the header ``X-CSRF-Token`` (htmx / fetch); otherwise 403 and nothing is written.
- `UIRoute` turns a `PrelabelError` raised by the service layer into an HTML error page with the error's
  status code (the API's JSON error handler is for ``/api``), and `LoginRequired` into a redirect to
  ``/login``.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from prelabel.errors import PermissionDenied, PrelabelError, Unauthenticated
from prelabel.service.auth import Actor, get_actor
from prelabel.store.engine import Store

log = logging.getLogger("prelabel.ui")

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DASH = "\u2013"  # shown for a missing value


class LoginRequired(Exception):
    """Raised by `current_actor` when nobody is logged in; `UIRoute` redirects to the login page."""


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.autoescape = True  # every template is HTML; never render a value unescaped
    env.filters["pct"] = lambda v: DASH if v is None else f"{100 * float(v):.0f}%"
    env.filters["num"] = lambda v: DASH if v is None else (f"{v:,}" if isinstance(v, int) else f"{v:,.3f}")
    env.filters["dt"] = lambda v: DASH if v is None else v.strftime("%Y-%m-%d %H:%M:%S UTC")
    env.filters["secs"] = _fmt_seconds
    return templates


def _fmt_seconds(v: float | None) -> str:
    if v is None:
        return DASH
    if v < 60:
        return f"{v:.1f} s"
    if v < 3600:
        return f"{v / 60:.1f} min"
    return f"{v / 3600:.1f} h"


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Router dependency: refuse an unsafe request whose CSRF token is missing or wrong (403, no write)."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    sent: Any = request.headers.get(CSRF_HEADER)
    if not sent:
        form = await request.form()
        sent = form.get(CSRF_FIELD)
    if not isinstance(expected, str) or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise CsrfFailed(
            "The form's security token is missing or out of date (CSRF check failed). "
            "Reload the page and try again."
        )


async def form_data(request: Request) -> FormData:
    """The parsed form (cached by Starlette, so the CSRF check and the handler share it)."""
    return await request.form()


def get_store(request: Request) -> Store:
    store: Store = request.app.state.ui_store
    return store


def current_actor(request: Request) -> Actor:
    """The logged-in user, re-checked against the database; raises LoginRequired."""
    user = request.session.get("user")
    if not isinstance(user, dict) or "id" not in user:
        raise LoginRequired()
    try:
        actor = get_actor(get_store(request), int(user["id"]))
    except Unauthenticated:
        request.session.clear()
        raise LoginRequired() from None
    return actor


def login_session(request: Request, actor: Actor) -> None:
    """Start a fresh session for `actor` (a new CSRF token too, so a pre-login token cannot be reused)."""
    request.session.clear()
    request.session["user"] = {"id": actor.user_id, "username": actor.username}
    request.session["csrf"] = secrets.token_urlsafe(32)


def safe_next(target: str | None) -> str:
    """Only same-site absolute paths may be redirect targets after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.ui_templates
    ctx: dict[str, Any] = {"csrf_token": csrf_token(request), "actor": None}
    user = request.session.get("user")
    if isinstance(user, dict):
        ctx["session_user"] = user.get("username")
    if not name.startswith("_"):
        ctx["flash"] = request.session.pop("flash", None)
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)


class UIRoute(APIRoute):
    """Renders service errors as HTML pages and sends anonymous visitors to the login page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.method not in SAFE_METHODS:
                    target = "/"
                if request.headers.get("hx-request"):
                    return Response(status_code=401, headers={"HX-Redirect": "/login"})
                return redirect("/login?next=" + quote(target, safe="/"))
            except PrelabelError as exc:
                if exc.status_code >= 500:
                    log.error("%s: %s", type(exc).__name__, exc.message)
                return render(
                    request,
                    "error.html",
                    {"status": exc.status_code, "message": exc.message, "code": exc.code},
                    status_code=exc.status_code,
                )

        return handler
