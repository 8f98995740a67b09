"""Label Studio interop against a real Label Studio 1.23.2 and a real prelabel server (see conftest.py).

Behaviour only, with generous deadlines: `prelabel bench label-studio` measures the timings."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from prelabel.automl.embeddings import embeddings_available
from prelabel.bench.label_studio import (
    CHOICE,
    Prelabel,
    annotate,
    connect,
    create_project,
    demo_tasks,
    import_tasks,
    newest_predictions,
    prelabel_versions,
    retrieve_predictions,
    version_number,
    wait_for_versions,
)

pytestmark = pytest.mark.slow
DEADLINE = 120.0


def _linked_project(pl: httpx.Client, ls_project_id: int) -> dict[str, Any]:
    """The prelabel project the trainer created for a Label Studio project on first contact."""
    (project,) = [p for p in pl.get("/projects").json() if p["title"] == f"Label Studio project {ls_project_id}"]
    return project


def _labels(pl: httpx.Client, project_id: int) -> list[dict[str, Any]]:
    return list(pl.get(f"/projects/{project_id}/labels", params={"limit": 1000}).json())


def _check_prediction(pred: dict[str, Any]) -> None:
    assert version_number(pred["model_version"]) is not None, pred
    assert 0.0 <= pred["score"] <= 1.0
    (item,) = pred["result"]
    assert item["from_name"] == "disaster" and item["type"] == "choices"
    assert item["value"]["choices"][0] in CHOICE.values()
    assert 0.0 <= item["score"] <= 1.0


def test_a_connected_project_gets_predictions_and_its_annotations_retrain(
    ls: httpx.Client, pl: httpx.Client, prelabel: Prelabel
) -> None:
    ls_pid = create_project(ls, "ML backend")
    tasks = demo_tasks(30, seed=1)
    ids = import_tasks(ls, ls_pid, [t for t, _ in tasks])
    answers = {tid: CHOICE[a] for tid, (_, a) in zip(ids, tasks, strict=True)}
    backend = connect(ls, ls_pid, prelabel.backend_url())
    assert backend["state"] == "CO", backend  # Label Studio checked /health and /setup
    project = _linked_project(pl, ls_pid)
    (job,) = project["interface"]["jobs"]
    assert (job["name"], job["input"], job["required"]) == ("disaster", "single", True)
    assert job["instruction"] == "Is this tweet about a real disaster?"
    assert [c["key"] for c in job["categories"]] == ["Disaster", "Not_a_disaster"]

    if embeddings_available():  # before any annotation only the zero-shot tier can predict
        assert wait_for_versions(ls, ls_pid, ids, lambda v: v > 0, timeout=DEADLINE), prelabel.log.read_text()[-3000:]
        for pred in newest_predictions(ls, ls_pid).values():
            _check_prediction(pred)
    assets = pl.get(f"/projects/{project['id']}/assets", params={"limit": 100}).json()["items"]
    assert len(assets) == 30 or not embeddings_available()

    for tid in ids[:10]:
        annotate(ls, tid, answers[tid], lead_time=3.0)
    labels = _labels(pl, project["id"])
    assert len(labels) == 10 and {lb["seconds_to_label"] for lb in labels} == {3.0}
    trained = wait_for_versions(
        ls, ls_pid, ids, lambda v: prelabel_versions(prelabel)[v]["n_labels"] >= 10, timeout=DEADLINE
    )
    assert trained is not None, prelabel.log.read_text()[-3000:]
    current = f"prelabel-automl-{trained[1]}"
    for pred in newest_predictions(ls, ls_pid).values():
        _check_prediction(pred)

    # a labeler opening the next task in the label stream gets the current version's prediction
    nxt = ls.get(f"/api/projects/{ls_pid}/next").json()
    assert nxt["predictions"] and nxt["predictions"][-1]["model_version"] == current

    # an annotation corrected in Label Studio is the label that counts in prelabel
    (ann,) = ls.get(f"/api/tasks/{ids[0]}/annotations").json()
    flipped = next(c for c in CHOICE.values() if c != answers[ids[0]])
    ann["result"][0]["value"]["choices"] = [flipped]
    assert ls.patch(f"/api/annotations/{ann['id']}", json={"result": ann["result"]}).status_code == 200
    asset = pl.get(f"/projects/{project['id']}/assets/by-external-id/ls-{ids[0]}").json()
    assert asset["labels"][0]["json_response"]["disaster"]["categories"][0]["name"] == flipped.replace(" ", "_")

    # Label Studio's "Start training" button queues training jobs
    assert ls.post(f"/api/ml/{backend['id']}/train").status_code == 200
    reasons = [j["reason"] for j in pl.get(f"/projects/{project['id']}/training/jobs").json()]
    assert "label-studio" in reasons

    for tid in ids[10:20]:
        annotate(ls, tid, answers[tid])
    fresher = wait_for_versions(
        ls, ls_pid, ids, lambda v: prelabel_versions(prelabel)[v]["n_labels"] >= 20, timeout=DEADLINE
    )
    assert fresher is not None and fresher[1] > trained[1]


def test_label_studio_json_round_trips_through_a_real_label_studio(
    ls: httpx.Client, pl: httpx.Client, prelabel: Prelabel
) -> None:
    # a prelabel project with labels and a prediction
    interface = {"jobs": [{"name": "JOB_0", "input": "single", "categories": [
        {"key": "DISASTER", "name": "Disaster"}, {"key": "NOT_DISASTER", "name": "Not a disaster"}]}]}
    src = pl.post("/projects", json={"title": "Round trip", "interface": interface}).json()["id"]
    rows = [{"external_id": f"tw-{i}", "content": t["data"]["text"], "json_metadata": {"n": i},
             "label": {"JOB_0": {"categories": [{"name": a}]}} if i < 4 else None}
            for i, (t, a) in enumerate(demo_tasks(6, seed=2))]
    assert pl.post(f"/projects/{src}/assets", json=rows).status_code == 200
    response = {"JOB_0": {"categories": [{"name": "DISASTER", "probability": 0.8}],
                          "probabilities": {"DISASTER": 0.8, "NOT_DISASTER": 0.2}}}
    assert pl.post(f"/projects/{src}/predictions", json={"model_name": "bert", "items": [
        {"external_id": "tw-5", "json_response": response}]}).status_code in (200, 201)

    # into a Label Studio project made with prelabel's labeling config
    config = pl.get(f"/projects/{src}/label-studio").json()["label_config"]
    ls_pid = create_project(ls, "Round trip", config)
    exported = pl.get(f"/projects/{src}/export", params={"format": "label-studio"}).json()
    imported = ls.post(f"/api/projects/{ls_pid}/import", json=exported).json()
    assert (imported["task_count"], imported["annotation_count"], imported["prediction_count"]) == (6, 4, 1)
    (pred,) = ls.get("/api/predictions", params={"project": ls_pid}).json()
    assert (pred["model_version"], pred["score"]) == ("prelabel-bert-1", 0.8)

    # out of Label Studio and back into a new prelabel project
    back = ls.get(f"/api/projects/{ls_pid}/export", params={"exportType": "JSON", "download_all_tasks": "true"})
    dst = pl.post("/projects", json={"title": "Back", "interface": interface}).json()["id"]
    r = pl.post(f"/projects/{dst}/assets", params={"format": "label-studio"}, content=back.content,
                headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 6 and r.json()["labels_created"] == 4

    def summary(pid: int) -> list[tuple[Any, ...]]:
        items = pl.get(f"/projects/{pid}/assets", params={"limit": 100}).json()["items"]
        return sorted((a["external_id"], a["content"], a["json_metadata"],
                       [lb["json_response"] for lb in a["labels"]]) for a in items)

    assert summary(dst) == summary(src)

    # connecting that Label Studio project to the original prelabel project (the URL names it): its tasks carry
    # their external ids in meta, so they are the project's assets, not new ones
    assert connect(ls, ls_pid, prelabel.backend_url(src))["model_version"] == "prelabel-bert-1"
    retrieve_predictions(ls, ls_pid)
    assert len(pl.get(f"/projects/{src}/assets", params={"limit": 100}).json()["items"]) == 6
    link = pl.get(f"/projects/{src}/label-studio").json()["connection"]
    assert link["ls_project"].startswith(f"{ls_pid}.")
