"""Queries behind users, API tokens, browser sessions and login throttling (`prelabel.service.auth`,
`prelabel.service.throttle`). Every function runs inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from prelabel.store import tables as t


# --- users ------------------------------------------------------------------------------------------------
def get_user(session: Session, user_id: int) -> t.User | None:
    return session.get(t.User, user_id)


def user_by_name(session: Session, username: str) -> t.User | None:
    return session.scalar(select(t.User).where(t.User.username == username))


def add_user(session: Session, username: str, password_hash: str, *, is_superuser: bool) -> t.User:
    user = t.User(username=username, password_hash=password_hash, is_superuser=is_superuser)
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[t.User]:
    return list(session.scalars(select(t.User).order_by(t.User.id)))


def set_password_hash(session: Session, user: t.User, password_hash: str) -> None:
    user.password_hash = password_hash
    session.flush()


def set_active(session: Session, user: t.User, active: bool) -> None:
    user.is_active = active
    session.flush()


# --- API tokens ---------------------------------------------------------------------------------------------
def add_token(session: Session, user_id: int, name: str, token_hash: str, prefix: str) -> t.ApiToken:
    row = t.ApiToken(user_id=user_id, name=name, token_hash=token_hash, prefix=prefix)
    session.add(row)
    session.flush()
    return row


def token_with_user(session: Session, token_hash: str) -> tuple[int, datetime | None, datetime | None, t.User] | None:
    """(token id, revoked_at, last_used_at, its user) of the token with this hash."""
    row = session.execute(
        select(t.ApiToken.id, t.ApiToken.revoked_at, t.ApiToken.last_used_at, t.User)
        .join(t.User, t.User.id == t.ApiToken.user_id)
        .where(t.ApiToken.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    return row[0], row[1], row[2], row[3]


def touch_tokens(session: Session, last_used: dict[int, datetime]) -> None:
    """Record the last use of several tokens (token id → when), one statement per token."""
    for token_id, now in sorted(last_used.items()):  # in id order: two writers never wait on each other's rows
        session.execute(update(t.ApiToken).where(t.ApiToken.id == token_id).values(last_used_at=now))


def tokens_of(session: Session, user_id: int) -> list[t.ApiToken]:
    return list(session.scalars(select(t.ApiToken).where(t.ApiToken.user_id == user_id).order_by(t.ApiToken.id)))


def get_token(session: Session, token_id: int) -> t.ApiToken | None:
    return session.get(t.ApiToken, token_id)


def revoke_token(session: Session, token: t.ApiToken, now: datetime) -> None:
    if token.revoked_at is None:
        token.revoked_at = now
    session.flush()


# --- browser sessions ---------------------------------------------------------------------------------------
def add_session(session: Session, **values: Any) -> t.UserSession:
    """Insert a session row (columns of `t.UserSession` as keywords) and return it with its id."""
    row = t.UserSession(**values)
    session.add(row)
    session.flush()
    return row


def session_with_user(session: Session, secret_hash: str) -> tuple[t.UserSession, t.User] | None:
    row = session.execute(
        select(t.UserSession, t.User)
        .join(t.User, t.User.id == t.UserSession.user_id)
        .where(t.UserSession.secret_hash == secret_hash)
    ).first()
    return None if row is None else (row[0], row[1])


def touch_session(session: Session, session_id: int, now: datetime, idle_expires_at: datetime) -> None:
    session.execute(
        update(t.UserSession)
        .where(t.UserSession.id == session_id, t.UserSession.revoked_at.is_(None))
        .values(last_seen_at=now, idle_expires_at=idle_expires_at)
    )


def sessions_of(session: Session, user_id: int) -> list[t.UserSession]:
    """The user's sessions, newest first."""
    q = select(t.UserSession).where(t.UserSession.user_id == user_id)
    return list(session.scalars(q.order_by(t.UserSession.id.desc())))


def get_session(session: Session, session_id: int) -> t.UserSession | None:
    return session.get(t.UserSession, session_id)


