from __future__ import annotations

from datetime import timedelta

import pytest
from service_helpers import Team, answer, prediction, records
from sqlalchemy import func, select, update

from prelabel.domain import AssetStatus, LabelType
from prelabel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from prelabel.service import assets, labels, predictions
from prelabel.service.dto import PredictionIn
from prelabel.store import tables as t


def _ids(team: Team, n: int = 4) -> dict[str, int]:
    assets.import_assets(team.store, team.admin, team.pid, records(n))
    return {a.external_id: a.id for a in assets.iter_assets(team.store, team.pid)}


def _label_count(team: Team) -> int:
    with team.store.transaction(read_only=True) as s:
        return int(s.scalar(select(func.count()).select_from(t.Label)) or 0)


INVALID_LABELS = [
    ({"JOB_9": {"categories": [{"name": "DISASTER"}]}}, "unknown job 'JOB_9'"),
    (answer("MAYBE"), "unknown category 'MAYBE' for job 'JOB_0'"),
    (
        {"JOB_0": {"categories": [{"name": "DISASTER"}, {"name": "NOT_DISASTER"}]}},
        "job 'JOB_0' is single-choice but got 2 categories",
    ),
    ({"JOB_0": {"categories": []}}, "job 'JOB_0' is required"),
    ({}, "required job 'JOB_0' has no answer"),
    ("DISASTER", "must be an object keyed by job name"),
]


def test_invalid_labels_are_refused_and_nothing_is_written(team: Team) -> None:
    ids = _ids(team)
    for response, message in INVALID_LABELS:
        with pytest.raises(InvalidInput, match=message):
            labels.create_label(team.store, team.labeler, team.pid, ids["a0"], json_response=response)  # type: ignore[arg-type]
        assert _label_count(team) == 0
        assert assets.get_asset(team.store, team.admin, team.pid, ids["a0"]).status == AssetStatus.TODO


def test_other_bad_label_input(team: Team) -> None:
    ids = _ids(team)
    s = team.store
    with pytest.raises(InvalidInput, match="seconds_to_label"):
        labels.create_label(s, team.labeler, team.pid, ids["a0"], json_response=answer("DISASTER"), seconds_to_label=-1)
    with pytest.raises(InvalidInput, match="Unknown label type"):
        labels.create_label(s, team.labeler, team.pid, ids["a0"], json_response=answer("DISASTER"), label_type="GOLD")
    with pytest.raises(NotFound):
        labels.create_label(s, team.labeler, team.pid, 10**9, json_response=answer("DISASTER"))
    with pytest.raises(NotFound):
        labels.create_label(s, team.outsider, team.pid, ids["a0"], json_response=answer("DISASTER"))
    with pytest.raises(InvalidInput, match="Model version 999"):
        labels.create_label(
            s, team.labeler, team.pid, ids["a0"], json_response=answer("DISASTER"), model_version_id=999
        )
    assert _label_count(team) == 0


def test_status_transitions_roles_and_lease_release(team: Team) -> None:
    s = team.store
    ids = _ids(team)
    with s.transaction() as sess:
        sess.execute(
            update(t.Asset)
            .where(t.Asset.id == ids["a0"])
            .values(status="ONGOING", lease_user_id=team.labeler.user_id, lease_expires_at=t.utcnow())
        )
    labels.create_label(s, team.labeler, team.pid, ids["a0"], json_response=answer("DISASTER"), label_type="AUTOSAVE")
    assert assets.get_asset(s, team.admin, team.pid, ids["a0"]).status == AssetStatus.ONGOING
    out = labels.create_label(
        s, team.labeler, team.pid, ids["a0"], json_response=answer("DISASTER"), seconds_to_label=3.5
    )
    assert out.label_type == LabelType.DEFAULT and out.author == "leo" and out.seconds_to_label == 3.5
    with s.transaction(read_only=True) as sess:
        a = sess.get(t.Asset, ids["a0"])
        assert a is not None and a.status == "LABELED" and a.lease_user_id is None and a.lease_expires_at is None
    with pytest.raises(PermissionDenied, match="reviewer"):
        labels.create_label(
            s, team.labeler, team.pid, ids["a0"], json_response=answer("NOT_DISASTER"), label_type="REVIEW"
        )
    with s.transaction() as sess:
        sess.execute(
            update(t.Asset).where(t.Asset.id == ids["a0"]).values(review_reason="label_error", review_score=0.9)
        )
    labels.create_label(
        s, team.reviewer, team.pid, ids["a0"], json_response=answer("NOT_DISASTER"), label_type="REVIEW"
    )
    a0 = assets.get_asset(s, team.admin, team.pid, ids["a0"])
    assert a0.status == AssetStatus.REVIEWED and a0.review_reason is None
    # A later DEFAULT label does not undo the review.
    labels.create_label(s, team.labeler, team.pid, ids["a0"], json_response=answer("DISASTER"))
    assert assets.get_asset(s, team.admin, team.pid, ids["a0"]).status == AssetStatus.REVIEWED


