"""The loop's HTTP routes on the real app in-process: train now, status, jobs, queue with leases, review."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from loophelpers import World, label, make_world, topic_corpus

from prelabel.api.app import create_app
from prelabel.config import Settings
from prelabel.service.auth import create_token
from prelabel.store.engine import Store
from prelabel.worker.trainer import Trainer


@pytest.fixture
def world(store: Store) -> World:
    texts, _ = topic_corpus(40)
    return make_world(store, texts)


@pytest.fixture
def client(store: Store, db_url: str, tmp_path: Path) -> TestClient:
    settings = Settings(database_url=db_url, data_dir=tmp_path, environment="test", run_worker=False)
    return TestClient(create_app(settings, store=store))


def _h(store: Store, who: object) -> dict[str, str]:
    _, secret = create_token(store, who, "t")  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {secret}"}


def test_train_now_status_and_jobs(world: World, client: TestClient) -> None:
    admin, lab = _h(world.store, world.admin), _h(world.store, world.labeler)
    pid = world.project_id
    r = client.post(f"/api/v1/projects/{pid}/training", json={"tier": "fast"}, headers=admin)
    assert r.status_code == 422 and "Label some assets first" in r.json()["error"]["message"]
    for i, aid in enumerate(world.asset_ids[:10]):
        label(world, aid, ["SPORT", "TECH", "POLITICS"][i % 3])
    r = client.post(f"/api/v1/projects/{pid}/training", json={"tier": "fast"}, headers=lab)
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    r = client.post(f"/api/v1/projects/{pid}/training", json={"tier": "fast"}, headers=admin)
    assert r.status_code == 202
    (job,) = r.json()
    assert job["status"] == "QUEUED" and job["tier"] == "fast"
    status = client.get(f"/api/v1/projects/{pid}/training", headers=lab).json()
    assert status["n_labeled"] == 10 and [j["id"] for j in status["active_jobs"]] == [job["id"]]
    assert status["latest_ready_version"] is None
    Trainer(world.store, schedule=False).run_until_idle()
    got = client.get(f"/api/v1/projects/{pid}/training/jobs/{job['id']}", headers=lab).json()
    assert got["status"] == "SUCCEEDED" and got["progress"] == 1.0 and got["model_version_id"]
    status = client.get(f"/api/v1/projects/{pid}/training", headers=lab).json()
    assert status["latest_ready_version"] == "automl-1" and status["active_jobs"] == []
    assert status["labels_needed"] == 5  # train_min_new_labels
    jobs = client.get(f"/api/v1/projects/{pid}/training/jobs", headers=lab).json()
    assert [j["id"] for j in jobs] == [job["id"]]
    assert client.get(f"/api/v1/projects/{pid}/training/jobs/999", headers=lab).status_code == 404
    acc = client.get(f"/api/v1/projects/{pid}/training/acceptance", headers=lab)
    assert acc.status_code == 200 and acc.json()[0]["display_name"] == "automl-1"


def _leased(store: Store, project_id: int) -> int:
    from sqlalchemy import func, select

    from prelabel.store import tables as t

    with store.transaction(read_only=True) as s:
        return int(
            s.scalar(
                select(func.count()).where(t.Asset.project_id == project_id, t.Asset.lease_expires_at.is_not(None))
            )
            or 0
        )


def test_queue_over_http(world: World, client: TestClient) -> None:
    lab, lab2 = _h(world.store, world.labeler), _h(world.store, world.labeler2)
    pid = world.project_id
    a = client.post(f"/api/v1/projects/{pid}/queue/next", headers=lab)
    b = client.post(f"/api/v1/projects/{pid}/queue/next", headers=lab2)
    assert a.status_code == b.status_code == 200 and a.json()["id"] != b.json()["id"]
    assert client.post(f"/api/v1/projects/{pid}/queue/next", headers=lab).json()["id"] == a.json()["id"]
    r = client.post(f"/api/v1/projects/{pid}/queue/{a.json()['id']}/release", headers=lab2)
    assert r.status_code == 409
    assert client.post(f"/api/v1/projects/{pid}/queue/{a.json()['id']}/skip", headers=lab).status_code == 204
    assert client.post(f"/api/v1/projects/{pid}/queue/next?lease_seconds=0", headers=lab).status_code == 422
    for aid in world.asset_ids:
        label(world, aid, "SPORT")
    assert client.post(f"/api/v1/projects/{pid}/queue/next", headers=lab).status_code == 204
    assert client.get(f"/api/v1/projects/{pid}/review", headers=lab).status_code == 403
    page = client.get(f"/api/v1/projects/{pid}/review", headers=_h(world.store, world.reviewer)).json()
    assert page == {"items": [], "next_cursor": None}
    assert client.post(f"/api/v1/projects/{pid}/queue/next").status_code == 401


def test_getting_the_next_asset_is_405_and_leases_nothing(world: World, client: TestClient) -> None:
    """Taking the next asset leases it (a state change): GET refuses, naming POST, and leaves the queue as it was."""
    lab = _h(world.store, world.labeler)
    pid = world.project_id
    for query in ("", "?lease_seconds=60"):
        r = client.get(f"/api/v1/projects/{pid}/queue/next{query}", headers=lab)
        assert r.status_code == 405, r.text
        assert r.headers["allow"] == "POST"
        err = r.json()["error"]
        assert err["code"] == "method_not_allowed" and "POST" in err["message"], err
    assert _leased(world.store, pid) == 0
    assert client.get(f"/api/v1/projects/{pid}/queue/next").status_code == 405  # without a token too
    r = client.options(f"/api/v1/projects/{pid}/queue/next")
    assert r.status_code == 204 and r.headers["allow"] == "POST, OPTIONS"
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/api/v1/projects/{project_id}/queue/next"]) == {"post"}
    assert client.post(f"/api/v1/projects/{pid}/queue/next", headers=lab).status_code == 200
    assert _leased(world.store, pid) == 1
