"""Safe defaults over HTTP and the SDK: CSV exports escape formulas unless told not to, and the predictions list
hides model versions that are not READY unless asked (real app, real databases)."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from prelabel.domain import ModelStatus
from prelabel.service import models, predictions
from prelabel.store.engine import Store

INTERFACE = {"jobs": [{"name": "JOB_0", "categories": [{"key": "DISASTER"}, {"key": "NOT_DISASTER"}]}]}
TEXTS = {"f": '=HYPERLINK("http://x","y")', "c": "+cmd|' /C calc'!A0", "q": "'=x", "p": "plain"}


def _get(raw: httpx.Client, token: str, path: str, **params: str) -> httpx.Response:
    return raw.get(f"/api/v1{path}", params=params, headers={"Authorization": f"Bearer {token}"})


def _contents(data: str) -> dict[str, str]:
    return {r["external_id"]: r["content"] for r in csv.DictReader(io.StringIO(data, newline=""))}


def test_csv_export_escapes_by_default_and_reimports_losslessly(alice: Any, project_id: int, raw: httpx.Client) -> None:
    c = alice.client
    c.import_assets(project_id, [{"external_id": k, "content": v, "json_metadata": {"v": v}} for k, v in TEXTS.items()])
    default = _get(raw, alice.token, f"/projects/{project_id}/export", format="csv")
    assert default.status_code == 200
    assert _contents(default.text) == {"f": "'" + TEXTS["f"], "c": "'" + TEXTS["c"], "q": "''=x", "p": "plain"}
    verbatim = _get(raw, alice.token, f"/projects/{project_id}/export", format="csv", escape_formulas="false")
    assert _contents(verbatim.text) == TEXTS
    sdk = b"".join(c.export(project_id, format="csv"))
    assert sdk.decode() == default.text
    assert _contents(b"".join(c.export(project_id, format="csv", escape_formulas=False)).decode()) == TEXTS
    copy = c.create_project("Copy", INTERFACE).id
    c.import_file(copy, sdk, format="csv", text_column="content")
    assert {a.external_id: (a.content, a.json_metadata) for a in c.iter_assets(copy)} == {
        k: (v, {"v": v}) for k, v in TEXTS.items()
    }


def test_the_predictions_list_hides_versions_that_are_not_ready(
    alice: Any, project_id: int, raw: httpx.Client, store: Store
) -> None:
    c = alice.client
    c.import_assets(project_id, [{"external_id": "a", "content": "one"}, {"external_id": "b", "content": "two"}])
    ids = {a.external_id: a.id for a in c.iter_assets(project_id)}
    answer = {"JOB_0": {"categories": [{"name": "DISASTER", "probability": 0.7}]}}
    c.push_predictions(project_id, [{"external_id": "a", "json_response": answer}], model_name="ext")
    training = models.create_model_version(store, project_id, status=ModelStatus.TRAINING)
    predictions.bulk_store_predictions(
        store, project_id, training.id, [(ids["a"], answer, 0.7), (ids["b"], answer, 0.7)]
    )
    path = f"/projects/{project_id}/predictions"

    def listed(**params: str) -> list[tuple[int, str]]:
        response = _get(raw, alice.token, path, **params)
        assert response.status_code == 200, response.text
        return [(p["asset_id"], p["model_name"]) for p in response.json()]

    assert listed() == [(ids["a"], "ext-1")]
    assert listed(include_unready="true") == [(ids["a"], "ext-1"), (ids["a"], "automl-2"), (ids["b"], "automl-2")]
    assert listed(model_version_id=str(training.id)) == [(ids["a"], "automl-2"), (ids["b"], "automl-2")]
    assert [p.model_name for p in c.list_predictions(project_id)] == ["ext-1"]
    assert len(c.list_predictions(project_id, include_unready=True)) == 3
    assert len(c.list_predictions(project_id, model_version_id=training.id)) == 2
