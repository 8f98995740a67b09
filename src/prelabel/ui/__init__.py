"""The browser UI: server-rendered Jinja2 pages with a little vanilla JavaScript and vendored htmx.

`install_ui(app, settings, store)` is called by `prelabel.api.app.create_app`. It adds the signed-cookie
session middleware, mounts ``/static`` and includes the page routes (see `prelabel.ui.pages`). The UI calls
the service layer directly; it never goes through the REST API. docs/ui.md describes the pages and the
keyboard.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from prelabel.config import Settings
from prelabel.store.engine import Store

SESSION_COOKIE = "prelabel_session"

__all__ = ["SESSION_COOKIE", "install_ui"]


def install_ui(app: FastAPI, settings: Settings, store: Store) -> None:
    """Add the browser UI to `app`: session cookie, CSRF-protected pages at ``/`` and static files."""
    from prelabel.ui.pages import router
    from prelabel.ui.web import STATIC_DIR, make_templates

    app.state.ui_store = store
    app.state.ui_settings = settings
    app.state.ui_templates = make_templates()
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.environment == "production",
    )
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(router)
