"""Users, password authentication and API tokens.

Passwords are hashed with stdlib ``hashlib.scrypt`` (n=2**14, r=8, p=1) and a per-user 16-byte salt, stored
as ``scrypt$n$r$p$salt_hex$hash_hex`` and compared in constant time. API tokens are ``pl_`` + 32 random bytes
(url-safe base64); only their sha256 is stored (a fast hash is safe for 256-bit random secrets), and the
plaintext is returned once by `create_token`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update

from prelabel.domain import check_storable
from prelabel.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from prelabel.service.dto import TokenOut, UserOut
from prelabel.store import tables as t
from prelabel.store.engine import Store

TOKEN_PREFIX = "pl_"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@\-]{1,100}$")
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class Actor:
    """Who is acting: built by authentication, passed to every service function a user triggers."""

    user_id: int
    username: str
    is_superuser: bool = False


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


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _actor(user: t.User) -> Actor:
    return Actor(user_id=user.id, username=user.username, is_superuser=bool(user.is_superuser))


def create_user(store: Store, username: str, password: str, *, is_superuser: bool = False) -> UserOut:
    """Create a user; InvalidInput for a bad username or a password under 8 characters, Conflict if taken."""
    if not _USERNAME_RE.match(username or ""):
        raise InvalidInput(f"Invalid username {username!r}: use 1-100 letters, digits or '_', '.', '@', '-'.")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    with store.transaction() as s:
        if s.scalar(select(t.User.id).where(t.User.username == username)) is not None:
            raise Conflict(f"A user named {username!r} already exists.")
        user = t.User(username=username, password_hash=hash_password(password), is_superuser=is_superuser)
        s.add(user)
        s.flush()
        return UserOut.model_validate(user)


def get_user_by_name(store: Store, username: str) -> UserOut:
    with store.transaction(read_only=True) as s:
        user = s.scalar(select(t.User).where(t.User.username == username))
        if user is None:
            raise NotFound(f"No user named {username!r}.")
        return UserOut.model_validate(user)


def get_actor(store: Store, user_id: int) -> Actor:
    """The Actor of an active user id (for the UI's session cookie); Unauthenticated if gone."""
    with store.transaction(read_only=True) as s:
        user = s.get(t.User, user_id)
        if user is None or not user.is_active:
            raise Unauthenticated("Your session is no longer valid; please log in again.")
        return _actor(user)


def authenticate_password(store: Store, username: str, password: str) -> Actor:
    with store.transaction(read_only=True) as s:
        user = s.scalar(select(t.User).where(t.User.username == username))
        ok = verify_password(password, user.password_hash if user is not None else _DUMMY_HASH)
        if user is None or not ok or not user.is_active:
            raise Unauthenticated("Wrong username or password.")
        return _actor(user)


def create_token(store: Store, actor: Actor, name: str) -> tuple[TokenOut, str]:
    """Create an API token for the actor; returns its record and the plaintext ``pl_…`` token (shown once)."""
    check_storable(name, "The token's name")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("A token needs a name of 1-100 characters (e.g. 'laptop' or 'trainer script').")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.transaction() as s:
        if s.get(t.User, actor.user_id) is None:
            raise NotFound("Your user no longer exists.")
        row = t.ApiToken(user_id=actor.user_id, name=name, token_hash=_token_hash(token), prefix=token[:10])
        s.add(row)
        s.flush()
        return TokenOut.model_validate(row), token


def authenticate_token(store: Store, token: str) -> Actor:
    """The Actor owning a valid, unrevoked token (records last use); Unauthenticated otherwise."""
    if not token or not token.startswith(TOKEN_PREFIX):
        raise Unauthenticated(
            "Invalid API token: tokens start with 'pl_'; create one with `prelabel token create`."
        )
    h = _token_hash(token)
    # Read-only first: an API request takes no write lock unless the token's last use needs refreshing
    # (at most once a minute), which matters on SQLite where writers queue.
    with store.transaction(read_only=True) as s:
        row = s.execute(
            select(t.ApiToken.id, t.ApiToken.revoked_at, t.ApiToken.last_used_at, t.User)
            .join(t.User, t.User.id == t.ApiToken.user_id)
            .where(t.ApiToken.token_hash == h)
        ).first()
        if row is None:
            raise Unauthenticated("Invalid API token.")
        token_id, revoked_at, last_used_at, user = row
        if revoked_at is not None:
            raise Unauthenticated("This API token was revoked; create one with `prelabel token create`.")
        if not user.is_active:
            raise Unauthenticated("The user of this API token is deactivated.")
        actor = _actor(user)
    now = t.utcnow()
    if last_used_at is None or (now - last_used_at).total_seconds() > 60:
        with store.transaction() as s:
            s.execute(update(t.ApiToken).where(t.ApiToken.id == token_id).values(last_used_at=now))
    return actor


def list_tokens(store: Store, actor: Actor) -> list[TokenOut]:
    with store.transaction(read_only=True) as s:
        q = select(t.ApiToken).where(t.ApiToken.user_id == actor.user_id).order_by(t.ApiToken.id)
        rows = s.scalars(q)
        return [TokenOut.model_validate(r) for r in rows]


def revoke_token(store: Store, actor: Actor, token_id: int) -> TokenOut:
    """Revoke one of the actor's tokens (superusers: anyone's). Revoking twice is harmless."""
    with store.transaction() as s:
        tok = s.get(t.ApiToken, token_id)
        if tok is None or (tok.user_id != actor.user_id and not actor.is_superuser):
            raise NotFound(f"No API token with id {token_id}.")
        if tok.revoked_at is None:
            tok.revoked_at = t.utcnow()
        s.flush()
        return TokenOut.model_validate(tok)
