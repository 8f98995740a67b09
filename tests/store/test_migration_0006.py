"""Migration 0006 (user_sessions, login_attempts) upgrades a database at 0005 that has users and tokens, on
SQLite and PostgreSQL; its ids are 64-bit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import inspect, text

from prelabel.errors import SchemaOutOfDate
from prelabel.service import auth
from prelabel.service.auth import ClientInfo, SessionPolicy
from prelabel.service.throttle import ThrottlePolicy
from prelabel.store.engine import Store
from prelabel.store.migrate import alembic_config, current_revision, head_revision


def _insert_user_at_0005(store: Store) -> None:
    hashed = auth.hash_password("old-password-1")
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, password_hash, is_superuser, is_active, created_at) "
                "VALUES ('olduser', :hash, false, true, :now)"
            ),
            {"hash": hashed, "now": datetime.now(UTC)},
        )


def test_0006_upgrades_a_database_at_0005(empty_db_url: str) -> None:
    store = Store(empty_db_url)
    try:
        store.upgrade("0005")
        _insert_user_at_0005(store)
        with pytest.raises(SchemaOutOfDate, match="at revision 0005"):
            store.check_schema()
        store.upgrade()
        assert current_revision(store.engine) == head_revision()
        store.check_schema()
        tables = inspect(store.engine)
        assert {"user_sessions", "login_attempts"} <= set(tables.get_table_names())
        if store.dialect == "postgresql":
            types = {c["name"]: str(c["type"]) for c in tables.get_columns("user_sessions")}
            assert types["id"] == "BIGINT" and types["user_id"] == "BIGINT"
        # the user from before the upgrade logs in, and the session is checked and ended
        client = ClientInfo(address="192.0.2.3")
        actor, secret = auth.log_in(
            store, "olduser", "old-password-1", client, sessions=SessionPolicy(), limits=ThrottlePolicy()
        )
        assert auth.authenticate_session(store, secret, SessionPolicy()).session_id == actor.session_id
        auth.end_session(store, secret)
        assert [s.active for s in auth.list_sessions(store, auth.COMMAND_LINE, actor.user_id)] == [False]
        command.downgrade(alembic_config(store.engine), "0005")
        assert not {"user_sessions", "login_attempts"} & set(inspect(store.engine).get_table_names())
    finally:
        store.dispose()
