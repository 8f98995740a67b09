"""`create_app(settings)`: the one place the web application is assembled.

It builds (or takes) the `Store`, refuses to start on an out-of-date schema (the error names
`prelabel db upgrade`), installs the error mapping, the REST routers under ``/api/v1``, ``/health`` and the
browser UI. It never starts the background trainer: `prelabel serve` / `prelabel demo` do that, so tests
can build apps freely.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse

import prelabel
from prelabel.api.deps import StoreDep, check_id_range
from prelabel.api.docs import docs_urls, install_docs
from prelabel.api.errors import error_body, error_responses, install_error_handlers
from prelabel.api.routes import API_PREFIX, api_routers, label_studio
from prelabel.api.security import SecurityHeaders
from prelabel.api.timing import ServerTiming
from prelabel.config import Settings
from prelabel.store.engine import Store

log = logging.getLogger("prelabel.api")

DESCRIPTION = """\
REST API of prelabel, a self-hosted annotation server for text classification with an AutoML
pre-annotation loop.

Authenticate with an API token (`prelabel token create USERNAME`) sent as `Authorization: Bearer <token>` or
`X-API-Key: <token>`. Every error has the body `{"error": {"code", "message", "details"}}`.
"""


def create_app(settings: Settings, *, store: Store | None = None) -> FastAPI:
    """Build the ASGI app. Pass `store` to share one (tests, the CLI); otherwise one is built from settings
    and disposed when the app shuts down. Raises `SchemaOutOfDate` if the database needs
    `prelabel db upgrade`."""
    owns_store = store is None
    the_store = store if store is not None else Store(settings.database_url)
    try:
        the_store.check_schema()
    except BaseException:
        if owns_store:
            the_store.dispose()
        raise

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_store:
            the_store.dispose()

    app = FastAPI(
        title="prelabel",
        version=prelabel.__version__,
        description=DESCRIPTION,
        **docs_urls(settings),
        lifespan=lifespan,
        dependencies=[Depends(check_id_range)],
        responses=error_responses(422),  # every route: check_id_range, and FastAPI's validation in our body
    )
    app.state.settings = settings
    app.state.store = the_store
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ServerTiming)  # outermost of ours: the time includes every other layer but uvicorn's
    install_error_handlers(app)

    # Also under the API prefix: clients configured with the API's base URL probe health there.
    unhealthy = error_responses(503)

    @app.get(
        "/health",
        tags=["health"],
        summary="Database reachability and schema version (no auth).",
        responses=unhealthy,
    )
    @app.get(f"{API_PREFIX}/health", tags=["health"], summary="The same as /health (no auth).", responses=unhealthy)
    def health(store: StoreDep) -> Any:
        from prelabel.store.migrate import current_revision, head_revision

        head = head_revision()
        try:
            current = current_revision(store.engine)
        except Exception as exc:  # the database is unreachable: report it, don't crash
            log.warning("health check: database unreachable: %s", exc)
            return JSONResponse(
                error_body(
                    "database_unreachable",
                    f"The database is unreachable: {type(exc).__name__}. Check PRELABEL_DATABASE_URL.",
                    {"database": "unreachable", "schema": {"current": None, "head": head}},
                ),
                status_code=503,
            )
        schema = {"current": current, "head": head, "up_to_date": current == head}
        if current != head:
            return JSONResponse(
                error_body(
                    "schema_out_of_date",
                    "The database schema is behind this prelabel. Run: prelabel db upgrade",
                    {"database": "ok", "schema": schema},
                ),
                status_code=503,
            )
        return {
            "status": "ok",
            "version": prelabel.__version__,
            "database": "ok",
            "dialect": store.dialect,
            "schema": schema,
        }

    for router in api_routers():
        app.include_router(router, prefix=API_PREFIX)
    label_studio.install(app)  # Label Studio's ML backend protocol at /label-studio/{token}/

    _install_ui(app, settings, the_store)
    install_docs(app, settings)
    return app


def _install_ui(app: FastAPI, settings: Settings, store: Store) -> None:
    """The browser UI (`prelabel.ui.install_ui`): pages at ``/``, ``/static``, the session cookie."""
    from prelabel.ui import install_ui

    install_ui(app, settings, store)
