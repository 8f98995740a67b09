"""Authentication: tokens in either header, 401 for missing / invalid / revoked ones; /health without a token;
/me and token management; the schema check at start-up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from prelabel.api.app import create_app
from prelabel.client import AuthenticationError, NotFoundError
from prelabel.config import Settings
from prelabel.errors import SchemaOutOfDate
from prelabel.store.engine import Store


@pytest.mark.parametrize("path", ["/health", "/api/v1/health"])
def test_health_needs_no_token_and_reports_schema(raw: httpx.Client, path: str) -> None:
    r = raw.get(path)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["schema"]["up_to_date"] is True
    assert body["schema"]["current"] == body["schema"]["head"]


def test_missing_token_is_401_with_one_shape(raw: httpx.Client, error_shape: Callable[..., Any]) -> None:
    err = error_shape(raw.get("/api/v1/projects"), 401, "unauthenticated")
    assert "Authorization: Bearer" in err["message"]
    assert raw.get("/api/v1/projects").headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer pl_not-a-real-token"},
        {"Authorization": "Bearer nonsense"},
        {"X-API-Key": "pl_wrong"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
def test_invalid_token_is_401(
    raw: httpx.Client, alice: Any, headers: dict[str, str], error_shape: Callable[..., Any]
) -> None:
    error_shape(raw.get("/api/v1/me", headers=headers), 401, "unauthenticated")


def test_both_headers_work(raw: httpx.Client, alice: Any) -> None:
    for headers in ({"Authorization": f"Bearer {alice.token}"}, {"X-API-Key": alice.token}):
        r = raw.get("/api/v1/me", headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["username"] == "alice"


def test_me_and_tokens(alice: Any, make_client: Callable[[str], Any]) -> None:
    me = alice.client.me()
    assert me.username == "alice" and not me.is_superuser
    token, secret = alice.client.create_token("laptop")
    assert secret.startswith("pl_") and token.name == "laptop"
    assert secret.startswith(token.prefix)
    listed = alice.client.list_tokens()
    assert [t.name for t in listed] == ["tests", "laptop"]
    # The list never carries a secret or its hash.
    raw_list = alice.client._http.get("/api/v1/tokens").json()
    assert all(
        set(t) == {"id", "user_id", "name", "prefix", "created_at", "last_used_at", "revoked_at"} for t in raw_list
    )
    laptop = make_client(secret)
    assert laptop.me().username == "alice"
    alice.client.revoke_token(token.id)
    with pytest.raises(AuthenticationError) as exc:
        laptop.me()
    assert exc.value.status == 401 and "revoked" in exc.value.message
    assert exc.value.response is not None and exc.value.request is not None
    assert next(t for t in alice.client.list_tokens() if t.id == token.id).revoked_at is not None


def test_cannot_revoke_someone_elses_token(alice: Any, make_user: Callable[..., Any]) -> None:
    bob = make_user("bob")
    bob_token = bob.client.list_tokens()[0]
    with pytest.raises(NotFoundError):
        alice.client.revoke_token(bob_token.id)
    assert bob.client.me().username == "bob"


def test_token_create_validates_name(alice: Any) -> None:
    from prelabel.client import InvalidRequestError

    with pytest.raises(InvalidRequestError) as exc:
        alice.client.create_token("")
    assert exc.value.status == 422


def test_start_up_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    store = Store(url)
    try:
        with pytest.raises(SchemaOutOfDate) as exc:
            create_app(Settings(database_url=url, environment="test"), store=store)
        assert "prelabel db upgrade" in exc.value.message
    finally:
        store.dispose()


def test_health_reports_an_unreachable_database(app: Any, raw: httpx.Client, error_shape: Callable[..., Any]) -> None:
    # A real PostgreSQL URL on a port where nothing listens: the connection is refused.
    unreachable = Store("postgresql+psycopg://postgres@127.0.0.1:9/nowhere", connect_args={"connect_timeout": 2})
    healthy = app.state.store
    app.state.store = unreachable
    try:
        err = error_shape(raw.get("/health"), 503, "database_unreachable")
        assert "PRELABEL_DATABASE_URL" in err["message"]
        assert err["details"]["database"] == "unreachable"
    finally:
        app.state.store = healthy
        unreachable.dispose()
    assert raw.get("/health").status_code == 200


def test_sdk_over_asgi_transport_cleans_up(app: Any) -> None:
    import threading

    from prelabel.client import Client

    before = {t.ident for t in threading.enumerate() if t.name == "prelabel-client-loop"}
    with Client("http://testserver", "pl_x", transport=httpx.ASGITransport(app=app)) as client:
        assert client.health()["status"] == "ok"
        with pytest.raises(AuthenticationError):
            client.me()
    after = {t.ident for t in threading.enumerate() if t.name == "prelabel-client-loop"}
    assert after <= before
