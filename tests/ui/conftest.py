"""Fixtures of the UI tests: the real app (`create_app`) on the real databases of tests/conftest.py, real
users and a project filled with real disaster tweets; `login` drives the real login form (CSRF included)."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from prelabel.api.app import create_app
from prelabel.config import Settings
from prelabel.service import auth, projects
from prelabel.service.assets import import_assets
from prelabel.service.auth import Actor
from prelabel.service.dto import AssetIn
from prelabel.store.engine import Store

PASSWORD = "correct horse battery"
INTERFACE = {
    "jobs": [
        {
            "name": "JOB_0",
            "input": "single",
            "categories": [
                {"key": "DISASTER", "name": "Disaster", "hotkey": "d"},
                {"key": "NOT_DISASTER", "name": "Not a disaster", "hotkey": "n"},
            ],
        }
    ]
}
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def tweets(datasets: Path, n: int) -> list[dict[str, str]]:
    """The first `n` rows of the disaster tweets training file."""
    with (datasets / "disaster_tweets" / "train.csv").open(newline="", encoding="utf-8") as f:
        rows = []
        for row in csv.DictReader(f):
            rows.append(row)
            if len(rows) == n:
                break
    return rows


@dataclass
class World:
    store: Store
    admin: Actor
    reviewer: Actor
    labeler: Actor
    outsider: Actor
    project_id: int
    other_project_id: int
    gold: dict[str, str]  # external id -> true category key


def make_actor(store: Store, username: str) -> Actor:
    user = auth.create_user(store, username, PASSWORD)
    return auth.get_actor(store, user.id)


@pytest.fixture
def world(store: Store, datasets: Path) -> World:
    admin = make_actor(store, "alice")
    reviewer = make_actor(store, "rita")
    labeler = make_actor(store, "leo")
    outsider = make_actor(store, "olga")
    project = projects.create_project(store, admin, title="Disaster tweets", interface=INTERFACE)
    projects.add_member(store, admin, project.id, username="rita", role="reviewer")
    projects.add_member(store, admin, project.id, username="leo", role="labeler")
    other = projects.create_project(store, outsider, title="Olga's secret project", interface=INTERFACE)
    rows = tweets(datasets, 30)
    import_assets(
        store,
        admin,
        project.id,
        [
            AssetIn(
                external_id=r["id"],
                content=r["text"],
                json_metadata={"keyword": r["keyword"], "location": r["location"]},
            )
            for r in rows
        ],
    )
    gold = {r["id"]: ("DISASTER" if r["target"] == "1" else "NOT_DISASTER") for r in rows}
    return World(store, admin, reviewer, labeler, outsider, project.id, other.id, gold)


@pytest.fixture
def app_client(store: Store) -> Iterator[TestClient]:
    settings = Settings(
        database_url=store.url, secret_key="test-secret-" + "x" * 32, environment="test", run_worker=False
    )
    app = create_app(settings, store=store)
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture
def client_factory(store: Store) -> Iterator[Callable[[], TestClient]]:
    """Independent browsers (separate cookie jars) on one app."""
    settings = Settings(
        database_url=store.url, secret_key="test-secret-" + "x" * 32, environment="test", run_worker=False
    )
    app = create_app(settings, store=store)
    clients: list[TestClient] = []

    def make() -> TestClient:
        c = TestClient(app, follow_redirects=False)
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    page = client.get("/login")
    assert page.status_code == 200
    r = client.post(
        "/login",
        data={"username": username, "password": password, "next": "/", "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 303, r.text
    home = client.get("/")
    assert home.status_code == 200
    return csrf_of(home.text)


@pytest.fixture(name="login")
def login_fixture() -> Callable[..., str]:
    return login
