"""`prelabel user password | deactivate | activate | sessions` through typer's CliRunner on the real databases."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from prelabel.cli.main import app
from prelabel.errors import PrelabelError
from prelabel.service import auth
from prelabel.service.auth import ClientInfo, SessionPolicy
from prelabel.service.throttle import ThrottlePolicy
from prelabel.store.engine import Store

runner = CliRunner()
PASSWORD = "password-123"


def run(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def _log_in(store: Store, password: str = PASSWORD) -> str:
    client = ClientInfo(address="192.0.2.20", user_agent="Safari/18")
    _, secret = auth.log_in(store, "ann", password, client, sessions=SessionPolicy(), limits=ThrottlePolicy())
    return secret


def _live(store: Store, secret: str) -> bool:
    try:
        auth.authenticate_session(store, secret, SessionPolicy())
    except PrelabelError:
        return False
    return True


@pytest.fixture
def ann(store: Store) -> int:
    return auth.create_user(store, "ann", PASSWORD).id


def test_user_password_prompts_hidden_and_ends_every_session(db_url: str, store: Store, ann: int) -> None:
    secret = _log_in(store)
    r = run("user", "password", "ann", "--database-url", db_url, input="new-password-9\nnew-password-9\n")
    assert r.exit_code == 0, r.output
    assert "new-password-9" not in r.output  # hidden input
    assert "Password of 'ann' set; 1 browser session(s) ended." in r.output
    assert not _live(store, secret)
    assert auth.authenticate_password(store, "ann", "new-password-9").username == "ann"


def test_user_password_refuses_short_passwords_and_unknown_users(db_url: str, store: Store, ann: int) -> None:
    r = run("user", "password", "ann", "--password", "short", "--database-url", db_url)
    assert r.exit_code == 1 and "at least 8 characters" in r.output
    r = run("user", "password", "nobody", "--password", "long-enough-1", "--database-url", db_url)
    assert r.exit_code == 1 and "No user named 'nobody'" in r.output
    assert auth.authenticate_password(store, "ann", PASSWORD).username == "ann"


def test_deactivate_and_activate(db_url: str, store: Store, ann: int) -> None:
    secret = _log_in(store)
    r = run("user", "deactivate", "ann", "--database-url", db_url)
    assert r.exit_code == 0 and "deactivated" in r.output, r.output
    assert not _live(store, secret)
    with pytest.raises(PrelabelError, match="Wrong username or password"):
        _log_in(store)
    r = run("user", "activate", "ann", "--database-url", db_url)
    assert r.exit_code == 0 and "'ann' is active" in r.output, r.output
    assert _live(store, _log_in(store))


def test_sessions_lists_and_ends(db_url: str, store: Store, ann: int) -> None:
    first, second = _log_in(store), _log_in(store)
    r = run("user", "sessions", "ann", "--database-url", db_url)
    assert r.exit_code == 0, r.output
    rows = [line for line in r.stdout.splitlines() if "192.0.2.20" in line]
    assert len(rows) == 2 and all("active" in row and "Safari/18" in row for row in rows)
    r = run("user", "sessions", "ann", "--end", "--database-url", db_url)
    assert r.exit_code == 0 and "Ended 2 session(s) of 'ann'." in r.output, r.output
    assert not _live(store, first) and not _live(store, second)
    r = run("user", "sessions", "ann", "--database-url", db_url)
    rows = [line for line in r.stdout.splitlines() if "192.0.2.20" in line]
    assert len(rows) == 2 and all("ended" in row and "active" not in row for row in rows)
