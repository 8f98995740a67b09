"""Users, passwords, API tokens and browser sessions.

Passwords are hashed with stdlib ``hashlib.scrypt`` (n=2**14, r=8, p=1) and a per-user 16-byte salt, stored
as ``scrypt$n$r$p$salt_hex$hash_hex`` and compared in constant time. API tokens are ``pl_`` + 32 random bytes
(url-safe base64); only their sha256 is stored (a fast hash is safe for 256-bit random secrets), and the
plaintext is returned once by `create_token`.

Browser sessions are rows of ``user_sessions``: the cookie carries a random secret, the row its sha256, so a
session can be ended on the server. A session ends on logout, at its idle or absolute expiry, when its user
changes their password (every session but the one that changed it), when an administrator sets the password
or deactivates the user (every session), or when a superuser ends it. Logins are throttled
(`prelabel.service.throttle`). Functions that depend on time take ``now`` so tests can move the clock.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import weakref
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from prelabel.config import Settings
from prelabel.domain import check_storable
from prelabel.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from prelabel.service import throttle
from prelabel.service.dto import SessionOut, TokenOut, UserOut
from prelabel.store import tables as t
from prelabel.store import users as users_sql
from prelabel.store.engine import Session, Store

log = logging.getLogger("prelabel.auth")

TOKEN_PREFIX = "pl_"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@\-]{1,100}$")
MIN_PASSWORD_LENGTH = 8
# How often a token's last use or a session's last activity is written: reads take no write lock otherwise,
# which matters on SQLite where writers queue.
TOUCH_EVERY = timedelta(seconds=60)
# Ended sessions stay listed this long (who logged in from where), then their rows are deleted.
SESSION_HISTORY = timedelta(days=30)


@dataclass(frozen=True)
class Actor:
    """Who is acting: built by authentication, passed to every service function a user triggers.
    `session_id`: the browser session the request came in (None for an API token)."""

    user_id: int
    username: str
    is_superuser: bool = False
    session_id: int | None = None


# The person running `prelabel` commands on the server: they hold the database itself, so they may do what a
# superuser may. No user row has id 0.
COMMAND_LINE = Actor(user_id=0, username="(command line)", is_superuser=True)


@dataclass(frozen=True)
class SessionPolicy:
    """How long a browser session lasts: `idle_s` without a request, `absolute_s` at most."""

    idle_s: int = 12 * 3600
    absolute_s: int = 7 * 24 * 3600

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        return cls(idle_s=settings.session_idle_s, absolute_s=settings.session_max_age_s)


@dataclass(frozen=True)
class ClientInfo:
    """Where a login comes from: recorded with the session, and the key of the per-address throttle."""

    address: str
    user_agent: str = ""


# --- passwords ----------------------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_hex, hash_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(
        password.encode(),
        salt=bytes.fromhex(salt_hex),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(hash_hex) // 2,
    )
    return hmac.compare_digest(digest.hex(), hash_hex)


# A valid hash to compare against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_new_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")


def _actor(user: t.User, session_id: int | None = None) -> Actor:
    return Actor(user_id=user.id, username=user.username, is_superuser=bool(user.is_superuser), session_id=session_id)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else t.utcnow()


# --- users --------------------------------------------------------------------------------------------------
def create_user(store: Store, username: str, password: str, *, is_superuser: bool = False) -> UserOut:
    """Create a user; InvalidInput for a bad username or a password under 8 characters, Conflict if taken."""
    if not _USERNAME_RE.match(username or ""):
        raise InvalidInput(f"Invalid username {username!r}: use 1-100 letters, digits or '_', '.', '@', '-'.")
    _check_new_password(password)
    with store.transaction() as s:
        if users_sql.user_by_name(s, username) is not None:
            raise Conflict(f"A user named {username!r} already exists.")
        user = users_sql.add_user(s, username, hash_password(password), is_superuser=is_superuser)
        return UserOut.model_validate(user)


def get_user_by_name(store: Store, username: str) -> UserOut:
    with store.transaction(read_only=True) as s:
        user = users_sql.user_by_name(s, username)
        if user is None:
            raise NotFound(f"No user named {username!r}.")
        return UserOut.model_validate(user)


def get_actor(store: Store, user_id: int) -> Actor:
    """The Actor of an active user id; Unauthenticated if gone or deactivated."""
    with store.transaction(read_only=True) as s:
        user = users_sql.get_user(s, user_id)
        if user is None or not user.is_active:
            raise Unauthenticated("Your session is no longer valid; please log in again.")
        return _actor(user)


def _require_superuser(actor: Actor, what: str) -> None:
    if not actor.is_superuser:
        raise PermissionDenied(f"Only a superuser can {what}; ask one, or run the `prelabel user` commands.")


def _user_or_404(s: Session, user_id: int) -> t.User:
    user = users_sql.get_user(s, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    return user


def list_users(store: Store, actor: Actor) -> list[UserOut]:
    """Every user, oldest first (superusers only)."""
    _require_superuser(actor, "list users")
    with store.transaction(read_only=True) as s:
        return [UserOut.model_validate(u) for u in users_sql.list_users(s)]


def set_user_active(store: Store, actor: Actor, user_id: int, active: bool, *, now: datetime | None = None) -> UserOut:
    """Activate or deactivate a user (superusers only). Deactivating ends every session of the user; their API
    tokens are refused while they are inactive. Nobody can deactivate themselves."""
    _require_superuser(actor, "activate or deactivate users")
    if not active and user_id == actor.user_id:
        raise Conflict("You cannot deactivate your own account; ask another superuser.")
    with store.transaction() as s:
        user = _user_or_404(s, user_id)
        users_sql.set_active(s, user, active)
        ended = 0 if active else users_sql.revoke_sessions(s, user.id, _now(now))
        out = UserOut.model_validate(user)
    log.info(
        "user %r %s by %s (%d sessions ended)",
        out.username,
        "activated" if active else "deactivated",
        actor.username,
        ended,
    )
    return out


# --- passwords ----------------------------------------------------------------------------------------------
def authenticate_password(store: Store, username: str, password: str) -> Actor:
    """The Actor of an active user whose password this is; Unauthenticated otherwise (no throttling: `log_in`
    adds it)."""
    with store.transaction(read_only=True) as s:
        user = users_sql.user_by_name(s, username)
        ok = verify_password(password, user.password_hash if user is not None else _DUMMY_HASH)
        if user is None or not ok or not user.is_active:
            raise Unauthenticated("Wrong username or password.")
        return _actor(user)


def change_password(
    store: Store,
    actor: Actor,
    current: str,
    new: str,
    *,
    limits: throttle.ThrottlePolicy | None = None,
    now: datetime | None = None,
) -> int:
    """Change the actor's own password after checking the current one (a wrong one counts against the user
    name's login throttle). Ends every other session of the user; the session it came from (if any) stays.
    Returns how many sessions ended."""
    _check_new_password(new)
    if new == current:
        raise InvalidInput("The new password is the same as the current one; choose another.")
    now = _now(now)
    attempt = throttle.begin(store, limits or throttle.ThrottlePolicy(), [(throttle.USER, actor.username)], now)
    if not _password_matches(store, actor.user_id, current):
        throttle.failed(attempt)
        raise InvalidInput("The current password is wrong.", details={"field": "current_password"})
    throttle.succeeded(store, attempt)
    with store.transaction() as s:
        user = _user_or_404(s, actor.user_id)
        users_sql.set_password_hash(s, user, hash_password(new))
        ended = users_sql.revoke_sessions(s, user.id, now, keep=actor.session_id)
    log.info("user %r changed their password (%d other sessions ended)", actor.username, ended)
    return ended


def _password_matches(store: Store, user_id: int, password: str) -> bool:
    with store.transaction(read_only=True) as s:
        user = _user_or_404(s, user_id)
        return verify_password(password, user.password_hash)


def set_password(store: Store, username: str, new: str, *, now: datetime | None = None) -> int:
    """Set a user's password without the current one (an administrator, the CLI). Ends every session of the
    user and clears the user name's login throttle. Returns how many sessions ended."""
    _check_new_password(new)
    with store.transaction() as s:
        user = users_sql.user_by_name(s, username)
        if user is None:
            raise NotFound(f"No user named {username!r}.")
        users_sql.set_password_hash(s, user, hash_password(new))
        ended = users_sql.revoke_sessions(s, user.id, _now(now))
        users_sql.delete_attempts(s, throttle.USER, username[: throttle.KEY_LENGTH])
    log.info("password of user %r set (%d sessions ended)", username, ended)
    return ended


