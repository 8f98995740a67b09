from __future__ import annotations

import pytest
from service_helpers import Team, prediction, records
from sqlalchemy import func, select

from prelabel.domain import ModelStatus
from prelabel.errors import InvalidInput, NotFound, PermissionDenied
from prelabel.service import assets, models, predictions, projects
from prelabel.service.dto import AssetFilter, PredictionIn
from prelabel.store import tables as t


def _pred_count(team: Team) -> int:
    with team.store.transaction(read_only=True) as s:
        return int(s.scalar(select(func.count()).select_from(t.Prediction)) or 0)


def _push(team: Team, key: str, prob: float, exts: list[str], name: str) -> int:
    return predictions.create_predictions(
        team.store,
        team.admin,
        team.pid,
        [PredictionIn(external_id=e, json_response=prediction(key, prob)) for e in exts],
        model_name=name,
    )


def test_pushes_create_a_version_and_re_pushes_replace_instead_of_duplicating(team: Team) -> None:
    assets.import_assets(team.store, team.admin, team.pid, records(5))
    assert _push(team, "DISASTER", 0.6, ["a0", "a1", "a2"], "automl-0") == 3
    versions = models.list_model_versions(team.store, team.labeler, team.pid)
    assert [(v.name, v.version, v.tier, v.status) for v in versions] == [("automl-0", 1, "external", "READY")]
    # The same name again (as the original workflow did) is the same version: replaced, not duplicated.
    assert _push(team, "NOT_DISASTER", 0.8, ["a0", "a1"], "automl-0") == 2
    # The display name of that version also finds it.
    assert _push(team, "NOT_DISASTER", 0.9, ["a2"], "automl-0-1") == 1
    assert _pred_count(team) == 3
    assert len(models.list_model_versions(team.store, team.admin, team.pid)) == 1
    a0 = assets.get_asset_by_external_id(team.store, team.admin, team.pid, "a0")
    assert a0.current_prediction is not None
    cat = a0.current_prediction.json_response["JOB_0"]["categories"][0]
    assert cat == {"name": "NOT_DISASTER", "confidence": 80, "probability": 0.8}
    assert a0.current_prediction.confidence == pytest.approx(0.8)


def test_current_prediction_is_the_newest_versions_and_history_is_kept(team: Team) -> None:
    s = team.store
    assets.import_assets(s, team.admin, team.pid, records(3))
    _push(team, "DISASTER", 0.6, ["a0", "a1"], "first")
    _push(team, "NOT_DISASTER", 0.7, ["a0"], "second")
    ids = {a.external_id: a.id for a in assets.iter_assets(s, team.pid)}
    cur0 = predictions.get_current_prediction(s, team.labeler, team.pid, ids["a0"])
    cur1 = predictions.get_current_prediction(s, team.labeler, team.pid, ids["a1"])
    assert cur0 is not None and cur0.model_name == "second-2"
    # a1 has no prediction from the newest version: its current one is from the newest version that has one.
    assert cur1 is not None and cur1.model_name == "first-1"
    assert predictions.get_current_prediction(s, team.labeler, team.pid, ids["a2"]) is None
    history = predictions.list_predictions(s, team.labeler, team.pid, asset_id=ids["a0"])
    assert [p.model_name for p in history] == ["first-1", "second-2"]
    page = assets.list_assets(s, team.labeler, team.pid)
    assert [a.current_prediction.model_name if a.current_prediction else None for a in page.items] == [
        "second-2",
        "first-1",
        None,
    ]
    by_version = predictions.list_predictions(s, team.labeler, team.pid, model_version_id=cur1.model_version_id)
    assert len(by_version) == 2
    after = predictions.list_predictions(s, team.labeler, team.pid, after=history[0].id, limit=10)
    assert all(p.id > history[0].id for p in after)


BAD_PREDICTIONS = [
    (
        PredictionIn(external_id="a1", json_response=prediction("DISASTER", 1.5)),
        "probability of 'DISASTER'",
    ),
    (
        PredictionIn(
            external_id="a1",
            json_response={"JOB_0": {"categories": [{"name": "DISASTER", "confidence": 101}]}},
        ),
        r"Prediction 2 \(asset 'a1'\): .*confidence of 'DISASTER' in job 'JOB_0' must be .* 0 to 100",
    ),
    (PredictionIn(external_id="a1", json_response=prediction("MAYBE", 0.5)), "unknown category 'MAYBE'"),
    (
        PredictionIn(
            external_id="a1",
            json_response={"JOB_0": {**prediction("DISASTER", 0.5)["JOB_0"], "thresholds": {"DISASTER": 1.5}}},
        ),
        "threshold of 'DISASTER' in job 'JOB_0' must be between 0 and 1",
    ),
    (PredictionIn(external_id="a1", json_response={"JOB_X": {"categories": []}}), "unknown job 'JOB_X'"),
    (
        PredictionIn(external_id="zzz", json_response=prediction("DISASTER", 0.5)),
        r"not in project .*'zzz'",
    ),
    (PredictionIn(asset_id=10**9, json_response=prediction("DISASTER", 0.5)), "not in project"),
    (PredictionIn(external_id="a0", json_response=prediction("DISASTER", 0.5)), "appears twice"),
    (PredictionIn(json_response=prediction("DISASTER", 0.5)), "give the asset's external_id or asset_id"),
]


