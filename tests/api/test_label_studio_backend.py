"""The Label Studio ML backend protocol in-process (the real app over SQLite and PostgreSQL), with request bodies
shaped as Label Studio 1.23.2 sends them (recorded from a real instance); tests/label_studio/ runs a real one."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from prelabel.api.routes.label_studio import _RedactToken
from prelabel.service import auth, labels, predictions, projects
from prelabel.service.assets import get_asset_by_external_id, import_assets
from prelabel.service.dto import AssetIn, PredictionIn
from prelabel.store.engine import Store

CONFIG = (
    '<View><Text name="text" value="$text"/><Header value="Is this tweet about a real disaster?"/>'
    '<Choices name="disaster" toName="text" choice="single" required="true">'
    '<Choice value="Disaster"/><Choice value="Not a disaster" hint="Anything else"/></Choices>'
    '<Choices name="topics" toName="text" choice="multiple">'
    '<Choice value="Fire"/><Choice value="Flood"/></Choices></View>'
)
LS_PROJECT = {"id": 7, "created_at": "2026-12-07T09:39:47.227375Z", "label_config": CONFIG, "title": "Tweets"}
UID = "7.1796636387"


@pytest.fixture
def alice(store: Store) -> tuple[auth.Actor, str]:
    user = auth.create_user(store, "alice", "password-123")
    actor = auth.Actor(user.id, user.username)
    return actor, auth.create_token(store, actor, "label-studio")[1]


@pytest.fixture
def ls(raw: httpx.Client, alice: tuple[auth.Actor, str], settings: Any) -> httpx.Client:
    settings.label_studio_predict_wait_s = 0.0  # no worker runs here: do not wait for one
    raw.base_url = httpx.URL(f"http://testserver/label-studio/{alice[1]}/")
    return raw


def _task(tid: int, text: str, **extra: Any) -> dict[str, Any]:
    return {"id": tid, "data": {"text": text}, "meta": {}, "project": 7, "annotations": [], "predictions": [],
            **extra}


def _answer(choice: str, *topics: str, lead_time: float = 2.5) -> dict[str, Any]:
    result = [{"from_name": "disaster", "to_name": "text", "type": "choices", "value": {"choices": [choice]}}]
    if topics:
        result.append({"from_name": "topics", "to_name": "text", "type": "choices", "value": {"choices": list(topics)}})
    return {"id": 1, "result": result, "was_cancelled": False, "lead_time": lead_time, "task": 1}


def _setup(ls: httpx.Client, config: str = CONFIG) -> httpx.Response:
    return ls.post("setup", json={"project": UID, "schema": config, "hostname": "http://localhost:8080",
                                  "access_token": "ls-secret", "extra_params": None})


def _predict(ls: httpx.Client, tasks: list[dict[str, Any]]) -> httpx.Response:
    return ls.post("predict", json={"tasks": tasks, "project": UID, "label_config": CONFIG,
                                    "params": {"login": None, "password": None, "context": None}})


def _project_id(store: Store, actor: auth.Actor) -> int:
    (project,) = projects.list_projects(store, actor)
    return project.id


def test_health_checks_the_token(ls: httpx.Client, raw: httpx.Client) -> None:
    assert ls.get("health").json()["status"] == "UP"
    bad = raw.get("http://testserver/label-studio/pl_not-a-token/health")
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "unauthenticated"


def test_setup_creates_one_project_from_the_config(ls: httpx.Client, store: Store, alice: Any) -> None:
    r = _setup(ls)
    assert r.status_code == 200, r.text
    assert r.json() == {"model_version": "prelabel-untrained"}
    assert _setup(ls).status_code == 200
    (project,) = projects.list_projects(store, alice[0])
    disaster, topics = project.interface["jobs"]
    assert disaster["input"] == "single" and disaster["required"] is True
    assert disaster["instruction"] == "Is this tweet about a real disaster?"
    assert [(c["key"], c["name"], c["description"]) for c in disaster["categories"]] == [
        ("Disaster", "Disaster", ""), ("Not_a_disaster", "Not a disaster", "Anything else")]
    assert topics["input"] == "multi" and topics["required"] is False


def test_predict_imports_unknown_tasks_and_serves_current_predictions(
    ls: httpx.Client, store: Store, alice: Any
) -> None:
    actor = alice[0]
    annotated = _task(2, "Flooding downtown", annotations=[_answer("Disaster", "Flood")])
    r = _predict(ls, [_task(1, "Forest fire near La Ronge"), annotated,
                      _task(3, "What a lovely day", meta={"external_id": "mine-3"})])
    assert r.status_code == 200, r.text
    assert r.json() == {"results": []}  # nothing predicted yet: Label Studio stores nothing and asks again
    pid = _project_id(store, actor)
    flooded = get_asset_by_external_id(store, actor, pid, "ls-2")
    assert flooded.labels[0].json_response == {"disaster": {"categories": [{"name": "Disaster"}]},
                                               "topics": {"categories": [{"name": "Flood"}]}}
    assert get_asset_by_external_id(store, actor, pid, "mine-3").content == "What a lovely day"

    predictions.create_predictions(store, actor, pid, [
        PredictionIn(external_id="ls-1", json_response={
            "disaster": {"categories": [{"name": "Disaster", "probability": 0.9}],
                         "probabilities": {"Disaster": 0.9, "Not_a_disaster": 0.1}},
            "topics": {"categories": [{"name": "Fire", "probability": 0.8}],
                       "probabilities": {"Fire": 0.8, "Flood": 0.3}}}),
    ], model_name="bert")
    assert _setup(ls).json() == {"model_version": "prelabel-bert-1"}
    one, two, three = _predict(ls, [_task(1, "Forest fire near La Ronge"), annotated, _task(3, "x")]).json()["results"]
    assert one == {
        "result": [
            {"from_name": "disaster", "to_name": "text", "type": "choices", "value": {"choices": ["Disaster"]},
             "score": 0.9},
            {"from_name": "topics", "to_name": "text", "type": "choices", "value": {"choices": ["Fire"]},
             "score": 0.7},
        ],
        "score": 0.7,  # the least sure decision: "Flood" is 0.3, so not-Flood is 0.7
        "model_version": "prelabel-bert-1",
    }
    assert two == three == {"result": [], "score": 0.0, "model_version": "prelabel-pending"}


def test_predict_refuses_bad_tasks(ls: httpx.Client) -> None:
    r = _predict(ls, [{"id": 1, "data": {"body": "no text field"}}])
    assert r.status_code == 422
    assert "data.text" in r.json()["error"]["message"]
    assert _predict(ls, []).status_code == 422
    r = ls.post("predict", json={"tasks": "nope", "project": UID, "label_config": CONFIG})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"


def _hook(ls: httpx.Client, action: str, **payload: Any) -> httpx.Response:
    return ls.post("webhook", json={"action": action, "project": LS_PROJECT, **payload})


def test_annotation_events_become_labels(ls: httpx.Client, store: Store, alice: Any) -> None:
    actor = alice[0]
    r = _hook(ls, "ANNOTATION_CREATED", annotation=_answer("Disaster", lead_time=3.5), task=_task(1, "Fire!"))
    assert r.status_code == 200 and r.json()["labels"] == 1, r.text
    pid = _project_id(store, actor)
    asset = get_asset_by_external_id(store, actor, pid, "ls-1")
    assert asset.status == "LABELED" and asset.labels[0].seconds_to_label == 3.5
    _hook(ls, "ANNOTATION_UPDATED", annotation=_answer("Not a disaster"), task=_task(1, "Fire!"))
    skipped = {**_answer("Disaster"), "was_cancelled": True}
    assert _hook(ls, "ANNOTATION_CREATED", annotation=skipped, task=_task(1, "Fire!")).json()["labels"] == 0
    newest = get_asset_by_external_id(store, actor, pid, "ls-1").labels[0]
    assert newest.json_response["disaster"] == {"categories": [{"name": "Not_a_disaster"}]}

    bulk = _hook(ls, "ANNOTATIONS_CREATED", annotation=[{**_answer("Disaster"), "task": 2},
                                                        {**_answer("Disaster", "Fire"), "task": 3}],
                 task=[_task(2, "Quake"), _task(3, "Wildfire")])
    assert bulk.json()["labels"] == 2
    assert len(labels.list_labels(store, actor, pid)) == 4

    wrong = _hook(ls, "ANNOTATION_CREATED", annotation=_answer("Volcano"), task=_task(1, "Fire!"))
    assert wrong.status_code == 422 and "'Volcano'" in wrong.json()["error"]["message"]
    assert _hook(ls, "PROJECT_UPDATED").json() == {"status": "ignored", "action": "PROJECT_UPDATED"}


def test_tasks_created_and_start_training(ls: httpx.Client, store: Store, alice: Any) -> None:
    r = _hook(ls, "TASKS_CREATED", tasks=[_task(1, "Fire!"), _task(2, "Sunny")])
    assert r.json()["assets"] == 2, r.text
    too_few = _hook(ls, "START_TRAINING")
    assert too_few.status_code == 422 and "labeled asset" in too_few.json()["error"]["message"]
    for tid, choice in ((1, "Disaster"), (2, "Not a disaster")):
        _hook(ls, "ANNOTATION_CREATED", annotation=_answer(choice), task=_task(tid, "t"))
    started = _hook(ls, "START_TRAINING").json()
    assert started["status"] == "ok" and len(started["training_jobs"]) == 2


def test_config_changes_follow_label_studio_unless_labels_would_break(
    ls: httpx.Client, store: Store, alice: Any
) -> None:
    _setup(ls)
    more = CONFIG.replace('<Choice value="Flood"/>', '<Choice value="Flood"/><Choice value="Storm"/>')
    assert _setup(ls, more).status_code == 200
    (project,) = projects.list_projects(store, alice[0])
    assert [c["key"] for c in project.interface["jobs"][1]["categories"]] == ["Fire", "Flood", "Storm"]
    r = ls.post("webhook", json={"action": "ANNOTATION_CREATED", "project": {**LS_PROJECT, "label_config": more},
                                 "annotation": _answer("Disaster", "Storm"), "task": _task(1, "t")})
    assert r.json()["labels"] == 1, r.text
    fewer = CONFIG  # without Storm, which a label now uses
    r = _setup(ls, fewer)
    assert r.status_code == 422 and "'Storm'" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('<View><Text name="t" value="$text"/></View>', "no <Choices>"),
        ('<View><Image name="i" value="$img"/><Choices name="c" toName="i"><Choice value="a"/>'
         '<Choice value="b"/></Choices></View>', "not a <Text"),
        ('<View><Text name="a" value="$a"/><Text name="b" value="$b"/><Choices name="x" toName="a">'
         '<Choice value="1"/><Choice value="2"/></Choices><Choices name="y" toName="b"><Choice value="1"/>'
         '<Choice value="2"/></Choices></View>', "same <Text>"),
        ("<View><Text", "not valid XML"),
        ('<!DOCTYPE x [<!ENTITY a "aaaa">]><View/>', "DOCTYPE"),
    ],
)
def test_unsupported_configs_are_refused_with_the_reason(ls: httpx.Client, config: str, message: str) -> None:
    r = _setup(ls, config)
    assert r.status_code == 422
    assert message in r.json()["error"]["message"]


def test_a_url_naming_a_project_links_that_project(
    ls: httpx.Client, store: Store, alice: Any, raw: httpx.Client
) -> None:
    actor, token = alice
    mine = projects.create_project(store, actor, title="Mine", interface={"jobs": [
        {"name": "disaster", "input": "single", "categories": [{"key": "Disaster"}, {"key": "Not_a_disaster"}]},
        {"name": "topics", "input": "multi", "required": False, "categories": [{"key": "Fire"}, {"key": "Flood"}]},
    ]})
    import_assets(store, actor, mine.id, [AssetIn(external_id="ls-1", content="Fire!")])
    base = f"http://testserver/label-studio/{token}/projects/{mine.id}/"
    assert raw.post(base + "setup", json={"project": UID, "schema": CONFIG}).status_code == 200
    assert len(projects.list_projects(store, actor)) == 1  # no new project
    link = raw.get(f"http://testserver/api/v1/projects/{mine.id}/label-studio",
                   headers={"Authorization": f"Bearer {token}"}).json()
    assert link["connection"]["ls_project"] == UID and link["label_config"] == CONFIG
    other = raw.post(base + "setup", json={"project": "8.1796636999", "schema": CONFIG})
    assert other.status_code == 409 and "disconnect it first" in other.json()["error"]["message"]
    # without a project in the URL, the Label Studio project finds its link
    assert ls.post("setup", json={"project": UID, "schema": CONFIG}).status_code == 200
    assert len(projects.list_projects(store, actor)) == 1
    gone = raw.delete(f"http://testserver/api/v1/projects/{mine.id}/label-studio",
                      headers={"Authorization": f"Bearer {token}"})
    assert gone.json() == {"disconnected": True}


def test_the_token_needs_admin_rights_on_the_project(store: Store, alice: Any, raw: httpx.Client) -> None:
    actor, _ = alice
    project = projects.create_project(store, actor, title="P", interface={"jobs": [
        {"name": "disaster", "categories": [{"key": "Disaster"}, {"key": "Not_a_disaster"}]}]})
    bob = auth.create_user(store, "bob", "password-123")
    bob_actor = auth.Actor(bob.id, bob.username)
    projects.add_member(store, actor, project.id, username="bob", role="labeler")
    token = auth.create_token(store, bob_actor, "ls")[1]
    r = raw.post(f"http://testserver/label-studio/{token}/projects/{project.id}/setup",
                 json={"project": UID, "schema": CONFIG})
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"


def test_tokens_are_redacted_from_access_logs() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "POST", "/label-studio/pl_secret123/predict", "1.1", 200), None)
    _RedactToken().filter(record)
    assert "pl_secret123" not in record.getMessage()
    assert "/label-studio/***/predict" in record.getMessage()
