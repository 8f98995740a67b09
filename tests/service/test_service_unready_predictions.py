"""Listing predictions shows READY model versions' unless asked: a TRAINING, FAILED or WITHDRAWN version's
predictions are not what labelers see (real databases)."""

from __future__ import annotations

from service_helpers import Team, prediction, records

from prelabel.domain import ModelStatus
from prelabel.service import assets, models, predictions
from prelabel.service.dto import PredictionIn


def _versions(team: Team) -> dict[str, int]:
    """A READY pushed version predicting a0 and a1, and a TRAINING, a FAILED and a WITHDRAWN version predicting
    a0 and a2: model version ids by status."""
    s = team.store
    assets.import_assets(s, team.admin, team.pid, records(3))
    ids = {a.external_id: a.id for a in assets.iter_assets(s, team.pid)}
    items = [PredictionIn(external_id=e, json_response=prediction("DISASTER", 0.6)) for e in ("a0", "a1")]
    out = {"READY": predictions.push_predictions(s, team.admin, team.pid, items, model_name="ext").model_version_id}
    for status in (ModelStatus.TRAINING, ModelStatus.FAILED, ModelStatus.WITHDRAWN):
        mv = models.create_model_version(s, team.pid, status=status)
        rows = [(ids[e], prediction("NOT_DISASTER", 0.9), 0.9) for e in ("a0", "a2")]
        predictions.bulk_store_predictions(s, team.pid, mv.id, rows)
        out[status.value] = mv.id
    return out


def test_only_ready_versions_predictions_are_listed_by_default(team: Team) -> None:
    versions = _versions(team)
    listed = predictions.list_predictions(team.store, team.labeler, team.pid)
    assert [(p.model_version_id, p.model_name) for p in listed] == [(versions["READY"], "ext-1")] * 2
    ids = {a.external_id: a.id for a in assets.iter_assets(team.store, team.pid)}
    assert predictions.list_predictions(team.store, team.labeler, team.pid, asset_id=ids["a2"]) == []
    # keyset paging walks past the hidden rows
    first = predictions.list_predictions(team.store, team.labeler, team.pid, limit=1)
    rest = predictions.list_predictions(team.store, team.labeler, team.pid, after=first[0].id, limit=10)
    assert [p.id for p in first + rest] == [p.id for p in listed]


def test_include_unready_lists_every_versions_predictions(team: Team) -> None:
    versions = _versions(team)
    every = predictions.list_predictions(team.store, team.labeler, team.pid, include_unready=True)
    assert [p.id for p in every] == sorted(p.id for p in every) and len(every) == 2 + 3 * 2
    assert {p.model_version_id for p in every} == set(versions.values())


def test_naming_a_version_lists_its_predictions_whatever_its_status(team: Team) -> None:
    versions = _versions(team)
    for status, mv_id in versions.items():
        listed = predictions.list_predictions(team.store, team.labeler, team.pid, model_version_id=mv_id)
        assert len(listed) == 2 and {p.model_version_id for p in listed} == {mv_id}, status
    training = predictions.list_predictions(team.store, team.labeler, team.pid, model_version_id=versions["TRAINING"])
    assert [p.model_name for p in training] == ["automl-2"] * 2
