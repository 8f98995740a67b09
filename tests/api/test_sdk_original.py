"""The original workflow's method names on the SDK: projects(), assets(first, skip, fields),
append_many_to_dataset(), create_predictions(), against the real app."""

from __future__ import annotations

from typing import Any

import pytest

from prelabel.client import ConflictError, InvalidRequestError


def test_append_many_and_assets_in_the_original_shape(alice: Any, project_id: int) -> None:
    c = alice.client
    n = 250
    out = c.append_many_to_dataset(
        project_id,
        content_array=[f"tweet {i}" for i in range(n)],
        external_id_array=[f"x{i:03d}" for i in range(n)],
        is_honeypot_array=[i == 0 for i in range(n)],
        json_metadata_array=[{"i": i} for i in range(n)],
    )
    assert out == {"id": project_id, "created": n, "updated": 0, "skipped": 0}
    with pytest.raises(ConflictError):
        c.append_many_to_dataset(project_id, ["again"], ["x000"])
    with pytest.raises(ValueError, match="external_id_array"):
        c.append_many_to_dataset(project_id, ["a", "b"], ["only-one"])

    first_asset = c.list_assets(project_id, limit=1).items[0]
    c.create_label(project_id, first_asset.id, {"JOB_0": {"categories": [{"name": "DISASTER"}]}})

    page = c.assets(project_id, first=100, skip=0)
    assert len(page) == 100
    a0 = page[0]
    assert a0["externalId"] == "x000" and a0["content"] == "tweet 0" and a0["isHoneypot"] is True
    assert a0["jsonMetadata"] == {"i": 0} and a0["status"] == "LABELED"
    assert a0["labels"][0]["labelType"] == "DEFAULT"
    assert a0["labels"][0]["jsonResponse"] == {"JOB_0": {"categories": [{"name": "DISASTER"}]}}
    assert a0["labels"][0]["author"]["username"] == "alice" and a0["labels"][0]["createdAt"]
    assert a0["currentPrediction"] is None
    # first/skip page over everything, not only the first 100.
    assert [a["externalId"] for a in c.assets(project_id, first=10, skip=245)] == [f"x{i}" for i in range(245, 250)]
    every = [a["externalId"] for a in c.assets(project_id, first=10_000)]
    assert every == [f"x{i:03d}" for i in range(n)]
    assert len(list(c.iter_assets(project_id, page_size=30))) == n

    slim = c.assets(project_id, first=2, fields=["id", "externalId", "labels.jsonResponse", "labels.labelType"])
    assert set(slim[0]) == {"id", "externalId", "labels"}
    assert slim[0]["labels"] == [
        {"labelType": "DEFAULT", "jsonResponse": {"JOB_0": {"categories": [{"name": "DISASTER"}]}}}
    ]
    assert slim[1]["labels"] == []
    assert [a["externalId"] for a in c.assets(project_id, status_in=["LABELED"])] == ["x000"]
    assert [a["externalId"] for a in c.assets(project_id, external_id_contains=["x007"])] == ["x007"]


def test_projects_in_the_original_shape(alice: Any, project_id: int) -> None:
    rows = alice.client.projects()
    assert [r["id"] for r in rows] == [project_id]
    p = alice.client.projects(project_id=project_id)[0]
    assert p["title"] == "Tweets"
    job = p["jsonInterface"]["jobs"]["JOB_0"]
    assert job["mlTask"] == "CLASSIFICATION" and job["content"]["input"] == "radio"
    assert list(job["content"]["categories"]) == ["DISASTER", "NOT_DISASTER"]
    assert alice.client.projects(project_id=project_id, fields=["id", "jsonInterface"])[0].keys() == {
        "id",
        "jsonInterface",
    }
    assert alice.client.projects(search_query="nothing like it") == []


def test_create_predictions_in_the_original_shape(alice: Any, project_id: int) -> None:
    c = alice.client
    c.append_many_to_dataset(project_id, ["a", "b", "c"], ["e1", "e2", "e3"])
    responses = [{"JOB_0": {"categories": [{"name": "DISASTER", "confidence": conf}]}} for conf in (91, 55, 70)]
    assert c.create_predictions(project_id, ["e1", "e2", "e3"], responses, model_name="automl-v1") == {
        "id": project_id,
        "created": 3,
    }
    rows = {a["externalId"]: a for a in c.assets(project_id)}
    pred = rows["e2"]["currentPrediction"]
    assert pred["modelName"].startswith("automl-v1")
    assert pred["jsonResponse"]["JOB_0"]["categories"][0]["confidence"] == 55
    with pytest.raises(ValueError, match="json_response_array"):
        c.create_predictions(project_id, ["e1"], [], model_name="m")
    with pytest.raises(ValueError, match="model_name"):
        c.create_predictions(project_id, ["e1"], responses[:1])
    with pytest.raises(InvalidRequestError):
        c.create_predictions(
            project_id,
            ["e1"],
            [{"JOB_0": {"categories": [{"name": "DISASTER", "confidence": 101}]}}],
            model_name="m",
        )
