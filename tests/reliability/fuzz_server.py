"""A real `prelabel serve` process on a seeded database, for the fuzzer to reach real rows.

The server runs without its background trainer: a trainer would write model versions and predictions while the
fuzzer reads them, so the same seed would not give the same responses, and on a small machine its model training
would take the CPU the requests need. The seeded predictions come from an external model version instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from prelabel.domain import Role
from prelabel.service import assets, auth, labels, predictions, projects, training
from prelabel.service.dto import AssetFilter, AssetIn, PredictionIn
from prelabel.store.engine import Store

STARTUP_S = 60.0

INTERFACE: dict[str, Any] = {
    "jobs": [
        {
            "name": "SENTIMENT",
            "input": "single",
            "instruction": "How does the author feel?",
            "categories": [{"key": "POSITIVE"}, {"key": "NEGATIVE"}, {"key": "NEUTRAL"}],
        },
        {
            "name": "TOPICS",
            "input": "multi",
            "required": False,
            "categories": [{"key": "SPORT"}, {"key": "POLITICS"}, {"key": "TECH"}],
        },
    ]
}
TEXTS = [
    "The match last night was a thriller, what a goal in the final minute",
    "Parliament votes on the new budget today; the opposition is furious",
    "My new phone's battery lasts two days, best purchase this year",
    "Traffic was terrible again and the train was cancelled",
    "The election debate turned into a shouting match about taxes",
    "Open-source compilers keep getting faster with every release",
    "Nothing special happened at work, just meetings",
    "Our team lost the cup final on penalties, heartbreaking",
    "The minister resigned after the data leak from the tax office",
    "This laptop overheats whenever I open more than three tabs",
    "Lovely weather for a run along the river",
    "The referee's decision was a disgrace and the league should act",
]


@dataclass
class Seed:
    """What the fuzzer is told about the seeded rows (ids go into its dictionaries)."""

    token: str
    project_id: int
    spare_project_id: int
    spare_token_id: int
    member_names: list[str]
    asset_ids: list[int]
    external_ids: list[str]
    label_ids: list[int]
    model_version_ids: list[int]
    job_ids: list[int]


@dataclass
class LiveServer:
    url: str
    database: str
    seed: Seed
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def upgrade_database(url: str) -> None:
    store = Store(url)
    try:
        store.upgrade()
    finally:
        store.dispose()


def seed_database(url: str) -> Seed:
    """A user with a token, admin of a project with a single- and a multi-choice job, its assets, labels,
    predictions and queued jobs; plus rows the fuzzer may destroy (a spare project and token) and members it
    may remove, so that deleting them leaves the main project and token working."""
    store = Store(url)
    try:
        user = auth.create_user(store, "fuzzer", "password-123")
        actor = auth.Actor(user_id=user.id, username=user.username)
        _, token = auth.create_token(store, actor, "schemathesis")
        spare_token, _ = auth.create_token(store, actor, "spare")
        project_id = projects.create_project(store, actor, title="Fuzzed", interface=INTERFACE).id
        spare_project_id = projects.create_project(store, actor, title="Spare", interface=INTERFACE).id
        members = _add_members(store, actor, project_id)
        records = [AssetIn(external_id=f"ext-{i}", content=content) for i, content in enumerate(TEXTS)]
        assets.import_assets(store, actor, project_id, records)
        items = assets.list_assets(store, actor, project_id, AssetFilter(), limit=100).items
        asset_ids = [a.id for a in items]
        label_ids = _label(store, actor, project_id, asset_ids[:4])
        version_id = _predict(store, actor, project_id, asset_ids[:8])
        jobs = training.request_training(store, actor, project_id, tier="fast", reason="api")
        return Seed(
            token=token,
            project_id=project_id,
            spare_project_id=spare_project_id,
            spare_token_id=spare_token.id,
            member_names=members,
            asset_ids=asset_ids,
            external_ids=[a.external_id for a in items],
            label_ids=label_ids,
            model_version_ids=[version_id],
            job_ids=[j.id for j in jobs],
        )
    finally:
        store.dispose()


def _add_members(store: Store, admin: auth.Actor, project_id: int) -> list[str]:
    names = []
    for name, role in (("lara", Role.LABELER), ("rene", Role.REVIEWER)):
        auth.create_user(store, name, "password-123")
        projects.add_member(store, admin, project_id, username=name, role=role)
        names.append(name)
    return names


def _label(store: Store, actor: auth.Actor, project_id: int, asset_ids: list[int]) -> list[int]:
    answers = [("POSITIVE", ["SPORT"]), ("NEGATIVE", ["POLITICS", "TECH"]), ("NEUTRAL", []), ("POSITIVE", ["TECH"])]
    ids = []
    for asset_id, (sentiment, topics) in zip(asset_ids, answers, strict=False):
        response = {
            "SENTIMENT": {"categories": [{"name": sentiment}]},
            "TOPICS": {"categories": [{"name": t} for t in topics]},
        }
        ids.append(labels.create_label(store, actor, project_id, asset_id, json_response=response).id)
    return ids


def _predict(store: Store, actor: auth.Actor, project_id: int, asset_ids: list[int]) -> int:
    items = [
        PredictionIn(
            asset_id=asset_id,
            json_response={
                "SENTIMENT": {"categories": [{"name": "NEGATIVE", "confidence": 40 + i}]},
                "TOPICS": {"categories": [{"name": "POLITICS", "probability": 0.6}, {"name": "TECH", "confidence": 5}]},
            },
        )
        for i, asset_id in enumerate(asset_ids)
    ]
    pushed = predictions.push_predictions(store, actor, project_id, items, model_name="external")
    assert pushed.model_version_id is not None
    return pushed.model_version_id


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _prelabel_command() -> str:
    beside = Path(sys.executable).with_name("prelabel")
    found = str(beside) if beside.exists() else shutil.which("prelabel")
    if found is None:
        pytest.fail("the `prelabel` command is not installed next to this Python; run `pip install -e .`")
    return found


def _wait_until_up(server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"prelabel serve exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"prelabel serve did not answer /health within {STARTUP_S:.0f} s:\n{server.log_tail()}")


def start_server(database_url: str, work: Path) -> LiveServer:
    """Seed the database and start `prelabel serve --no-worker` on it, in development mode (so /openapi.json is
    open); returns once /health answers."""
    seed = seed_database(database_url)
    port = _free_port()
    log_path = work / "server.log"
    env = {
        **os.environ,
        "PRELABEL_ENVIRONMENT": "development",
        "PRELABEL_DATA_DIR": str(work / "data"),
        "PRELABEL_LOG_LEVEL": "INFO",  # the access log shows which requests reached real rows
        "PRELABEL_LABEL_STUDIO_PREDICT_WAIT_S": "0",  # no trainer runs, so /predict must not wait for one
        "PRELABEL_MAX_UPLOAD_BYTES": "1000000",
    }
    command = [_prelabel_command(), "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--database-url", database_url]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = LiveServer(
        f"http://127.0.0.1:{port}", database_url.split(":", 1)[0].split("+")[0], seed, log_path, process
    )
    try:
        _wait_until_up(server)
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
