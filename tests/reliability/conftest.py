"""Fixtures of the reliability tests: `live_server`, a real `prelabel serve` per database (fuzz_server.py).

It is parametrised over a fresh SQLite file and, when PRELABEL_TEST_POSTGRES_URL is set, a PostgreSQL database of
its own (`prelabel_fuzz_<pid>`, created here and dropped afterwards, so a fuzzer's writes never meet another
test's rows).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzz_server import LiveServer, start_server, stop_server, upgrade_database
from sqlalchemy import create_engine, text

from prelabel.store.engine import normalize_url

PG_ENV = "PRELABEL_TEST_POSTGRES_URL"


def _databases() -> list[Any]:
    skip_pg = pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} is not set")
    return ["sqlite", pytest.param("postgresql", marks=skip_pg)]


@pytest.fixture(params=_databases())
def fuzz_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a fresh SQLite file, or a PostgreSQL database created for this test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fuzz.db'}"
        upgrade_database(url)
        yield url
        return
    base = normalize_url(os.environ[PG_ENV])
    name = f"prelabel_fuzz_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = base.rsplit("/", 1)[0] + "/" + name
        upgrade_database(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def live_server(fuzz_database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(fuzz_database_url, tmp_path)
    try:
        yield server
    finally:
        stop_server(server)