def test_bad_predictions_are_refused_and_nothing_is_written(team: Team) -> None:
    assets.import_assets(team.store, team.admin, team.pid, records(3))
    good = PredictionIn(external_id="a0", json_response=prediction("DISASTER", 0.5))
    for item, message in BAD_PREDICTIONS:
        with pytest.raises(InvalidInput, match=message):
            predictions.create_predictions(team.store, team.admin, team.pid, [good, item], model_name="m")
        assert _pred_count(team) == 0
        assert models.list_model_versions(team.store, team.admin, team.pid) == []


def test_prediction_push_rules(team: Team) -> None:
    s = team.store
    assets.import_assets(s, team.admin, team.pid, records(2))
    item = PredictionIn(external_id="a0", json_response=prediction("DISASTER", 0.5))
    with pytest.raises(PermissionDenied):
        predictions.create_predictions(s, team.labeler, team.pid, [item], model_name="m")
    with pytest.raises(InvalidInput, match="model_name"):
        predictions.create_predictions(s, team.admin, team.pid, [item])
    with pytest.raises(InvalidInput, match="Invalid model name"):
        predictions.create_predictions(s, team.admin, team.pid, [item], model_name="bad name!")
    with pytest.raises(InvalidInput, match="No predictions"):
        predictions.create_predictions(s, team.admin, team.pid, [], model_name="m")
    mv = models.create_model_version(s, team.pid, name="automl", tier="fast")
    assert predictions.create_predictions(s, team.admin, team.pid, [item], model_version_id=mv.id) == 1
    with pytest.raises(InvalidInput, match="does not belong"):
        predictions.create_predictions(s, team.admin, team.pid, [item], model_version_id=mv.id + 100)


def test_bulk_store_predictions_upserts_in_batches(team: Team) -> None:
    s = team.store
    assets.import_assets(s, team.admin, team.pid, records(23))
    ids = [a.id for a in assets.iter_assets(s, team.pid)]
    mv = models.create_model_version(s, team.pid, tier="fast")
    rows = [(aid, prediction("DISASTER", 0.55), 0.55) for aid in ids]
    assert predictions.bulk_store_predictions(s, team.pid, mv.id, rows, batch=5) == 23
    rows = [(aid, prediction("NOT_DISASTER", 0.65), 0.65) for aid in ids[:10]]
    assert predictions.bulk_store_predictions(s, team.pid, mv.id, iter(rows), batch=4) == 10
    assert _pred_count(team) == 23
    # A TRAINING version's predictions are not current yet; they are once it is READY.
    assert predictions.get_current_prediction(s, team.admin, team.pid, ids[0]) is None
    assert assets.count_assets(s, team.admin, team.pid, AssetFilter(predicted=True)) == 0
    assert assets.count_assets(s, team.admin, team.pid, AssetFilter(model_version_id=mv.id)) == 23
    models.finish_model_version(s, mv.id, status=ModelStatus.READY, metrics={"f1": 0.7})
    assert assets.count_assets(s, team.admin, team.pid, AssetFilter(predicted=True)) == 23
    cur = predictions.get_current_prediction(s, team.admin, team.pid, ids[0])
    assert cur is not None and cur.confidence == pytest.approx(0.65) and cur.model_name == "automl-1"
    # An asset repeated within one batch: the last row wins (PostgreSQL would refuse a double upsert).
    twice = [(ids[1], prediction("DISASTER", 0.51), 0.51), (ids[1], prediction("NOT_DISASTER", 0.93), 0.93)]
    assert predictions.bulk_store_predictions(s, team.pid, mv.id, twice) == 1
    cur = predictions.get_current_prediction(s, team.admin, team.pid, ids[1])
    assert cur is not None and cur.confidence == pytest.approx(0.93)
    with pytest.raises(NotFound):
        predictions.bulk_store_predictions(s, team.pid, mv.id + 1, rows)


def _trainer_version(team: Team, exts: list[str], key: str, prob: float, tier: str = "fast") -> str:
    """A READY version as the trainer writes one; its display name."""
    s = team.store
    ids = {a.external_id: a.id for a in assets.iter_assets(s, team.pid)}
    mv = models.create_model_version(s, team.pid, name="automl", tier=tier)
    predictions.bulk_store_predictions(s, team.pid, mv.id, [(ids[e], prediction(key, prob), prob) for e in exts])
    models.finish_model_version(s, mv.id, status=ModelStatus.READY, metrics={})
    return mv.display_name


