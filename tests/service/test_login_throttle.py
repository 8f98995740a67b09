"""Login throttling (service.throttle through auth.log_in) on the real databases, with an explicit clock."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from prelabel.errors import PrelabelError, TooManyAttempts, Unauthenticated
from prelabel.service import auth
from prelabel.service.auth import ClientInfo, SessionPolicy
from prelabel.service.throttle import ThrottlePolicy
from prelabel.store.engine import Store

PASSWORD = "right-password-1"
LIMITS = ThrottlePolicy()  # 10 free, 60 s at most for a name, 15 min for an address
T0 = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
HOME = ClientInfo(address="203.0.113.7", user_agent="pytest")


def _try(store: Store, username: str, password: str, at: datetime, client: ClientInfo = HOME) -> str:
    """What a login answers: "ok", "401" or "429 <retry after>"."""
    try:
        auth.log_in(store, username, password, client, sessions=SessionPolicy(), limits=LIMITS, now=at)
    except TooManyAttempts as exc:
        return f"429 {exc.retry_after_s}"
    except Unauthenticated:
        return "401"
    return "ok"


@pytest.fixture
def alice(store: Store) -> str:
    auth.create_user(store, "alice", PASSWORD)
    return "alice"


def test_ten_wrong_passwords_pass_then_the_next_try_waits(store: Store, alice: str) -> None:
    assert [_try(store, alice, "wrong", T0) for _ in range(10)] == ["401"] * 10
    # a throttled right password is refused unchecked, like a wrong one
    assert _try(store, alice, PASSWORD, T0) == "429 1"
    assert _try(store, alice, PASSWORD, T0 + timedelta(seconds=1)) == "ok"
    # the right password started the name's counter again (the address keeps its count): ten free tries
    elsewhere = ClientInfo(address="192.0.2.50")
    assert [_try(store, alice, "wrong", T0 + timedelta(seconds=2), elsewhere) for _ in range(10)] == ["401"] * 10


def test_delays_double_up_to_a_minute_for_a_user_name(store: Store, alice: str) -> None:
    at = T0
    waits = []
    for n in range(18):
        client = ClientInfo(address=f"198.51.100.{n}")  # many addresses: only the name's counter grows
        answer = _try(store, alice, "wrong", at, client)
        if answer.startswith("429"):
            wait = int(answer.split()[1])
            waits.append(wait)
            at += timedelta(seconds=wait)
            assert _try(store, alice, "wrong", at, client) == "401"
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]  # whoever keeps guessing stays at the cap
    assert _try(store, alice, PASSWORD, at + timedelta(seconds=60)) == "ok"  # the owner, once the minute passed


def test_the_address_limit_holds_across_user_names_and_is_the_longer_one(store: Store, alice: str) -> None:
    names = [f"guess{n}" for n in range(10)]
    assert [_try(store, name, "wrong", T0) for name in names] == ["401"] * 10
    assert _try(store, alice, PASSWORD, T0) == "429 1"  # alice's own counter is clean: the address holds
    at = T0
    for _ in range(12):  # keep guessing from this address, each time the delay has passed
        at += timedelta(seconds=int(_try(store, "someone", "wrong", at).split()[1]))
        assert _try(store, "someone", "wrong", at) == "401"
    assert _try(store, alice, PASSWORD, at) == "429 900"
    assert _try(store, alice, PASSWORD, at, ClientInfo(address="192.0.2.1")) == "ok"  # another address


def test_concurrent_wrong_passwords_cannot_slip_past_the_limit(store: Store, alice: str) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: _try(store, alice, "wrong", T0), range(20)))
    assert sorted(answers) == ["401"] * 10 + ["429 1"] * 10


def test_counters_are_in_the_database(store: Store, db_url: str, alice: str) -> None:
    for _ in range(10):
        _try(store, alice, "wrong", T0)
    other = Store(db_url)  # another server process on the same database, or this one restarted
    try:
        assert _try(other, alice, PASSWORD, T0) == "429 1"
    finally:
        other.dispose()


def test_wrong_passwords_and_delays_are_logged(store: Store, alice: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="prelabel"):
        for _ in range(10):
            _try(store, alice, "wrong", T0)
        _try(store, alice, "wrong", T0)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("prelabel")]
    assert "wrong password for user name 'alice' from 203.0.113.7 (1 in a row" in messages[0]
    assert "next try delayed user 1 s, address 1 s" in messages[9]
    assert messages[10] == "login throttled for 1s: user name 'alice' from 203.0.113.7"


def test_an_administrator_setting_the_password_clears_the_name(store: Store, alice: str) -> None:
    for n in range(10):
        _try(store, alice, "wrong", T0, ClientInfo(address=f"198.51.100.{n}"))
    auth.set_password(store, alice, "new-password-2")
    assert _try(store, alice, "new-password-2", T0, ClientInfo(address="192.0.2.9")) == "ok"


def test_a_wrong_current_password_counts_against_the_name(store: Store, alice: str) -> None:
    actor = auth.authenticate_password(store, alice, PASSWORD)
    for _ in range(10):
        with pytest.raises(PrelabelError, match="current password is wrong"):
            auth.change_password(store, actor, "wrong", "new-password-2", limits=LIMITS, now=T0)
    with pytest.raises(TooManyAttempts, match=r"Try again in 1 second \(at 09:00:01 UTC\)"):
        auth.change_password(store, actor, PASSWORD, "new-password-2", limits=LIMITS, now=T0)
    later = T0 + timedelta(seconds=1)
    assert auth.change_password(store, actor, PASSWORD, "new-password-2", limits=LIMITS, now=later) == 0
