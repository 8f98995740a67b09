"""Predictions pushed from outside through the REST API and the SDK: numbered versions of a model family with
one name, and a push that says when labelers keep seeing the project's own model's suggestions."""

from __future__ import annotations

from typing import Any

from prelabel.service import models, predictions
from prelabel.store.engine import Store


def _pred(key: str, prob: float) -> dict[str, Any]:
    return {"JOB_0": {"categories": [{"name": key, "probability": prob}]}}


def test_a_push_reports_its_version_and_why_it_is_not_suggested(alice: Any, project_id: int, store: Store) -> None:
    c = alice.client
    c.import_assets(project_id, [{"external_id": "e1", "content": "a"}, {"external_id": "e2", "content": "b"}])
    items = [{"external_id": "e1", "json_response": _pred("DISASTER", 0.9)}]
    first = c.push_predictions_report(project_id, items, model_name="ext", new_version=True)
    assert (first["model_name"], first["note"], first["created"]) == ("ext-1", None, 1)
    assert c.get_asset_by_external_id(project_id, "e1").current_prediction.model_name == "ext-1"

    mv = models.create_model_version(store, project_id, name="automl", tier="fast")
    asset_ids = [a.id for a in c.iter_assets(project_id)]
    rows = [(a, _pred("NOT_DISASTER", 0.6), 0.6) for a in asset_ids]
    predictions.bulk_store_predictions(store, project_id, mv.id, rows)
    models.finish_model_version(store, mv.id, status="READY", metrics={})

    second = c.push_predictions_report(project_id, items, model_name="ext", new_version=True)
    assert second["model_name"] == "ext-3" and "suggestions_from=external" in second["note"]
    assert c.get_asset_by_external_id(project_id, "e1").current_prediction.model_name == "automl-2"
    assert c.create_predictions(project_id, ["e2"], [_pred("DISASTER", 0.8)], model_name="ext") == {
        "id": project_id,
        "created": 1,
    }
    c.update_project(project_id, settings={"suggestions_from": "external"})
    assert c.get_project(project_id).settings["suggestions_from"] == "external"
    assert c.get_asset_by_external_id(project_id, "e2").current_prediction.model_name == "ext-3"