# --- API tokens ---------------------------------------------------------------------------------------------
def create_token(store: Store, actor: Actor, name: str) -> tuple[TokenOut, str]:
    """Create an API token for the actor; returns its record and the plaintext ``pl_…`` token (shown once)."""
    check_storable(name, "The token's name")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("A token needs a name of 1-100 characters (e.g. 'laptop' or 'trainer script').")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.transaction() as s:
        if users_sql.get_user(s, actor.user_id) is None:
            raise NotFound("Your user no longer exists.")
        row = users_sql.add_token(s, actor.user_id, name, _secret_hash(token), token[:10])
        return TokenOut.model_validate(row), token


def authenticate_token(store: Store, token: str, *, now: datetime | None = None) -> Actor:
    """The Actor owning a valid, unrevoked token of an active user (records last use); Unauthenticated
    otherwise."""
    if not token or not token.startswith(TOKEN_PREFIX):
        raise Unauthenticated("Invalid API token: tokens start with 'pl_'; create one with `prelabel token create`.")
    with store.transaction(read_only=True) as s:
        found = users_sql.token_with_user(s, _secret_hash(token))
        if found is None:
            raise Unauthenticated("Invalid API token.")
        token_id, revoked_at, last_used_at, user = found
        if revoked_at is not None:
            raise Unauthenticated("This API token was revoked; create one with `prelabel token create`.")
        if not user.is_active:
            raise Unauthenticated("The user of this API token is deactivated.")
        actor = _actor(user)
    now = _now(now)
    if last_used_at is None or now - last_used_at > TOUCH_EVERY:
        _token_uses(store).record(store, token_id, now)
    return actor


