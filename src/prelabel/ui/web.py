"""The UI's plumbing: templates, the session user, CSRF, and HTML error pages.

- Sessions are rows of ``user_sessions`` (`service.auth`). Starlette's signed cookie (itsdangerous,
  `settings.secret_key`) carries the session's secret, the username to show and a CSRF token. Each request
  checks the row (`auth.authenticate_session`), so a session that was ended (logout, a password change, a
  deactivation, an administrator) or has expired is refused at once.
- The clock is ``app.state.ui_clock`` (a function returning the UTC time): session expiry and login
  throttling read it, so tests move it instead of sleeping.
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
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from prelabel.errors import PermissionDenied, PrelabelError, Unauthenticated
from prelabel.service.auth import Actor, ClientInfo, SessionPolicy, authenticate_session
from prelabel.service.throttle import ThrottlePolicy
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

    def __init__(self, message: str = "Please log in.") -> None:
        super().__init__(message)
        self.message = message


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


def now(request: Request) -> datetime:
    """The UI's clock (``app.state.ui_clock``)."""
    clock: Callable[[], datetime] = request.app.state.ui_clock
    return clock()


def session_policy(request: Request) -> SessionPolicy:
    policy: SessionPolicy = request.app.state.ui_session_policy
    return policy


def login_limits(request: Request) -> ThrottlePolicy:
    limits: ThrottlePolicy = request.app.state.ui_login_limits
    return limits


def current_actor(request: Request) -> Actor:
    """The logged-in user, from a live session row; raises LoginRequired (with the reason) otherwise."""
    secret = request.session.get("sid")
    if not isinstance(secret, str) or not secret:
        request.session.pop("user", None)  # a cookie without a session shows nobody as logged in
        raise LoginRequired()
    try:
        actor = authenticate_session(get_store(request), secret, session_policy(request), now=now(request))
    except Unauthenticated as exc:
        request.session.clear()
        flash(request, exc.message, "error")
        raise LoginRequired(exc.message) from None
    return actor


def login_session(request: Request, actor: Actor, secret: str) -> None:
    """Start a fresh cookie for the session `secret` (a new CSRF token too, so a pre-login token cannot be
    reused)."""
    request.session.clear()
    request.session["sid"] = secret
    request.session["user"] = {"id": actor.user_id, "username": actor.username}
    request.session["csrf"] = secrets.token_urlsafe(32)


def client_info(request: Request) -> ClientInfo:
    """The client's address and user agent. Behind a reverse proxy listed in ``trusted_proxies`` the address
    is the nearest one in X-Forwarded-For that is not a trusted proxy itself."""
    trusted: frozenset[str] = request.app.state.ui_trusted_proxies
    address = request.client.host if request.client is not None else ""
    if address in trusted:
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        while hops and address in trusted:
            address = hops.pop()
    return ClientInfo(address=address, user_agent=request.headers.get("user-agent", ""))


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A message for the next page rendered (after a redirect); the newest five are kept."""
    items = request.session.get("flash") or []
    items.append({"kind": kind, "message": message})
    request.session["flash"] = items[-5:]


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
            except LoginRequired as exc:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.method not in SAFE_METHODS:
                    target = "/"
                if request.headers.get("hx-request"):
                    return Response(status_code=401, headers={"HX-Redirect": "/login"})
                if wants_json(request):
                    body = {"error": {"code": "unauthenticated", "message": exc.message, "details": {}}}
                    return JSONResponse(body, status_code=401)
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