def test_review_overrides_default_in_effective_labels(team: Team) -> None:
    s = team.store
    ids = _ids(team, 5)
    labels.create_label(s, team.labeler, team.pid, ids["a0"], json_response=answer("DISASTER"))
    labels.create_label(
        s, team.reviewer, team.pid, ids["a0"], json_response=answer("NOT_DISASTER"), label_type="REVIEW"
    )
    labels.create_label(s, team.labeler, team.pid, ids["a0"], json_response=answer("DISASTER"))  # newer, but DEFAULT
    labels.create_label(s, team.labeler, team.pid, ids["a2"], json_response=answer("DISASTER"))
    labels.create_label(s, team.admin, team.pid, ids["a2"], json_response=answer("NOT_DISASTER"))  # newest DEFAULT wins
    labels.create_label(s, team.labeler, team.pid, ids["a3"], json_response=answer("DISASTER"), label_type="AUTOSAVE")
    eff = list(labels.effective_labels(s, team.pid, chunk=1))
    assert [(e[1], e[3]) for e in eff] == [("a0", answer("NOT_DISASTER")), ("a2", answer("NOT_DISASTER"))]
    assert eff[0][0] == ids["a0"] and eff[0][2] == "text number 0"
    assert labels.count_effective_labels(s, team.pid) == 2


def test_acceptance_is_recorded_against_the_prediction_seen(team: Team) -> None:
    s = team.store
    ids = _ids(team)
    predictions.create_predictions(
        s,
        team.admin,
        team.pid,
        [
            PredictionIn(external_id="a0", json_response=prediction("DISASTER", 0.9)),
            PredictionIn(external_id="a1", json_response=prediction("DISASTER", 0.9)),
        ],
        model_name="m1",
    )
    old = predictions.list_predictions(s, team.admin, team.pid, limit=1)[0].model_version_id
    predictions.create_predictions(
        s,
        team.admin,
        team.pid,
        [PredictionIn(external_id="a0", json_response=prediction("NOT_DISASTER", 0.6))],
        model_name="m2",
    )
    # No model version given: compared with the current prediction (m2 says NOT_DISASTER).
    lab = labels.create_label(s, team.labeler, team.pid, ids["a0"], json_response=answer("NOT_DISASTER"))
    assert lab.agrees_with_prediction is True and lab.model_version_id != old
    # The labeler saw the older model's prediction: compared with that one.
    lab = labels.create_label(
        s, team.labeler, team.pid, ids["a0"], json_response=answer("NOT_DISASTER"), model_version_id=old
    )
    assert lab.agrees_with_prediction is False and lab.model_version_id == old
    lab = labels.create_label(s, team.labeler, team.pid, ids["a1"], json_response=answer("NOT_DISASTER"))
    assert lab.agrees_with_prediction is False
    lab = labels.create_label(s, team.labeler, team.pid, ids["a2"], json_response=answer("NOT_DISASTER"))
    assert lab.agrees_with_prediction is None and lab.model_version_id is None


def test_undo_removes_the_authors_newest_label_and_reverts_the_status(team: Team) -> None:
    s = team.store
    ids = _ids(team)
    first = labels.create_label(s, team.labeler, team.pid, ids["a0"], json_response=answer("DISASTER"))
    second = labels.create_label(s, team.labeler, team.pid, ids["a0"], json_response=answer("NOT_DISASTER"))
    # A later autosave does not block undoing the submitted label.
    labels.create_label(s, team.labeler, team.pid, ids["a0"], json_response=answer("DISASTER"), label_type="AUTOSAVE")
    with pytest.raises(PermissionDenied, match="author"):
        labels.undo_label(s, team.admin, team.pid, second.id)
    with pytest.raises(Conflict, match="not your newest"):
        labels.undo_label(s, team.labeler, team.pid, first.id)
    assert labels.undo_label(s, team.labeler, team.pid, second.id).id == second.id
    assert assets.get_asset(s, team.admin, team.pid, ids["a0"]).status == AssetStatus.LABELED
    assert labels.undo_label(s, team.labeler, team.pid, first.id).id == first.id
    a0 = assets.get_asset(s, team.admin, team.pid, ids["a0"])
    assert a0.status == AssetStatus.TODO and [lb.label_type for lb in a0.labels] == ["AUTOSAVE"]
    # A review label undone falls back to the labeler's DEFAULT label.
    labels.create_label(s, team.labeler, team.pid, ids["a1"], json_response=answer("DISASTER"))
    rev = labels.create_label(
        s, team.reviewer, team.pid, ids["a1"], json_response=answer("DISASTER"), label_type="REVIEW"
    )
    labels.undo_label(s, team.reviewer, team.pid, rev.id)
    assert assets.get_asset(s, team.admin, team.pid, ids["a1"]).status == AssetStatus.LABELED
    # Too old to undo.
    old = labels.create_label(s, team.labeler, team.pid, ids["a2"], json_response=answer("DISASTER"))
    with s.transaction() as sess:
        sess.execute(update(t.Label).where(t.Label.id == old.id).values(created_at=t.utcnow() - timedelta(hours=1)))
    with pytest.raises(Conflict, match="can be undone within 600 s"):
        labels.undo_label(s, team.labeler, team.pid, old.id)
    with pytest.raises(NotFound):
        labels.undo_label(s, team.labeler, team.pid, 10**9)


def test_list_labels_pages_by_id(team: Team) -> None:
    s = team.store
    ids = _ids(team)
    for ext in ("a0", "a1", "a2", "a0"):
        labels.create_label(s, team.labeler, team.pid, ids[ext], json_response=answer("DISASTER"))
    page1 = labels.list_labels(s, team.reviewer, team.pid, limit=3)
    page2 = labels.list_labels(s, team.reviewer, team.pid, after_id=page1[-1].id, limit=3)
    assert len(page1) == 3 and len(page2) == 1
    assert [lb.id for lb in page1 + page2] == sorted(lb.id for lb in page1 + page2)
    assert len(labels.list_labels(s, team.reviewer, team.pid, asset_id=ids["a0"])) == 2
