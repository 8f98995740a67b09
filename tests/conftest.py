"""Shared fixtures: real databases only.

`store` is parametrized over a real SQLite file and, when PRELABEL_TEST_POSTGRES_URL is set (CI sets it to the
PostgreSQL server of this machine kind), a real PostgreSQL database. Each pytest process creates its own
PostgreSQL database (so parallel runs never collide), truncates it between tests and drops it at the end.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from prelabel.store.engine import Store, normalize_url
from samples import link_datasets

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_ENV = "PRELABEL_TEST_POSTGRES_URL"
SHARED = str(REPO_ROOT.parent / "shared") + os.sep


def _refuse_shared_files(event: str, args: tuple[object, ...]) -> None:
    """The suite must pass in a clone with nothing beside it: opening a file of ../shared fails the test."""
    if event == "open" and args and isinstance(args[0], str | bytes | os.PathLike):
        path = os.path.abspath(os.fsdecode(args[0]))
        if path.startswith(SHARED):
            raise PermissionError(f"a test opened {path}: tests use the data in tests/data/ (tests/samples.py)")


sys.addaudithook(_refuse_shared_files)


@pytest.fixture(scope="session")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real data sets the tests read, all from this repository (see tests/samples.py)."""
    return link_datasets(tmp_path_factory.mktemp("datasets"))


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    store.dispose()
    return path


@pytest.fixture(scope="session")
def _postgres_url() -> Iterator[str]:
    base = normalize_url(os.environ[PG_ENV])
    name = f"prelabel_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    store = Store(url)
    store.upgrade()
    store.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'")
            )
        ]
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL: a fresh SQLite file, or the per-session PostgreSQL database truncated."""
    if request.param == "sqlite":
        path = tmp_path / "prelabel.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("_postgres_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.dispose()
