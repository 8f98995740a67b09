"""Login throttling: wrong passwords counted per user name and per client address, with growing delays.

The rules (docs/ui.md, "Logging in"):

- Each user name and each client address has a counter of wrong passwords. The first `free_failures` (10) are
  answered at once; from then on each wrong password sets a delay before the next try, 1 s doubling with each
  one, up to 60 s for a user name and 15 minutes for an address. A counter is forgotten after twice its
  longest delay without a wrong password (2 minutes for a name, 30 for an address), so a user name gets about
  10 free tries a minute or two, an address 10 per half hour: the address limit is the stricter one, the one
  that holds an attacker trying many names. Whoever keeps guessing stays at the longest delay.
- A try during a delay, right password or not, is refused (429) without being checked, so a delay tells an
  attacker nothing; it is not counted either. The cap keeps an attacker from locking a user out for long,
  a right password resets the user name's counter, and `set_password` (admin, CLI) clears it too.
- Counting happens before the password is checked (`begin`): concurrent tries cannot slip past the limit
  together, and a server that dies mid-check has counted a failure. `succeeded` takes the count back.

The counters live in the database (`login_attempts`), so every server on it agrees and a restart resets
nothing. Times come from the caller (`now`), so tests move a clock instead of sleeping.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from prelabel.config import Settings
from prelabel.errors import TooManyAttempts
from prelabel.store import users as users_sql
from prelabel.store.engine import Store

log = logging.getLogger("prelabel.auth")

Scope = Literal["user", "address"]
USER: Scope = "user"
ADDRESS: Scope = "address"
FIRST_DELAY_S = 1.0
KEY_LENGTH = 100  # the column's width; longer names or addresses cannot belong to anyone


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int = 10
    user_max_delay_s: int = 60
    address_max_delay_s: int = 900

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        return cls(
            free_failures=settings.login_free_failures,
            user_max_delay_s=settings.login_user_max_delay_s,
            address_max_delay_s=settings.login_address_max_delay_s,
        )

    def max_delay(self, scope: str) -> timedelta:
        return timedelta(seconds=self.user_max_delay_s if scope == USER else self.address_max_delay_s)

    def forget_after(self, scope: str) -> timedelta:
        """A counter quiet for this long starts again from zero."""
        return 2 * self.max_delay(scope)

    def delay(self, scope: str, failures: int) -> timedelta:
        """The wait after the `failures`-th wrong password in a row."""
        extra = failures - self.free_failures
        if extra < 0:
            return timedelta(0)
        seconds = FIRST_DELAY_S * 2.0 ** min(extra, 40)
        return min(timedelta(seconds=seconds), self.max_delay(scope))


@dataclass(frozen=True)
class _Counted:
    """One counter as `begin` found it and as it left it, so that `succeeded` can take the count back."""

    scope: str
    key: str
    failures: int  # after counting this try
    last_failure_before: datetime
    locked_before: datetime
    locked_after: datetime


@dataclass(frozen=True)
class Attempt:
    """A password check in progress, already counted as wrong."""

    counted: tuple[_Counted, ...]
    now: datetime

    def failures(self, scope: str) -> int:
        return next((c.failures for c in self.counted if c.scope == scope), 0)

    def key(self, scope: str) -> str:
        return next((c.key for c in self.counted if c.scope == scope), "")


def login_keys(username: str, address: str) -> list[tuple[str, str]]:
    """The counters a login touches: its user name's and its client address's."""
    return [(USER, username.strip()[:KEY_LENGTH]), (ADDRESS, (address or "unknown")[:KEY_LENGTH])]


def begin(store: Store, policy: ThrottlePolicy, keys: Sequence[tuple[str, str]], now: datetime) -> Attempt:
    """Count a try against each of `keys` before its password is checked; TooManyAttempts (nothing counted)
    while any of them is delayed."""
    with store.transaction() as s:
        rows = users_sql.locked_attempt_rows(s, keys, now)
        for row in rows:
            if now - row.last_failure_at >= policy.forget_after(row.scope) and row.locked_until <= now:
                row.failures = 0
        wait = max(row.locked_until - now for row in rows)
        if wait > timedelta(0):
            raise _refused(keys, wait, now)
        counted = []
        for row in rows:
            before = (row.last_failure_at, row.locked_until)
            row.failures += 1
            row.last_failure_at = now
            row.locked_until = now + policy.delay(row.scope, row.failures)
            counted.append(_Counted(row.scope, row.key, row.failures, *before, row.locked_until))
        for scope in {row.scope for row in rows}:
            users_sql.purge_attempts(s, scope, now - policy.forget_after(scope), keep=[row.id for row in rows])
    return Attempt(tuple(counted), now)


def _refused(keys: Sequence[tuple[str, str]], wait: timedelta, now: datetime) -> TooManyAttempts:
    seconds = max(1, math.ceil(wait.total_seconds()))
    at = (now + timedelta(seconds=seconds)).strftime("%H:%M:%S UTC")
    names = dict(keys)
    log.warning("login throttled for %ss: user name %r from %s", seconds, names.get(USER, ""), names.get(ADDRESS, ""))
    return TooManyAttempts(
        f"Too many wrong passwords for this user name or from this address. Try again in {seconds} "
        f"second{'s' if seconds != 1 else ''} (at {at}).",
        retry_after_s=seconds,
    )


def failed(attempt: Attempt) -> None:
    """The password was wrong: it is counted already; say so in the log."""
    delayed = [c for c in attempt.counted if c.locked_after > attempt.now]
    log.warning(
        "wrong password for user name %r from %s (%d in a row for the name, %d from the address)%s",
        attempt.key(USER),
        attempt.key(ADDRESS),
        attempt.failures(USER),
        attempt.failures(ADDRESS),
        "; next try delayed " + ", ".join(f"{c.scope} {_seconds(c.locked_after - attempt.now)}" for c in delayed)
        if delayed
        else "",
    )


def _seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():g} s"


def succeeded(store: Store, attempt: Attempt) -> None:
    """The password was right: the user name's counter starts again, the address's loses this try."""
    with store.transaction() as s:
        rows = users_sql.locked_attempt_rows(s, [(c.scope, c.key) for c in attempt.counted], attempt.now)
        for row, c in zip(rows, attempt.counted, strict=True):
            if c.scope == USER:
                users_sql.delete_attempts(s, c.scope, c.key)
                continue
            row.failures = max(0, row.failures - 1)
            if row.locked_until == c.locked_after:  # nobody counted a try since: undo this one's delay
                row.locked_until = c.locked_before
                row.last_failure_at = c.last_failure_before
