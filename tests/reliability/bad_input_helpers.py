"""One in-process prelabel per database for the bad-input table: the real app over a real SQLite file and (with
PRELABEL_TEST_POSTGRES_URL) the real PostgreSQL database, each with an admin, a project with one single-choice
job and one asset, so that every case runs against both and their answers can be compared.

The app, its settings and the error-shape check are those of tests/api/conftest.py; only the pairing of the two
databases in one test is added here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import create_engine, func, select, text

from api.conftest import TWEETS_INTERFACE
from prelabel.api.app import create_app
from prelabel.client._transport import SyncOverAsyncTransport
from prelabel.config import Settings
from prelabel.service import assets, auth, projects
from prelabel.service.dto import AssetIn
from prelabel.store import tables as t
from prelabel.store.engine import Store, normalize_url

# Above the 10 MB text of the table, far below its 200 MB upload.
UPLOAD_LIMIT = 16_000_000
COUNTED = {
    "assets": t.Asset,
    "labels": t.Label,
    "predictions": t.Prediction,
    "model_versions": t.ModelVersion,
    "training_jobs": t.TrainingJob,
    "projects": t.Project,
}


@dataclass
class Env:
    """One database with its app, an admin's token, the project and its one asset (external id 'a')."""

    backend: str
    store: Store
    app: FastAPI
    raw: httpx.Client
    token: str
    project_id: int
    asset_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def counts(self) -> dict[str, int]:
        with self.store.transaction(read_only=True) as s:
            return {name: s.scalar(select(func.count()).select_from(table)) or 0 for name, table in COUNTED.items()}

    def project_title(self) -> str:
        with self.store.transaction(read_only=True) as s:
            return str(s.scalar(select(t.Project.title).where(t.Project.id == self.project_id)))


def truncated(postgres_url: str) -> str:
    """The (migrated) PostgreSQL database emptied, as tests/conftest.py's `db_url` does between tests."""
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        names = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'")
        ).scalars()
        conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE"))
    engine.dispose()
    return postgres_url


@contextmanager
def own_postgres_database(base_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this process's own, dropped afterwards: what a module-wide Env needs, as
    the tests between truncate the shared one."""
    base = normalize_url(base_url)
    name = f"prelabel_bad_input_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        store = Store(url)
        store.upgrade()
        store.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class _Open:
    env: Env
    transport: SyncOverAsyncTransport


def open_env(backend: str, url: str, data_dir: Path) -> _Open:
    """The app on `url` with the admin 'alice', her project 'Tweets' and its asset 'a' ("fire")."""
    store = Store(url)
    settings = Settings(
        database_url=url, data_dir=data_dir, environment="test", run_worker=False, max_upload_bytes=UPLOAD_LIMIT
    )
    app = create_app(settings, store=store)
    user = auth.create_user(store, "alice", "password-123")
    actor = auth.Actor(user_id=user.id, username=user.username)
    _, token = auth.create_token(store, actor, "tests")
    project = projects.create_project(store, actor, title="Tweets", interface=TWEETS_INTERFACE)
    assets.import_assets(store, actor, project.id, [AssetIn(external_id="a", content="fire")])
    asset = assets.get_asset_by_external_id(store, actor, project.id, "a")
    transport = SyncOverAsyncTransport(httpx.ASGITransport(app=app, raise_app_exceptions=False))
    raw = httpx.Client(base_url="http://testserver", transport=transport, timeout=120)
    return _Open(Env(backend, store, app, raw, token, project.id, asset.id), transport)


def close_env(opened: _Open) -> None:
    opened.env.raw.close()
    opened.transport.close()
    opened.env.store.dispose()


def envs_for(tmp_path: Path, sqlite_template: Path, postgres_url: str | None) -> Iterator[list[Env]]:
    """One Env on a copy of the migrated SQLite template and, given `postgres_url` (migrated, empty), one on
    PostgreSQL; closed afterwards."""
    sqlite_file = _mkdir(tmp_path / "sqlite") / "prelabel.db"
    shutil.copy(sqlite_template, sqlite_file)
    urls = {"sqlite": f"sqlite:///{sqlite_file}", **({"postgresql": postgres_url} if postgres_url else {})}
    opened: list[_Open] = []
    try:
        for backend, url in urls.items():
            opened.append(open_env(backend, url, _mkdir(tmp_path / backend / "data")))
        yield [o.env for o in opened]
    finally:
        for o in opened:
            close_env(o)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
