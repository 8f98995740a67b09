"""Typed dependencies of the API routes.

StoreDep     the app's `Store` (built once by `create_app`)
SettingsDep  the app's `Settings`
ActorDep     the authenticated caller, from ``Authorization: Bearer <token>`` or ``X-API-Key: <token>``
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from prelabel.config import Settings
from prelabel.errors import InvalidInput, Unauthenticated
from prelabel.service.auth import Actor, authenticate_token
from prelabel.store.engine import Store
from prelabel.store.tables import MAX_ID

# auto_error=False: a missing token is reported by us, in the one error shape, not by FastAPI.
_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer pl_…`")
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API token in the X-API-Key header."
)


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def check_id_range(request: Request) -> None:
    """Every route's `…_id` path and query parameters: an id no row can have is a 422 naming the parameter, on
    either database, before any query runs (the app-wide dependency of `create_app`). So is a keyset position
    `after` (an id, or the cursor of a page, which is one) beyond the id columns' range."""
    params = [*request.path_params.items(), *request.query_params.multi_items()]
    for name, value in params:
        if name != "id" and not name.endswith("_id") and name != "after":
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            continue  # not a number: the route's own validation says so
        lowest, what = (0, "the last id (or next_cursor) of the previous page") if name == "after" else (1, "an id")
        if not lowest <= number <= MAX_ID:
            raise InvalidInput(
                f"{name} must be {what} between {lowest} and {MAX_ID}; got {value}.", details={"parameter": name}
            )


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_actor(
    store: StoreDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Actor:
    token = bearer.credentials if bearer is not None else api_key
    if not token:
        raise Unauthenticated(
            "Missing API token: send 'Authorization: Bearer <token>' or 'X-API-Key: <token>'. "
            "Create one with `prelabel token create USERNAME`."
        )
    return authenticate_token(store, token.strip())


ActorDep = Annotated[Actor, Depends(get_actor)]
