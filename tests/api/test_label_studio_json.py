"""Label Studio JSON import and export through the API and the CLI (tests/label_studio/ round-trips them through a
real Label Studio)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from prelabel.cli.main import app as cli
from prelabel.service import auth, labels, predictions, projects
from prelabel.service.assets import get_asset_by_external_id, import_assets
from prelabel.service.dto import AssetIn, PredictionIn
from prelabel.service.label_studio_schema import parse_label_config
from prelabel.store.engine import Store

INTERFACE = {"jobs": [
    {"name": "JOB_0", "input": "single", "instruction": "Is this tweet about a real disaster?", "categories": [
        {"key": "DISASTER", "name": "Disaster", "description": "A real emergency"},
        {"key": "NOT_DISASTER", "name": "Not a disaster"}]},
    {"name": "topics", "input": "multi", "required": False, "categories": [{"key": "FIRE"}, {"key": "FLOOD"}]},
]}


@pytest.fixture
def admin(store: Store) -> tuple[auth.Actor, str]:
    user = auth.create_user(store, "admin", "password-123")
    actor = auth.Actor(user.id, user.username)
    return actor, auth.create_token(store, actor, "t")[1]


def _project(store: Store, actor: auth.Actor, title: str = "P") -> int:
    return projects.create_project(store, actor, title=title, interface=INTERFACE).id


def _labeled_project(store: Store, actor: auth.Actor) -> int:
    pid = _project(store, actor)
    import_assets(store, actor, pid, [
        AssetIn(external_id="t1", content="Forest fire near La Ronge", json_metadata={"keyword": "fire"}),
        AssetIn(external_id="t2", content="What a lovely day"),
        AssetIn(external_id="t3", content="Flood warning"),
    ])
    t1 = get_asset_by_external_id(store, actor, pid, "t1").id
    labels.create_label(store, actor, pid, t1, seconds_to_label=4.0, json_response={
        "JOB_0": {"categories": [{"name": "DISASTER"}]}, "topics": {"categories": [{"name": "FIRE"}]}})
    t2 = get_asset_by_external_id(store, actor, pid, "t2").id
    labels.create_label(store, actor, pid, t2, json_response={"JOB_0": {"categories": [{"name": "NOT_DISASTER"}]}})
    predictions.create_predictions(store, actor, pid, [PredictionIn(external_id="t3", json_response={
        "JOB_0": {"categories": [{"name": "DISASTER", "probability": 0.75}],
                  "probabilities": {"DISASTER": 0.75, "NOT_DISASTER": 0.25}}})], model_name="bert")
    return pid


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_generated_config_maps_keys_through_aliases(raw: httpx.Client, store: Store, admin: Any) -> None:
    pid = _project(store, admin[0])
    config = raw.get(f"/api/v1/projects/{pid}/label-studio", headers=_headers(admin[1])).json()["label_config"]
    assert '<Choice value="Not a disaster" alias="NOT_DISASTER"/>' in config
    assert '<Header value="Is this tweet about a real disaster?"/>' in config
    assert parse_label_config(config).interface().model_dump()["jobs"][0]["categories"][0]["key"] == "DISASTER"


def test_export_writes_label_studio_tasks(raw: httpx.Client, store: Store, admin: Any) -> None:
    pid = _labeled_project(store, admin[0])
    r = raw.get(f"/api/v1/projects/{pid}/export", params={"format": "label-studio"}, headers=_headers(admin[1]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert 'filename="project-' in r.headers["content-disposition"] and ".json" in r.headers["content-disposition"]
    t1, t2, t3 = r.json()
    assert t1["data"] == {"text": "Forest fire near La Ronge", "keyword": "fire"}
    assert t1["meta"] == {"external_id": "t1"}
    assert t1["annotations"] == [{"lead_time": 4.0, "result": [
        {"from_name": "JOB_0", "to_name": "text", "type": "choices", "value": {"choices": ["DISASTER"]}},
        {"from_name": "topics", "to_name": "text", "type": "choices", "value": {"choices": ["FIRE"]}}]}]
    assert t2["predictions"] == [] and t3["annotations"] == []
    (pred,) = t3["predictions"]
    assert pred["model_version"] == "prelabel-bert-1" and pred["score"] == 0.75
    assert pred["result"][0]["value"] == {"choices": ["DISASTER"]}


def test_import_reads_label_studio_exports(raw: httpx.Client, store: Store, admin: Any) -> None:
    actor, token = admin
    pid = _project(store, actor)
    tasks = [
        {"id": 11, "data": {"text": "Quake!", "source": "tw"}, "meta": {}, "predictions": [3, 4], "annotations": [
            {"result": [{"from_name": "JOB_0", "type": "choices", "value": {"choices": ["NOT_DISASTER"]}}],
             "was_cancelled": False, "created_at": "2026-01-01T00:00:00Z"},
            {"result": [{"from_name": "JOB_0", "type": "choices", "value": {"choices": ["Disaster"]}}],
             "was_cancelled": False, "created_at": "2026-01-02T00:00:00Z"},
            {"result": [], "was_cancelled": True, "created_at": "2026-01-03T00:00:00Z"}]},
        {"data": {"text": "Sunny"}, "predictions": [{"model_version": "rules-v2", "score": 0.6, "result": [
            {"from_name": "JOB_0", "type": "choices", "value": {"choices": ["NOT_DISASTER"]}}]}]},
        {"text": "A bare task, as Label Studio also imports them", "source": "hand-made"},
    ]
    r = raw.post(f"/api/v1/projects/{pid}/assets", params={"format": "label-studio"}, headers=_headers(token),
                 json=tasks)
    assert r.status_code == 200, r.text
    counts = {k: r.json()[k] for k in ("created", "updated", "skipped", "labels_created")}
    assert counts == {"created": 3, "updated": 0, "skipped": 0, "labels_created": 1}
    quake = get_asset_by_external_id(store, actor, pid, "ls-11")
    assert quake.json_metadata == {"source": "tw"}
    assert quake.labels[0].json_response == {"JOB_0": {"categories": [{"name": "DISASTER"}]}}  # the newest
    sunny = next(a for a in raw.get(f"/api/v1/projects/{pid}/assets", headers=_headers(token)).json()["items"]
             if a["content"] == "Sunny")
    assert sunny["external_id"].startswith("h")
    assert sunny["current_prediction"]["model_name"] == "rules-v2-1"
    assert sunny["current_prediction"]["json_response"]["JOB_0"]["categories"][0]["probability"] == 0.6
    bare = next(a for a in raw.get(f"/api/v1/projects/{pid}/assets", headers=_headers(token)).json()["items"]
            if a["content"].startswith("A bare task"))
    assert bare["json_metadata"] == {"source": "hand-made"}
    again = raw.post(f"/api/v1/projects/{pid}/assets", params={"format": "label-studio", "on_conflict": "skip"},
                     headers=_headers(token), json=tasks[:1])
    assert again.json()["skipped"] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[{", "not valid JSON"),
        (b"[]", "JSON array of tasks"),
        (b'[{"data": {"body": "x"}}]', "task 1: data.text"),
        (b'[{"data": {"text": "x"}, "annotations": [{"result": [{"from_name": "JOB_0", "type": "choices", '
         b'"value": {"choices": ["Volcano"]}}]}]}]', "'Volcano'"),
    ],
)
def test_bad_label_studio_files_are_refused(
    raw: httpx.Client, store: Store, admin: Any, body: bytes, message: str
) -> None:
    pid = _project(store, admin[0])
    r = raw.post(f"/api/v1/projects/{pid}/assets", params={"format": "label-studio"}, content=body,
                 headers={**_headers(admin[1]), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert message in r.json()["error"]["message"]


def test_cli_round_trip(store: Store, db_url: str, admin: Any, tmp_path: Path) -> None:
    pid = _labeled_project(store, admin[0])
    copy = _project(store, admin[0], "Copy")
    runner = CliRunner()
    out = tmp_path / "ls.json"
    base = ["--user", "admin", "--database-url", db_url]
    r = runner.invoke(cli, ["export", "--project", str(pid), "--format", "label-studio", "-o", str(out), *base])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["import", str(out), "--project", str(copy), "--format", "label-studio", *base])
    assert r.exit_code == 0, r.output
    assert "3 created" in r.output and "2 labels" in r.output
    exported = json.loads(out.read_text())
    r = runner.invoke(cli, ["export", "--project", str(copy), "--format", "label-studio", *base])
    again = json.loads(r.stdout)
    # the answers survive (an import does not keep labeling times: lead_time is not read)
    assert [[a["result"] for a in t["annotations"]] for t in again] == [
        [a["result"] for a in t["annotations"]] for t in exported]
    assert [t["meta"] for t in again] == [t["meta"] for t in exported]
    r = runner.invoke(cli, ["label-studio", "config", "--project", str(pid), *base])
    assert r.exit_code == 0 and r.stdout.startswith("<View>")
    r = runner.invoke(cli, ["label-studio", "connect", "--project", str(pid), "--url", "http://pl:8000", *base])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip().startswith("http://pl:8000/label-studio/pl_")
    assert r.stdout.strip().endswith(f"/projects/{pid}/")