def _current_names(team: Team) -> dict[str, str | None]:
    page = assets.list_assets(team.store, team.labeler, team.pid)
    return {a.external_id: a.current_prediction.model_name if a.current_prediction else None for a in page.items}


def test_external_pushes_do_not_replace_the_trainers_suggestions(team: Team) -> None:
    """The rule (setting suggestions_from, default "trainer"): the newest READY trainer version that predicted an
    asset gives its suggestion; a newer external push is kept and listed, and suggested only where no trainer
    version predicted; "external" reverses the preference; "newest" takes the newest READY version."""
    s = team.store
    assets.import_assets(s, team.admin, team.pid, records(4))
    trained = _trainer_version(team, ["a0", "a1", "a2"], "DISASTER", 0.7)
    pushed = predictions.push_predictions(
        s, team.admin, team.pid,
        [PredictionIn(external_id=e, json_response=prediction("NOT_DISASTER", 0.99)) for e in ["a0", "a1", "a3"]],
        model_name="mine", new_version=True,
    )  # fmt: skip
    assert pushed.model_name == "mine-2" and pushed.note is not None
    assert f"model {trained}" in pushed.note and "suggestions_from=external" in pushed.note
    assert _current_names(team) == {"a0": trained, "a1": trained, "a2": trained, "a3": "mine-2"}
    ids = {a.external_id: a.id for a in assets.iter_assets(s, team.pid)}
    history = predictions.list_predictions(s, team.labeler, team.pid, asset_id=ids["a0"])
    assert [p.model_name for p in history] == [trained, "mine-2"]  # kept and visible
    later = _trainer_version(team, ["a1"], "NOT_DISASTER", 0.8, tier="search")
    assert _current_names(team)["a1"] == later  # the newest trainer version wins among the trusted ones

    projects.update_project(s, team.admin, team.pid, settings={"suggestions_from": "external"})
    assert _current_names(team) == {"a0": "mine-2", "a1": "mine-2", "a2": trained, "a3": "mine-2"}
    projects.update_project(s, team.admin, team.pid, settings={"suggestions_from": "newest"})
    assert _current_names(team) == {"a0": "mine-2", "a1": later, "a2": trained, "a3": "mine-2"}
    with pytest.raises(InvalidInput, match="suggestions_from"):
        projects.update_project(s, team.admin, team.pid, settings={"suggestions_from": "best"})


def test_without_a_trained_model_external_pushes_are_the_suggestions(team: Team) -> None:
    assets.import_assets(team.store, team.admin, team.pid, records(2))
    pushed = predictions.push_predictions(
        team.store, team.admin, team.pid,
        [PredictionIn(external_id="a0", json_response=prediction("DISASTER", 0.6))], model_name="mine",
    )  # fmt: skip
    assert pushed.note is None and pushed.model_name == "mine-1"
    assert _current_names(team) == {"a0": "mine-1", "a1": None}


def test_a_pushed_family_gets_numbered_versions_with_one_name(team: Team) -> None:
    s = team.store
    assets.import_assets(s, team.admin, team.pid, records(2))
    item = [PredictionIn(external_id="a0", json_response=prediction("DISASTER", 0.6))]
    first = predictions.push_predictions(s, team.admin, team.pid, item, model_name="fam", new_version=True)
    same = predictions.push_predictions(s, team.admin, team.pid, item, model_name="fam")  # adds to the newest
    second = predictions.push_predictions(s, team.admin, team.pid, item, model_name="fam", new_version=True)
    assert (first.model_name, same.model_name, second.model_name) == ("fam-1", "fam-1", "fam-2")
    versions = models.list_model_versions(s, team.admin, team.pid)
    assert sorted((v.name, v.display_name) for v in versions) == [("fam", "fam-1"), ("fam", "fam-2")]
    assert _current_names(team)["a0"] == "fam-2"  # the rows carry the version's display name
    with pytest.raises(InvalidInput, match="new_version"):
        predictions.push_predictions(s, team.admin, team.pid, item, model_version_id=first.model_version_id,
                                     new_version=True)  # fmt: skip


def test_the_labels_agreement_and_the_queue_use_the_same_current_prediction(team: Team) -> None:
    from prelabel.service import labels, queue

    s = team.store
    assets.import_assets(s, team.admin, team.pid, records(1))
    trained = _trainer_version(team, ["a0"], "DISASTER", 0.7)
    predictions.create_predictions(
        s, team.admin, team.pid, [PredictionIn(external_id="a0", json_response=prediction("NOT_DISASTER", 0.99))],
        model_name="mine",
    )  # fmt: skip
    served = queue.next_asset(s, team.labeler, team.pid)
    assert served is not None and served.current_prediction is not None
    assert served.current_prediction.model_name == trained
    label = labels.create_label(s, team.labeler, team.pid, served.id, json_response={"JOB_0": {"categories": [
        {"name": "DISASTER"}]}})  # fmt: skip
    assert label.agrees_with_prediction is True and label.model_version_id == served.current_prediction.model_version_id