@dataclass
class _TokenUses:
    """Last uses of tokens waiting to be written, and who writes them. The first request to find no write in
    progress writes every pending use, its own included; the others only add theirs and go on, so that many
    clients arriving together queue one write for the database's write lock instead of one each."""

    pending: dict[int, datetime] = field(default_factory=dict)
    mutex: threading.Lock = field(default_factory=threading.Lock)
    writing: threading.Lock = field(default_factory=threading.Lock)

    def record(self, store: Store, token_id: int, now: datetime) -> None:
        with self.mutex:
            self.pending[token_id] = max(now, self.pending.get(token_id, now))
        while self.writing.acquire(blocking=False):
            try:
                self._write(store)
            finally:
                self.writing.release()
            with self.mutex:  # a use added while this thread wrote, by a thread that found the write taken
                if not self.pending:
                    return

    def _write(self, store: Store) -> None:
        with self.mutex:
            batch, self.pending = self.pending, {}
        try:
            with store.transaction() as s:
                users_sql.touch_tokens(s, batch)
        except Exception:
            with self.mutex:  # kept for the next write; the request itself was authenticated
                for token_id, when in batch.items():
                    self.pending[token_id] = max(when, self.pending.get(token_id, when))
            raise


_USES: weakref.WeakKeyDictionary[Store, _TokenUses] = weakref.WeakKeyDictionary()
_USES_MUTEX = threading.Lock()


def _token_uses(store: Store) -> _TokenUses:
    with _USES_MUTEX:
        return _USES.setdefault(store, _TokenUses())


def list_tokens(store: Store, actor: Actor) -> list[TokenOut]:
    with store.transaction(read_only=True) as s:
        return [TokenOut.model_validate(r) for r in users_sql.tokens_of(s, actor.user_id)]


def revoke_token(store: Store, actor: Actor, token_id: int) -> TokenOut:
    """Revoke one of the actor's tokens (superusers: anyone's). Revoking twice is harmless."""
    with store.transaction() as s:
        tok = users_sql.get_token(s, token_id)
        if tok is None or (tok.user_id != actor.user_id and not actor.is_superuser):
            raise NotFound(f"No API token with id {token_id}.")
        users_sql.revoke_token(s, tok, t.utcnow())
        return TokenOut.model_validate(tok)


# --- browser sessions ---------------------------------------------------------------------------------------
def log_in(
    store: Store,
    username: str,
    password: str,
    client: ClientInfo,
    *,
    sessions: SessionPolicy,
    limits: throttle.ThrottlePolicy,
    now: datetime | None = None,
) -> tuple[Actor, str]:
    """Check a password under the login throttle and start a session: (the Actor, the session's secret for
    the cookie). TooManyAttempts (429) while delayed, Unauthenticated for a wrong user name or password."""
    now = _now(now)
    attempt = throttle.begin(store, limits, throttle.login_keys(username, client.address), now)
    try:
        actor = authenticate_password(store, username, password)
    except Unauthenticated:
        throttle.failed(attempt)
        raise
    throttle.succeeded(store, attempt)
    return create_session(store, actor, client, sessions, now=now)


