"""Labels, predictions, model versions and export over HTTP, with their bad inputs refused and nothing
written."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from prelabel.client import InvalidRequestError, NotFoundError, PermissionDeniedError

DISASTER = {"JOB_0": {"categories": [{"name": "DISASTER"}]}}
NOT_DISASTER = {"JOB_0": {"categories": [{"name": "NOT_DISASTER"}]}}


@pytest.fixture
def assets(alice: Any, project_id: int) -> list[Any]:
    alice.client.import_assets(project_id, [{"external_id": f"t{i}", "content": f"tweet {i}"} for i in range(10)])
    return list(alice.client.iter_assets(project_id))


def test_label_lifecycle(alice: Any, project_id: int, assets: list[Any]) -> None:
    c = alice.client
    a = assets[0]
    label = c.create_label(project_id, a.id, DISASTER, seconds_to_label=3.5)
    assert label.label_type == "DEFAULT" and label.author == "alice" and label.seconds_to_label == 3.5
    assert c.get_asset(project_id, a.id).status == "LABELED"
    review = c.create_label(project_id, a.id, NOT_DISASTER, label_type="REVIEW")
    got = c.get_asset(project_id, a.id)
    assert got.status == "REVIEWED"
    assert [lb.id for lb in got.labels] == [review.id, label.id]  # latest first
    assert [lb.id for lb in c.list_labels(project_id)] == [label.id, review.id]
    assert [lb.id for lb in c.list_labels(project_id, after=label.id)] == [review.id]
    assert [lb.id for lb in c.list_labels(project_id, asset_id=assets[1].id)] == []
    removed = c.undo_label(project_id, review.id)
    assert removed.id == review.id
    assert c.get_asset(project_id, a.id).status == "LABELED"
    c.undo_label(project_id, label.id)
    assert c.get_asset(project_id, a.id).status == "TODO"


@pytest.mark.parametrize(
    ("response", "needle"),
    [
        ({"JOB_9": {"categories": [{"name": "DISASTER"}]}}, "unknown job 'JOB_9'"),
        ({"JOB_0": {"categories": [{"name": "FLOOD"}]}}, "unknown category 'FLOOD'"),
        ({"JOB_0": {"categories": [{"name": "DISASTER"}, {"name": "NOT_DISASTER"}]}}, "single-choice"),
        ({"JOB_0": {"categories": []}}, "required"),
        ({"JOB_0": "DISASTER"}, "'categories'"),
        ({}, "required job 'JOB_0'"),
    ],
)
def test_bad_labels_are_refused(
    alice: Any, project_id: int, assets: list[Any], response: dict[str, Any], needle: str
) -> None:
    with pytest.raises(InvalidRequestError) as exc:
        alice.client.create_label(project_id, assets[0].id, response)
    assert exc.value.status == 422 and needle in exc.value.message
    assert alice.client.list_labels(project_id) == []
    assert alice.client.get_asset(project_id, assets[0].id).status == "TODO"


def test_label_roles_and_visibility(
    alice: Any, make_user: Callable[..., Any], project_id: int, assets: list[Any]
) -> None:
    bob = make_user("bob")
    with pytest.raises(NotFoundError):
        bob.client.create_label(project_id, assets[0].id, DISASTER)
    alice.client.add_member(project_id, "bob", "labeler")
    bob.client.create_label(project_id, assets[0].id, DISASTER)
    with pytest.raises(PermissionDeniedError):
        bob.client.create_label(project_id, assets[0].id, NOT_DISASTER, label_type="REVIEW")
    with pytest.raises(NotFoundError):
        bob.client.create_label(project_id, 123_456, DISASTER)
    # Only the author can undo a label.
    alice_label = alice.client.create_label(project_id, assets[1].id, DISASTER)
    with pytest.raises((PermissionDeniedError, NotFoundError, InvalidRequestError)):
        bob.client.undo_label(project_id, alice_label.id)
    assert len(alice.client.list_labels(project_id)) == 2


def _pred(name: str, confidence: float) -> dict[str, Any]:
    return {"JOB_0": {"categories": [{"name": name, "confidence": confidence}]}}


def test_bulk_predictions_and_current_prediction(alice: Any, project_id: int) -> None:
    c = alice.client
    n = 2500
    c.import_assets(project_id, [{"external_id": f"p{i}", "content": f"text {i}"} for i in range(n)])
    ext = [f"p{i}" for i in range(n)]
    out = c.create_predictions(
        project_id, ext, [_pred("DISASTER", 60 + i % 40) for i in range(n)], model_name="my-model"
    )
    assert out == {"id": project_id, "created": n}
    versions = c.list_model_versions(project_id)
    assert len(versions) == 1
    v1 = versions[0]
    assert c.get_model_version(project_id, v1.id).display_name == v1.display_name
    assert len(list(c.iter_assets(project_id, predicted=True, page_size=1000))) == n
    first = c.get_asset_by_external_id(project_id, "p1")
    assert first.current_prediction is not None
    assert first.current_prediction.model_version_id == v1.id
    assert first.current_prediction.json_response["JOB_0"]["categories"][0]["probability"] == pytest.approx(0.61)

    # Re-pushing to the same version replaces, never duplicates; a new name makes a newer, current version.
    c.create_predictions(project_id, ["p1"], [_pred("NOT_DISASTER", 90)], model_version_id=v1.id)
    assert len(c.list_predictions(project_id, asset_id=first.id)) == 1
    c.push_predictions(
        project_id, [{"asset_id": first.id, "json_response": _pred("DISASTER", 55)}], model_name="other-model"
    )
    got = c.get_asset(project_id, first.id)
    assert got.current_prediction is not None and got.current_prediction.model_version_id != v1.id
    assert len(c.list_predictions(project_id, asset_id=first.id)) == 2
    assert len(c.list_model_versions(project_id)) == 2
    assert len(list(c.iter_assets(project_id, model_version_id=v1.id, page_size=1000))) == n


@pytest.mark.parametrize(
    ("items", "needle"),
    [
        ([{"external_id": "t0", "json_response": _pred("DISASTER", 150)}], "0 to 100"),
        ([{"external_id": "t0", "json_response": _pred("DISASTER", -1)}], "0 to 100"),
        ([{"external_id": "t0", "json_response": _pred("FLOOD", 50)}], "unknown category 'FLOOD'"),
        ([{"external_id": "t0", "json_response": {"JOB_X": {"categories": []}}}], "unknown job 'JOB_X'"),
        (
            [
                {"external_id": "t0", "json_response": _pred("DISASTER", 50)},
                {"external_id": "nope", "json_response": _pred("DISASTER", 50)},
            ],
            "nope",
        ),
        ([], "No predictions"),
    ],
)
def test_bad_predictions_are_refused_and_nothing_written(
    alice: Any, project_id: int, assets: list[Any], items: list[dict[str, Any]], needle: str
) -> None:
    with pytest.raises(InvalidRequestError) as exc:
        alice.client.push_predictions(project_id, items, model_name="m")
    assert exc.value.status in (404, 422) and needle in exc.value.message, exc.value.message
    assert alice.client.list_predictions(project_id) == []
    assert alice.client.list_model_versions(project_id) == []


def test_predictions_need_a_model_and_admin(
    alice: Any,
    make_user: Callable[..., Any],
    project_id: int,
    assets: list[Any],
    raw: httpx.Client,
    error_shape: Callable[..., Any],
) -> None:
    r = raw.post(
        f"/api/v1/projects/{project_id}/predictions",
        headers={"X-API-Key": alice.token},
        json={"items": [{"external_id": "t0", "json_response": _pred("DISASTER", 50)}]},
    )
    assert "model" in error_shape(r, 422)["message"]
    bob = make_user("bob")
    alice.client.add_member(project_id, "bob", "labeler")
    with pytest.raises(PermissionDeniedError):
        bob.client.create_predictions(project_id, ["t0"], [_pred("DISASTER", 50)], model_name="m")
    with pytest.raises(NotFoundError):
        alice.client.get_model_version(project_id, 999)


def test_export_streams_both_formats(alice: Any, project_id: int, assets: list[Any]) -> None:
    c = alice.client
    c.create_label(project_id, assets[0].id, DISASTER)
    c.create_predictions(project_id, ["t1"], [_pred("NOT_DISASTER", 80)], model_name="m")
    lines = b"".join(c.export(project_id, format="jsonl")).decode().splitlines()
    rows = {r["external_id"]: r for r in map(json.loads, lines)}
    assert len(rows) == 10
    assert rows["t0"]["label"] == DISASTER and rows["t0"]["labels"][0]["author"] == "alice"
    assert rows["t1"]["current_prediction"]["json_response"]["JOB_0"]["categories"][0]["name"] == "NOT_DISASTER"
    assert rows["t2"]["label"] is None and rows["t2"]["current_prediction"] is None

    text = b"".join(c.export(project_id, format="csv")).decode()
    table = {r["external_id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert len(table) == 10
    assert table["t0"]["label:JOB_0"] == "DISASTER"
    assert table["t1"]["prediction:JOB_0"] == "NOT_DISASTER"


def test_export_response_headers_and_bad_format(
    alice: Any, project_id: int, assets: list[Any], raw: httpx.Client, error_shape: Callable[..., Any]
) -> None:
    h = {"X-API-Key": alice.token}
    with raw.stream("GET", f"/api/v1/projects/{project_id}/export", params={"format": "csv"}, headers=h) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        assert sum(len(chunk) for chunk in r.iter_bytes()) > 0
    error_shape(raw.get(f"/api/v1/projects/{project_id}/export", params={"format": "xml"}, headers=h), 422)
