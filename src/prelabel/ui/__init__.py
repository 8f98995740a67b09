"""The browser UI: server-rendered Jinja2 pages with a little vanilla JavaScript and vendored htmx.

`install_ui(app, settings, store)` is called by `prelabel.api.app.create_app`. It adds the signed-cookie
session middleware (the cookie carries a server-side session's secret: `prelabel.ui.web`), mounts ``/static``
and includes the page routes (see `prelabel.ui.pages`). The UI calls
the service layer directly; it never goes through the REST API. docs/ui.md describes the pages and the
keyboard.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from prelabel.config import Settings
from prelabel.service.auth import SessionPolicy
from prelabel.service.throttle import ThrottlePolicy
from prelabel.store.engine import Store
from prelabel.store.tables import utcnow

SESSION_COOKIE = "prelabel_session"

__all__ = ["SESSION_COOKIE", "install_ui"]


def install_ui(app: FastAPI, settings: Settings, store: Store) -> None:
    """Add the browser UI to `app`: session cookie, CSRF-protected pages at ``/`` and static files."""
    from prelabel.ui.pages import router
    from prelabel.ui.web import STATIC_DIR, make_templates

    app.state.ui_store = store
    app.state.ui_settings = settings
    app.state.ui_templates = make_templates()
    app.state.ui_clock = utcnow
    app.state.ui_session_policy = SessionPolicy.from_settings(settings)
    app.state.ui_login_limits = ThrottlePolicy.from_settings(settings)
    app.state.ui_trusted_proxies = frozenset(p.strip() for p in settings.trusted_proxies.split(",") if p.strip())
    # HttpOnly and SameSite=Lax always; Secure unless development on a loopback address (config.py).
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.session_cookie_secure(),
    )
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(router)