def create_session(
    store: Store, actor: Actor, client: ClientInfo, policy: SessionPolicy, *, now: datetime | None = None
) -> tuple[Actor, str]:
    """Start a browser session for `actor`: (the Actor with its session id, the secret for the cookie)."""
    now = _now(now)
    secret = secrets.token_urlsafe(32)
    with store.transaction() as s:
        users_sql.purge_sessions(s, actor.user_id, now - SESSION_HISTORY)
        row = users_sql.add_session(
            s,
            user_id=actor.user_id,
            secret_hash=_secret_hash(secret),
            created_at=now,
            last_seen_at=now,
            idle_expires_at=now + timedelta(seconds=policy.idle_s),
            expires_at=now + timedelta(seconds=policy.absolute_s),
            user_agent=client.user_agent[:255],
            client_address=client.address[:64],
        )
        session_id = row.id
    log.info("user %r logged in from %s (session %d)", actor.username, client.address, session_id)
    return replace(actor, session_id=session_id), secret


def authenticate_session(store: Store, secret: str, policy: SessionPolicy, *, now: datetime | None = None) -> Actor:
    """The Actor of a live session (records its activity at most once a minute); Unauthenticated, saying
    why, when the session is unknown, ended, expired or its user deactivated."""
    if not secret:
        raise Unauthenticated("You are not logged in.")
    now = _now(now)
    with store.transaction(read_only=True) as s:
        found = users_sql.session_with_user(s, _secret_hash(secret))
        if found is None:
            raise Unauthenticated("Your session has ended; please log in again.")
        row, user = found
        _check_live(row, user, now)
        session_id, last_seen = row.id, row.last_seen_at
        actor = _actor(user, session_id)
    if now - last_seen > TOUCH_EVERY:
        with store.transaction() as s:
            users_sql.touch_session(s, session_id, now, now + timedelta(seconds=policy.idle_s))
    return actor


def _check_live(row: t.UserSession, user: t.User, now: datetime) -> None:
    if row.revoked_at is not None:
        raise Unauthenticated(
            "Your session was ended (logged out elsewhere or by an administrator); please log in again."
        )
    if not user.is_active:
        raise Unauthenticated("Your account is deactivated; ask an administrator.")
    if now >= row.expires_at:
        raise Unauthenticated("Your session reached its maximum age; please log in again.")
    if now >= row.idle_expires_at:
        raise Unauthenticated("Your session expired after a period of inactivity; please log in again.")


def end_session(store: Store, secret: str, *, now: datetime | None = None) -> None:
    """Log out: end the session with this secret (an unknown or ended one: nothing to do)."""
    if not secret:
        return
    with store.transaction() as s:
        users_sql.revoke_session_by_hash(s, _secret_hash(secret), _now(now))


def list_sessions(store: Store, actor: Actor, user_id: int, *, now: datetime | None = None) -> list[SessionOut]:
    """A user's sessions, newest first, live and ended (superusers only; ended ones stay 30 days)."""
    _require_superuser(actor, "list a user's sessions")
    now = _now(now)
    with store.transaction(read_only=True) as s:
        _user_or_404(s, user_id)
        return [_session_out(row, now) for row in users_sql.sessions_of(s, user_id)]


def _session_out(row: t.UserSession, now: datetime) -> SessionOut:
    live = row.revoked_at is None and now < row.expires_at and now < row.idle_expires_at
    return SessionOut.model_validate(row).model_copy(update={"active": live})


def end_sessions(
    store: Store, actor: Actor, user_id: int, session_id: int | None = None, *, now: datetime | None = None
) -> int:
    """End one session of a user (`session_id`) or all of them (superusers only). Returns how many ended;
    ending an ended session again is harmless (0)."""
    _require_superuser(actor, "end a user's sessions")
    with store.transaction() as s:
        _user_or_404(s, user_id)
        if session_id is not None:
            row = users_sql.get_session(s, session_id)
            if row is None or row.user_id != user_id:
                raise NotFound(f"User {user_id} has no session with id {session_id}.")
        ended = users_sql.revoke_sessions(s, user_id, _now(now), only=session_id)
    log.info("%s ended %d session(s) of user %d", actor.username, ended, user_id)
    return ended
