"""Fixtures for the API and SDK tests: the real app in-process over a real database (SQLite file and, with
PRELABEL_TEST_POSTGRES_URL, PostgreSQL), reached through the SDK.

`make_client(token)` builds `prelabel.Client("http://testserver", token, transport=httpx.ASGITransport(app))`:
a real ASGI round trip in-process (routing, validation, error mapping, serialisation); the SDK drives the async
transport on its own loop thread. (Starlette's TestClient is built on a different httpx fork, so its transport
cannot be handed to the SDK.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from prelabel.api.app import create_app
from prelabel.client import Client
from prelabel.client._transport import SyncOverAsyncTransport
from prelabel.config import Settings
from prelabel.service import auth
from prelabel.store.engine import Store

TWEETS_INTERFACE: dict[str, Any] = {
    "jobs": [
        {
            "name": "JOB_0",
            "input": "single",
            "categories": [
                {"key": "DISASTER", "name": "Disaster", "hotkey": "1"},
                {"key": "NOT_DISASTER", "name": "Not a disaster", "hotkey": "2"},
            ],
        }
    ]
}


@dataclass
class UserCtx:
    username: str
    token: str
    client: Client


@pytest.fixture
def settings(db_url: str, tmp_path: Any) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path,
        environment="test",
        run_worker=False,
        max_upload_bytes=2_000_000,
    )


@pytest.fixture
def app(settings: Settings, store: Store) -> FastAPI:
    return create_app(settings, store=store)


@pytest.fixture
def transport(app: FastAPI) -> Iterator[SyncOverAsyncTransport]:
    """httpx's ASGITransport on the app, driven synchronously (what `Client` does with an async transport)."""
    t = SyncOverAsyncTransport(httpx.ASGITransport(app=app, raise_app_exceptions=False))
    yield t
    t.close()


@pytest.fixture
def raw(transport: SyncOverAsyncTransport) -> Iterator[httpx.Client]:
    """A plain httpx client on the app (no token), for requests the SDK would not make."""
    with httpx.Client(base_url="http://testserver", transport=transport) as c:
        yield c


@pytest.fixture
def make_client(app: FastAPI) -> Iterator[Callable[[str], Client]]:
    clients: list[Client] = []

    def make(token: str) -> Client:
        # Exactly what an SDK user would write to test against their app in-process.
        c = Client("http://testserver", token, transport=httpx.ASGITransport(app=app, raise_app_exceptions=False))
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def make_user(store: Store, make_client: Callable[[str], Client]) -> Callable[..., UserCtx]:
    def make(username: str, *, superuser: bool = False) -> UserCtx:
        user = auth.create_user(store, username, "password-123", is_superuser=superuser)
        actor = auth.Actor(user_id=user.id, username=user.username, is_superuser=superuser)
        _, token = auth.create_token(store, actor, "tests")
        return UserCtx(username, token, make_client(token))

    return make


@pytest.fixture
def alice(make_user: Callable[..., UserCtx]) -> UserCtx:
    """A plain user who creates the projects in the tests (so she is their admin)."""
    return make_user("alice")


@pytest.fixture
def project_id(alice: UserCtx) -> int:
    return alice.client.create_project("Tweets", TWEETS_INTERFACE, description="test").id


def assert_error_shape(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an error in the API's one body shape; returns its "error" object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "message", "details"}, err
    assert isinstance(err["code"], str) and err["code"]
    assert isinstance(err["message"], str) and len(err["message"]) > 10
    assert isinstance(err["details"], dict)
    if code is not None:
        assert err["code"] == code, err
    return dict(err)


@pytest.fixture
def error_shape() -> Callable[..., dict[str, Any]]:
    return assert_error_shape
