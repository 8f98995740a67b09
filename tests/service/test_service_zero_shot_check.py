"""The first labels judge a zero-shot version: no better than the labels' most frequent answer, it is withdrawn
and its suggestions stop being shown (real databases, both dialects)."""

from __future__ import annotations

from service_helpers import Team, answer, prediction, records

from prelabel.automl.label_counts import MIN_LABELS_TO_CHECK
from prelabel.domain import ModelStatus
from prelabel.service import assets, labels, models, predictions


def _zero_shot_everywhere(team: Team, key: str, n: int) -> tuple[int, dict[str, int]]:
    """n assets, each with a zero-shot suggestion of `key` at 0.7; the version's id and the asset ids."""
    assets.import_assets(team.store, team.admin, team.pid, records(n))
    ids = {a.external_id: a.id for a in assets.iter_assets(team.store, team.pid)}
    mv = models.create_model_version(team.store, team.pid, tier="zero-shot", status=ModelStatus.TRAINING)
    rows = [(aid, prediction(key, 0.7), 0.7) for aid in ids.values()]
    predictions.bulk_store_predictions(team.store, team.pid, mv.id, rows)
    models.finish_model_version(team.store, mv.id, status=ModelStatus.READY, n_labels=0)
    return mv.id, ids


def _label(team: Team, aid: int, key: str, mv_id: int) -> None:
    labels.create_label(team.store, team.labeler, team.pid, aid, json_response=answer(key), model_version_id=mv_id)


def _status(team: Team, mv_id: int) -> str:
    return models.get_model_version(team.store, team.admin, team.pid, mv_id).status


def test_the_check_waits_for_as_many_labels_as_the_engines_own() -> None:
    assert labels.ZERO_SHOT_CHECK_LABELS == MIN_LABELS_TO_CHECK


def test_a_zero_shot_version_no_better_than_the_majority_is_withdrawn(team: Team) -> None:
    mv_id, ids = _zero_shot_everywhere(team, "DISASTER", 8)
    order = list(ids.values())
    # the labelers answer NOT_DISASTER four times out of five: the suggestion DISASTER is right once
    for aid, key in zip(order[:4], ["NOT_DISASTER", "DISASTER", "NOT_DISASTER", "NOT_DISASTER"], strict=True):
        _label(team, aid, key, mv_id)
        assert _status(team, mv_id) == "READY"  # fewer labels than the check needs: it cannot say no yet
    _label(team, order[4], "NOT_DISASTER", mv_id)
    mv = models.get_model_version(team.store, team.admin, team.pid, mv_id)
    assert mv.status == ModelStatus.WITHDRAWN.value
    assert mv.metrics["withdrawn"] == {
        "labels": 5, "accepted": 1, "majority": 4,
        "message": "its suggestions matched 1 of the first 5 labels, no more than always suggesting the most "
        "frequent answer (4)",
    }
    # nothing of it is current any more, and the labeling page says why (service side of it)
    assert predictions.get_current_prediction(team.store, team.labeler, team.pid, order[5]) is None
    withdrawn = models.withdrawn_zero_shot(team.store, team.pid)
    assert withdrawn is not None and withdrawn.id == mv_id


def test_a_tie_with_the_majority_is_no_better(team: Team) -> None:
    mv_id, ids = _zero_shot_everywhere(team, "DISASTER", 8)
    # a suggestion that is always the most frequent answer is right exactly as often as the majority: off
    for aid, key in zip(list(ids.values()), ["DISASTER", "DISASTER", "NOT_DISASTER", "DISASTER"], strict=False):
        _label(team, aid, key, mv_id)
    assert _status(team, mv_id) == "READY"
    _label(team, list(ids.values())[4], "DISASTER", mv_id)
    assert _status(team, mv_id) == ModelStatus.WITHDRAWN.value


def test_a_useful_zero_shot_version_keeps_serving(team: Team) -> None:
    mv_id, ids = _zero_shot_everywhere(team, "DISASTER", 8)
    order = list(ids.values())
    mv2 = models.create_model_version(team.store, team.pid, tier="zero-shot", status=ModelStatus.TRAINING)
    # a second zero-shot version that suggests what the labelers answer, except once
    answers = ["DISASTER", "NOT_DISASTER", "NOT_DISASTER", "DISASTER", "NOT_DISASTER", "DISASTER"]
    suggested = ["DISASTER", "NOT_DISASTER", "NOT_DISASTER", "DISASTER", "NOT_DISASTER", "NOT_DISASTER"]
    rows = [(aid, prediction(key, 0.7), 0.7) for aid, key in zip(order, suggested, strict=False)]
    predictions.bulk_store_predictions(team.store, team.pid, mv2.id, rows)
    models.finish_model_version(team.store, mv2.id, status=ModelStatus.READY, n_labels=0)
    for aid, key in zip(order, answers, strict=False):
        _label(team, aid, key, mv2.id)
    assert _status(team, mv2.id) == "READY"  # 5 of 6 accepted, the most frequent answer 3 of 6
    assert models.withdrawn_zero_shot(team.store, team.pid) is None
    assert predictions.get_current_prediction(team.store, team.labeler, team.pid, order[7]) is not None
    assert _status(team, mv_id) == "READY"  # never on screen: no label judged it


def test_other_tiers_are_never_withdrawn(team: Team) -> None:
    assets.import_assets(team.store, team.admin, team.pid, records(6))
    ids = [a.id for a in assets.iter_assets(team.store, team.pid)]
    mv = models.create_model_version(team.store, team.pid, tier="fast", status=ModelStatus.TRAINING)
    rows = [(a, prediction("DISASTER", 0.9), 0.9) for a in ids]
    predictions.bulk_store_predictions(team.store, team.pid, mv.id, rows)
    models.finish_model_version(team.store, mv.id, status=ModelStatus.READY, n_labels=10)
    for aid in ids:
        _label(team, aid, "NOT_DISASTER", mv.id)
    assert _status(team, mv.id) == "READY"