def revoke_sessions(
    session: Session,
    user_id: int,
    now: datetime,
    *,
    only: int | None = None,
    keep: int | None = None,
) -> int:
    """Revoke the user's sessions that are not revoked yet (`only`: that one; `keep`: all but that one).
    Returns how many were revoked; an expired session is revoked too, so the list shows who ended it."""
    q = update(t.UserSession).where(t.UserSession.user_id == user_id, t.UserSession.revoked_at.is_(None))
    if only is not None:
        q = q.where(t.UserSession.id == only)
    if keep is not None:
        q = q.where(t.UserSession.id != keep)
    result = session.execute(q.values(revoked_at=now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def revoke_session_by_hash(session: Session, secret_hash: str, now: datetime) -> None:
    session.execute(
        update(t.UserSession)
        .where(t.UserSession.secret_hash == secret_hash, t.UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def purge_sessions(session: Session, user_id: int, before: datetime) -> None:
    """Forget the user's sessions that ended (revoked or expired) before `before`."""
    ended = (
        (t.UserSession.revoked_at < before)
        | (t.UserSession.expires_at < before)
        | (t.UserSession.idle_expires_at < before)
    )
    session.execute(delete(t.UserSession).where(t.UserSession.user_id == user_id, ended))


# --- login attempts -----------------------------------------------------------------------------------------
def locked_attempt_rows(session: Session, keys: Sequence[tuple[str, str]], now: datetime) -> list[t.LoginAttempt]:
    """The counters of `keys` ((scope, key) pairs), created when missing and locked for this transaction
    (PostgreSQL: FOR UPDATE, taken in one order so that two logins cannot deadlock; SQLite's write transaction
    already serialises writers). In the order of `keys`."""
    ordered = sorted(set(keys))
    values = [
        {"scope": scope, "key": key, "failures": 0, "last_failure_at": now, "locked_until": now}
        for scope, key in ordered
    ]
    session.execute(_insert_missing(session).values(values))
    rows: dict[tuple[str, str], t.LoginAttempt] = {}
    for scope, key in ordered:
        q = select(t.LoginAttempt).where(t.LoginAttempt.scope == scope, t.LoginAttempt.key == key)
        row = session.scalar(q.with_for_update().execution_options(populate_existing=True))
        assert row is not None  # inserted above
        rows[(scope, key)] = row
    return [rows[k] for k in keys]


def _insert_missing(session: Session) -> Any:
    """INSERT … ON CONFLICT (scope, key) DO NOTHING, in the dialect's spelling."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(t.LoginAttempt).on_conflict_do_nothing(index_elements=["scope", "key"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(t.LoginAttempt).on_conflict_do_nothing(index_elements=["scope", "key"])


def attempt_rows(session: Session, keys: Sequence[tuple[str, str]]) -> list[t.LoginAttempt]:
    """The existing counters of `keys`, read only."""
    found = []
    for scope, key in keys:
        row = session.scalar(select(t.LoginAttempt).where(t.LoginAttempt.scope == scope, t.LoginAttempt.key == key))
        if row is not None:
            found.append(row)
    return found


def delete_attempts(session: Session, scope: str, key: str) -> None:
    session.execute(delete(t.LoginAttempt).where(t.LoginAttempt.scope == scope, t.LoginAttempt.key == key))


def purge_attempts(session: Session, scope: str, before: datetime, *, keep: Sequence[int] = ()) -> None:
    """Forget the scope's counters whose last wrong password is older than `before` (longer ago than any
    delay), except the rows `keep`. PostgreSQL skips rows another login holds, so two logins never wait on
    each other here."""
    stale = select(t.LoginAttempt.id).where(
        t.LoginAttempt.scope == scope, t.LoginAttempt.last_failure_at < before, t.LoginAttempt.id.not_in(list(keep))
    )
    if session.get_bind().dialect.name == "postgresql":
        stale = stale.with_for_update(skip_locked=True)
    session.execute(delete(t.LoginAttempt).where(t.LoginAttempt.id.in_(stale)))
