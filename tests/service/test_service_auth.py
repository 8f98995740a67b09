from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from prelabel.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from prelabel.service import auth
from prelabel.store import tables as t
from prelabel.store import users as users_sql
from prelabel.store.engine import Store


def test_users_are_created_with_hashed_passwords_and_authenticate(store: Store) -> None:
    user = auth.create_user(store, "alice", "s3cret-password")
    assert "password" not in user.model_dump() and "password_hash" not in user.model_dump()
    with store.transaction(read_only=True) as s:
        stored = s.scalar(select(t.User.password_hash).where(t.User.username == "alice"))
    assert stored is not None and stored.startswith("scrypt$") and "s3cret-password" not in stored
    actor = auth.authenticate_password(store, "alice", "s3cret-password")
    assert actor == auth.Actor(user_id=user.id, username="alice", is_superuser=False)
    assert auth.get_user_by_name(store, "alice").id == user.id


def test_two_users_with_the_same_password_get_different_hashes(store: Store) -> None:
    auth.create_user(store, "a1", "same-password")
    auth.create_user(store, "a2", "same-password")
    with store.transaction(read_only=True) as s:
        hashes = list(s.scalars(select(t.User.password_hash)))
    assert len(set(hashes)) == 2


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong-password"), ("nobody", "s3cret-password")])
def test_bad_credentials_are_refused(store: Store, username: str, password: str) -> None:
    auth.create_user(store, "alice", "s3cret-password")
    with pytest.raises(Unauthenticated, match="Wrong username or password"):
        auth.authenticate_password(store, username, password)


def test_bad_user_input_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="at least 8"):
        auth.create_user(store, "alice", "short")
    with pytest.raises(InvalidInput, match="Invalid username"):
        auth.create_user(store, "al ice", "long-enough-password")
    auth.create_user(store, "alice", "long-enough-password")
    with pytest.raises(Conflict, match="already exists"):
        auth.create_user(store, "alice", "another-password")
    with pytest.raises(NotFound):
        auth.get_user_by_name(store, "bob")


def test_tokens_are_stored_hashed_shown_once_and_revocable(store: Store) -> None:
    auth.create_user(store, "alice", "s3cret-password")
    actor = auth.authenticate_password(store, "alice", "s3cret-password")
    out, token = auth.create_token(store, actor, "laptop")
    assert token.startswith("pl_") and len(token) > 40
    assert token not in out.model_dump_json()
    with store.transaction(read_only=True) as s:
        stored = s.scalar(select(t.ApiToken.token_hash))
    assert stored is not None and stored != token and len(stored) == 64
    assert auth.authenticate_token(store, token) == actor
    assert [tok.name for tok in auth.list_tokens(store, actor)] == ["laptop"]
    assert auth.list_tokens(store, actor)[0].last_used_at is not None
    auth.revoke_token(store, actor, out.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        auth.authenticate_token(store, token)


@pytest.mark.parametrize("token", ["", "nope", "pl_" + "x" * 43])
def test_invalid_tokens_are_refused(store: Store, token: str) -> None:
    with pytest.raises(Unauthenticated):
        auth.authenticate_token(store, token)


def test_a_user_cannot_revoke_someone_elses_token(store: Store) -> None:
    auth.create_user(store, "alice", "s3cret-password")
    auth.create_user(store, "bob", "s3cret-password")
    alice = auth.authenticate_password(store, "alice", "s3cret-password")
    bob = auth.authenticate_password(store, "bob", "s3cret-password")
    out, token = auth.create_token(store, alice, "ci")
    with pytest.raises(NotFound):
        auth.revoke_token(store, bob, out.id)
    assert auth.authenticate_token(store, token) == alice


def test_deactivated_users_cannot_authenticate(store: Store) -> None:
    from sqlalchemy import update

    user = auth.create_user(store, "alice", "s3cret-password")
    actor = auth.get_actor(store, user.id)
    _, token = auth.create_token(store, actor, "laptop")
    with store.transaction() as s:
        s.execute(update(t.User).where(t.User.id == user.id).values(is_active=False))
    with pytest.raises(Unauthenticated):
        auth.authenticate_password(store, "alice", "s3cret-password")
    with pytest.raises(Unauthenticated, match="deactivated"):
        auth.authenticate_token(store, token)
    with pytest.raises(Unauthenticated, match="log in again"):
        auth.get_actor(store, user.id)
    with pytest.raises(Unauthenticated):
        auth.get_actor(store, 10**6)


def test_clients_arriving_together_share_one_write_of_their_tokens_last_use(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth.create_user(store, "alice", "s3cret-password")
    owner = auth.authenticate_password(store, "alice", "s3cret-password")
    tokens = [auth.create_token(store, owner, f"labeler {i}")[1] for i in range(12)]
    batches: list[int] = []
    first_writing, let_it_finish = threading.Event(), threading.Event()
    real_touch = users_sql.touch_tokens

    def slow_first_write(s: Any, last_used: dict[int, Any]) -> None:
        batches.append(len(last_used))
        if len(batches) == 1:
            first_writing.set()
            assert let_it_finish.wait(10)
        real_touch(s, last_used)

    monkeypatch.setattr(users_sql, "touch_tokens", slow_first_write)
    first = threading.Thread(target=auth.authenticate_token, args=(store, tokens[0]))
    first.start()
    assert first_writing.wait(10)
    others = [threading.Thread(target=auth.authenticate_token, args=(store, tok)) for tok in tokens[1:]]
    for th in others:
        th.start()
    for th in others:
        th.join(10)
    assert not any(th.is_alive() for th in others), "a client waited for another's write"
    assert batches == [1]
    let_it_finish.set()
    first.join(10)
    assert batches == [1, 11]
    assert all(tok.last_used_at is not None for tok in auth.list_tokens(store, owner))
