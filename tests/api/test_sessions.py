"""Users and browser sessions over the REST API and the SDK: a superuser lists and ends sessions and
(de)activates users, everyone else gets 403; a password change over the API ends the caller's sessions and
counts against the login throttle."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from api.conftest import UserCtx
from prelabel.client import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
)
from prelabel.errors import PrelabelError
from prelabel.service import auth
from prelabel.service.auth import ClientInfo, SessionPolicy
from prelabel.service.throttle import ThrottlePolicy
from prelabel.store import tables as t
from prelabel.store.engine import Store

PASSWORD = "password-123"  # api/conftest.py's make_user


@pytest.fixture
def admin(make_user: Callable[..., UserCtx]) -> UserCtx:
    return make_user("root", superuser=True)


def _log_in(store: Store, username: str, address: str = "192.0.2.10") -> str:
    """A browser session of `username` (what POST /login starts); returns its secret."""
    client = ClientInfo(address=address, user_agent="Firefox/140")
    _, secret = auth.log_in(store, username, PASSWORD, client, sessions=SessionPolicy(), limits=ThrottlePolicy())
    return secret


def _live(store: Store, secret: str) -> bool:
    try:
        auth.authenticate_session(store, secret, SessionPolicy())
    except PrelabelError:
        return False
    return True


def test_a_superuser_lists_users_and_sessions(store: Store, admin: UserCtx, alice: UserCtx) -> None:
    first, second = _log_in(store, "alice", "192.0.2.1"), _log_in(store, "alice", "192.0.2.2")
    users = admin.client.list_users()
    assert sorted(u.username for u in users) == ["alice", "root"]
    alice_id = next(u.id for u in users if u.username == "alice")
    sessions = admin.client.list_sessions(alice_id)
    assert [s.client_address for s in sessions] == ["192.0.2.2", "192.0.2.1"]  # newest first
    s = sessions[0]
    assert s.active and s.revoked_at is None and s.user_agent == "Firefox/140" and s.user_id == alice_id
    assert s.created_at <= s.last_seen_at < s.idle_expires_at <= s.expires_at
    assert s.expires_at - s.created_at == timedelta(days=7) and s.idle_expires_at - s.created_at == timedelta(hours=12)
    assert _live(store, first) and _live(store, second)


def test_a_superuser_ends_one_session_or_all(store: Store, admin: UserCtx, alice: UserCtx) -> None:
    first, second, third = (_log_in(store, "alice") for _ in range(3))
    alice_id = auth.get_user_by_name(store, "alice").id
    oldest = admin.client.list_sessions(alice_id)[-1]
    assert admin.client.end_sessions(alice_id, oldest.id) == 1
    assert not _live(store, first) and _live(store, second) and _live(store, third)
    assert admin.client.end_sessions(alice_id, oldest.id) == 0  # ending it again is harmless
    assert admin.client.end_sessions(alice_id) == 2
    assert not _live(store, second) and not _live(store, third)
    listed = admin.client.list_sessions(alice_id)
    assert [s.active for s in listed] == [False] * 3 and all(s.revoked_at is not None for s in listed)


def test_unknown_users_and_sessions_are_404(store: Store, admin: UserCtx, alice: UserCtx) -> None:
    alice_id = auth.get_user_by_name(store, "alice").id
    root_session = _log_in(store, "root")
    root_session_id = admin.client.list_sessions(admin.client.me().id)[0].id
    with pytest.raises(NotFoundError, match="No user with id 999999"):
        admin.client.list_sessions(999_999)
    with pytest.raises(NotFoundError, match="No user with id 999999"):
        admin.client.set_user_active(999_999, False)
    with pytest.raises(NotFoundError, match=f"User {alice_id} has no session with id {root_session_id}"):
        admin.client.end_sessions(alice_id, root_session_id)  # someone else's session
    assert _live(store, root_session)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/users", None),
        ("GET", "/api/v1/users/{id}/sessions", None),
        ("DELETE", "/api/v1/users/{id}/sessions", None),
        ("DELETE", "/api/v1/users/{id}/sessions/{sid}", None),
        ("PATCH", "/api/v1/users/{id}", {"is_active": False}),
    ],
)
def test_everyone_but_a_superuser_gets_403(
    store: Store,
    raw: httpx.Client,
    alice: UserCtx,
    make_user: Callable[..., UserCtx],
    error_shape: Callable[..., dict[str, Any]],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    bob = make_user("bob")
    secret = _log_in(store, "bob")
    bob_id = auth.get_user_by_name(store, "bob").id
    sid = auth.list_sessions(store, auth.COMMAND_LINE, bob_id)[0].id
    url = path.format(id=bob_id, sid=sid)
    r = raw.request(method, url, json=body, headers={"Authorization": f"Bearer {alice.token}"})
    err = error_shape(r, 403, "permission_denied")
    assert "Only a superuser can" in err["message"]
    assert _live(store, secret) and bob.client.me().is_active  # nothing changed


def test_deactivating_a_user_ends_their_sessions_and_refuses_their_tokens(
    store: Store, admin: UserCtx, alice: UserCtx
) -> None:
    secret = _log_in(store, "alice")
    alice_id = alice.client.me().id
    user = admin.client.set_user_active(alice_id, False)
    assert user.username == "alice" and not user.is_active
    assert not _live(store, secret)
    with pytest.raises(AuthenticationError, match="deactivated"):
        alice.client.me()
    with pytest.raises(PrelabelError, match="Wrong username or password"):
        _log_in(store, "alice")
    assert admin.client.set_user_active(alice_id, True).is_active
    assert alice.client.me().username == "alice"  # tokens work again; the ended session stays ended
    assert not _live(store, secret)


def test_a_superuser_cannot_deactivate_themselves(admin: UserCtx) -> None:
    with pytest.raises(ConflictError, match="cannot deactivate your own account"):
        admin.client.set_user_active(admin.client.me().id, False)
    assert admin.client.me().is_active


def test_changing_the_password_over_the_api_ends_every_browser_session(store: Store, alice: UserCtx) -> None:
    one, two = _log_in(store, "alice"), _log_in(store, "alice")
    assert alice.client.change_password(PASSWORD, "a-new-password") == 2
    assert not _live(store, one) and not _live(store, two)
    assert auth.authenticate_password(store, "alice", "a-new-password").username == "alice"
    assert alice.client.me().username == "alice"  # API tokens are not sessions: they stay valid


@pytest.mark.parametrize(
    ("current", "new", "message"),
    [
        ("not-the-password", "a-new-password", "The current password is wrong."),
        (PASSWORD, "short", "at least 8 characters"),
        (PASSWORD, PASSWORD, "same as the current one"),
    ],
)
def test_a_refused_password_change_changes_nothing(
    store: Store, alice: UserCtx, current: str, new: str, message: str
) -> None:
    secret = _log_in(store, "alice")
    with pytest.raises(InvalidRequestError, match=message) as exc:
        alice.client.change_password(current, new)
    assert exc.value.status == 422
    assert _live(store, secret)
    assert auth.authenticate_password(store, "alice", PASSWORD).username == "alice"


def test_a_throttled_password_change_is_429_with_retry_after(
    store: Store, raw: httpx.Client, alice: UserCtx, error_shape: Callable[..., dict[str, Any]]
) -> None:
    # ten wrong current passwords, counted by the service at a moment an hour ahead of the server's clock
    actor = auth.authenticate_password(store, "alice", PASSWORD)
    ahead = t.utcnow() + timedelta(hours=1)
    for _ in range(10):
        with pytest.raises(PrelabelError, match="current password is wrong"):
            auth.change_password(store, actor, "wrong-password", "a-new-password", now=ahead)
    body = {"current_password": PASSWORD, "new_password": "a-new-password"}
    r = raw.post("/api/v1/me/password", json=body, headers={"Authorization": f"Bearer {alice.token}"})
    err = error_shape(r, 429, "too_many_attempts")
    assert 3600 <= int(r.headers["retry-after"]) <= 3602 and err["details"]["retry_after_s"] == int(
        r.headers["retry-after"]
    )
    assert "Try again in" in err["message"]
    assert auth.authenticate_password(store, "alice", PASSWORD).username == "alice"


def test_openapi_documents_the_statuses_of_the_user_routes(app: Any) -> None:
    paths = app.openapi()["paths"]
    assert set(paths["/api/v1/users"]["get"]["responses"]) >= {"200", "401", "403"}
    assert set(paths["/api/v1/users/{user_id}"]["patch"]["responses"]) >= {"200", "403", "404", "409", "422"}
    sessions = paths["/api/v1/users/{user_id}/sessions/{session_id}"]["delete"]["responses"]
    assert set(sessions) >= {"200", "403", "404"}
    assert set(paths["/api/v1/me/password"]["post"]["responses"]) >= {"200", "422", "429"}
