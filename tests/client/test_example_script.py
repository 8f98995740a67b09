"""examples/original_workflow.py end to end: a real server (uvicorn on 127.0.0.1, free port) over a real
database, the script run as a separate process with --once."""

from __future__ import annotations

import csv
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from prelabel.api.app import create_app
from prelabel.client import Client
from prelabel.config import Settings
from prelabel.service import auth, models, predictions
from prelabel.store.engine import Store

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "original_workflow.py"
INTERFACE = {
    "jobs": [
        {
            "name": "JOB_0",
            "input": "single",
            "categories": [{"key": "DISASTER", "hotkey": "1"}, {"key": "NOT_DISASTER", "hotkey": "2"}],
        }
    ]
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(db_url: str, store: Store, tmp_path: Path) -> Iterator[str]:
    settings = Settings(database_url=db_url, data_dir=tmp_path, environment="test", run_worker=False)
    app = create_app(settings, store=store)
    port = _free_port()
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _tweets(datasets: Path, n: int) -> list[dict[str, str]]:
    with open(datasets / "disaster_tweets" / "train.csv", encoding="utf-8", newline="") as fh:
        return [row for _, row in zip(range(n), csv.DictReader(fh), strict=False)]


@pytest.mark.slow
def test_original_workflow_once_against_a_real_server(
    server: str, store: Store, datasets: Path, tmp_path: Path
) -> None:
    user = auth.create_user(store, "scripter", "password-123")
    _, token = auth.create_token(store, auth.Actor(user.id, user.username), "example")
    rows = _tweets(datasets, 140)
    labeled, rest, to_append = rows[:40], rows[40:120], rows[120:]
    with Client(server, token) as client:
        pid = client.create_project("Disaster tweets", INTERFACE).id
        client.append_many_to_dataset(
            pid, [r["text"] for r in labeled + rest], [f"train-{r['id']}" for r in labeled + rest]
        )
        by_ext = {a.external_id: a.id for a in client.iter_assets(pid)}
        for r in labeled:
            cat = "DISASTER" if r["target"] == "1" else "NOT_DISASTER"
            client.create_label(pid, by_ext[f"train-{r['id']}"], {"JOB_0": {"categories": [{"name": cat}]}})
        # A reviewer's correction must win over the labeler's label.
        first = labeled[0]
        wrong = "NOT_DISASTER" if first["target"] == "1" else "DISASTER"
        client.create_label(
            pid,
            by_ext[f"train-{first['id']}"],
            {"JOB_0": {"categories": [{"name": wrong}]}},
            label_type="REVIEW",
        )

    csv_path = tmp_path / "test_tweets.csv"
    with open(csv_path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "keyword", "location", "text"])
        w.writeheader()
        for r in to_append:
            w.writerow({k: r[k] for k in ("id", "keyword", "location", "text")})

    cmd = [
        sys.executable,
        str(SCRIPT),
        "--url",
        server,
        "--token",
        token,
        "--project",
        str(pid),
        "--once",
        "--budget",
        "3",
        "--import-csv",
        str(csv_path),
        "--id-prefix",
        "test-",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "appended 20 new assets" in done.stdout
    assert "'trained': True" in done.stdout, done.stdout

    with Client(server, token) as client:
        unlabeled = list(client.iter_assets(pid, labeled=False))
        assert len(unlabeled) == 100  # 80 train + 20 appended test tweets
        confidences = set()
        for asset in unlabeled:
            pred = asset.current_prediction
            assert pred is not None, asset.external_id
            assert pred.model_name == "example-automl-1"  # one name: the version's and its predictions
            job = pred.json_response["JOB_0"]
            assert abs(sum(job["probabilities"].values()) - 1.0) < 1e-6
            confidences.add(job["categories"][0]["confidence"])
        assert confidences != {100}, "probabilities must come from the classifier, not a constant"
        assert all(a.current_prediction is None for a in client.iter_assets(pid, labeled=True))

        # A second round gets the next version name: the counter lives on the server, not in the loop.
        again = subprocess.run(cmd[: cmd.index("--import-csv")], capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
        versions = client.list_model_versions(pid)
        assert sorted(mv.display_name for mv in versions) == ["example-automl-1", "example-automl-2"]
        assert {(mv.name, mv.tier) for mv in versions} == {("example-automl", "external")}
        asset = client.get_asset(pid, unlabeled[0].id)
        assert asset.current_prediction is not None
        assert asset.current_prediction.model_name == "example-automl-2"

        # Once the project's own trainer has a model, its suggestions stay current: the script's model is an
        # external one, kept and listed, and the script says why its predictions are not what labelers see.
        trained = _trainer_version(store, pid, [a.id for a in unlabeled])
        third = subprocess.run(cmd[: cmd.index("--import-csv")], capture_output=True, text=True, timeout=300)
        assert third.returncode == 0, third.stderr[-3000:]
        assert "suggestions_from=external" in third.stdout and trained in third.stdout
        asset = client.get_asset(pid, unlabeled[0].id)
        assert asset.current_prediction is not None and asset.current_prediction.model_name == trained
        assert len(client.list_predictions(pid, asset_id=unlabeled[0].id)) == 4  # every push is kept
        client.update_project(pid, settings={"suggestions_from": "external"})
        asset = client.get_asset(pid, unlabeled[0].id)
        assert asset.current_prediction is not None
        assert asset.current_prediction.model_name == "example-automl-4"  # number 3 is the trainer's


def _trainer_version(store: Store, project_id: int, asset_ids: list[int]) -> str:
    """A READY fast version as the trainer writes one (its display name), predicting NOT_DISASTER everywhere."""
    mv = models.create_model_version(store, project_id, name="automl", tier="fast")
    response = {"JOB_0": {"categories": [{"name": "NOT_DISASTER", "probability": 0.6}]}}
    predictions.bulk_store_predictions(store, project_id, mv.id, [(a, response, 0.6) for a in asset_ids])
    models.finish_model_version(store, mv.id, status="READY", metrics={})
    return mv.display_name
