"""`prelabel.store.analytics` on every backend: which labels, versions and predictions the dashboard reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NamedTuple

from prelabel.store import analytics as analytics_repo
from prelabel.store import tables as t
from prelabel.store.engine import Session, Store


def _answer(key: str) -> dict[str, Any]:
    return {"JOB_0": {"categories": [{"name": key}]}}


class World(NamedTuple):
    user: int
    pid: int
    asset: int
    other_pid: int
    elsewhere: int


def _setup(s: Session) -> World:
    """A user, two projects and one asset in each."""
    user = t.User(username="ann", password_hash="x")
    s.add(user)
    s.flush()
    projects = [t.Project(title=n, interface={"jobs": []}, settings={}) for n in ("p", "other")]
    s.add_all(projects)
    s.flush()
    assets = [t.Asset(project_id=p.id, external_id="a", content="a") for p in projects]
    s.add_all(assets)
    s.flush()
    return World(user.id, projects[0].id, assets[0].id, projects[1].id, assets[1].id)


def _version(s: Session, project_id: int, version: int, status: str = "READY", name: str = "m") -> int:
    mv = t.ModelVersion(project_id=project_id, name=name, version=version, status=status)
    s.add(mv)
    s.flush()
    return mv.id


def _label(s: Session, project_id: int, asset_id: int, **values: Any) -> int:
    label = t.Label(project_id=project_id, asset_id=asset_id, json_response=values.pop("json_response", {}), **values)
    s.add(label)
    s.flush()
    return label.id


def test_acceptance_counts_only_judged_counted_labels_of_the_project(store: Store) -> None:
    with store.transaction() as s:
        _user, pid, asset, other_pid, elsewhere = _setup(s)
        v1, v2, unseen = _version(s, pid, 1), _version(s, pid, 2), _version(s, pid, 3)
        v_other = _version(s, other_pid, 1)
        for agrees in (True, False, True):
            _label(s, pid, asset, model_version_id=v1, agrees_with_prediction=agrees)
        _label(s, pid, asset, model_version_id=v2, agrees_with_prediction=False, label_type="REVIEW")
        _label(s, pid, asset, model_version_id=v2, agrees_with_prediction=True, label_type="AUTOSAVE")
        _label(s, pid, asset, model_version_id=v2)  # seen, never judged
        _label(s, pid, asset, agrees_with_prediction=True)  # judged against no version
        _label(s, other_pid, elsewhere, model_version_id=v_other, agrees_with_prediction=True)
    with store.transaction(read_only=True) as s:
        assert analytics_repo.acceptance_by_version(s, pid) == {v1: (3, 2), v2: (1, 0)}
        assert unseen not in analytics_repo.acceptance_by_version(s, pid)
        recent = analytics_repo.recent_judgements(s, pid, 3)
    assert recent == [(False, v2), (True, v1), (False, v1)]  # newest first


def test_model_versions_by_number_and_the_newest_one_with_predictions(store: Store) -> None:
    with store.transaction() as s:
        _user, pid, asset, _other_pid, _elsewhere = _setup(s)
        v3 = _version(s, pid, 3, status="TRAINING")
        v1 = _version(s, pid, 1)
        v2 = _version(s, pid, 2, name="ext")
        _version(s, pid, 4)  # no predictions
    with store.transaction(read_only=True) as s:
        assert analytics_repo.newest_predicting_version(s, pid) is None
        assert [mv.version for mv in analytics_repo.model_versions(s, pid)] == [1, 2, 3, 4]
        assert [mv.version for mv in analytics_repo.model_versions(s, pid, ready_only=True)] == [1, 2, 4]
        assert sorted(analytics_repo.version_names(s, [v2, v1])) == [(v1, "m", 1), (v2, "ext", 2)]
        assert analytics_repo.version_names(s, []) == []
    with store.transaction() as s:
        for mv in (v1, v2):
            s.add(t.Prediction(project_id=pid, asset_id=asset, model_version_id=mv, json_response=_answer("A")))
    with store.transaction(read_only=True) as s:
        assert analytics_repo.newest_predicting_version(s, pid) == (v2, "ext", 2)
    with store.transaction() as s:
        s.add(t.Prediction(project_id=pid, asset_id=asset, model_version_id=v3, json_response=_answer("A")))
    with store.transaction(read_only=True) as s:
        assert analytics_repo.newest_predicting_version(s, pid) == (v3, "m", 3)  # whatever its status


def test_the_state_of_a_versions_predictions_changes_with_them(store: Store) -> None:
    with store.transaction() as s:
        _user, pid, asset, _other_pid, _elsewhere = _setup(s)
        second = t.Asset(project_id=pid, external_id="b", content="b")
        s.add(second)
        mv = _version(s, pid, 1)
        s.add(t.Prediction(project_id=pid, asset_id=asset, model_version_id=mv, json_response=_answer("A")))
    with store.transaction(read_only=True) as s:
        before = analytics_repo.predictions_state(s, pid, mv)
        assert analytics_repo.predictions_state(s, pid, mv) == before
        assert list(analytics_repo.prediction_responses(s, pid, mv)) == [_answer("A")]
    assert before.n == 1 and before.database == str(store.engine.url)
    with store.transaction() as s:
        s.add(t.Prediction(project_id=pid, asset_id=second.id, model_version_id=mv, json_response=_answer("B")))
    with store.transaction(read_only=True) as s:
        after = analytics_repo.predictions_state(s, pid, mv)
        responses = list(analytics_repo.prediction_responses(s, pid, mv))
    assert after != before and after.n == 2 and after.max_id is not None and after.max_id > (before.max_id or 0)
    assert sorted(responses, key=str) == [_answer("A"), _answer("B")]


def test_label_times_answers_and_honeypot_answers(store: Store) -> None:
    with store.transaction() as s:
        user, pid, asset, other_pid, elsewhere = _setup(s)
        gold = t.Asset(project_id=pid, external_id="hp", content="hp", is_honeypot=True, honeypot_response=_answer("G"))
        no_gold = t.Asset(project_id=pid, external_id="hp2", content="hp2", is_honeypot=True)
        s.add_all([gold, no_gold])
        s.flush()
        start = t.utcnow()
        _label(s, pid, gold.id, author_id=user, created_at=start + timedelta(minutes=2), json_response=_answer("X"))
        _label(s, pid, asset, author_id=user, created_at=start, seconds_to_label=4.0, json_response=_answer("Y"))
        _label(s, pid, gold.id, author_id=user, label_type="REVIEW", created_at=start + timedelta(minutes=1))
        _label(s, pid, gold.id, author_id=None, label_type="AUTOSAVE", created_at=start)
        _label(s, pid, no_gold.id, author_id=None, created_at=start + timedelta(minutes=3))
        _label(s, other_pid, elsewhere, author_id=user, created_at=start)
    with store.transaction(read_only=True) as s:
        times = analytics_repo.label_times(s, pid)
        answers = analytics_repo.label_answers(s, pid)
        honeypots = analytics_repo.honeypot_answers(s, pid)
    # by author (where a deleted author's labels sort depends on the database), then oldest first
    assert [(r.label_type, r.created_at - start, r.seconds_to_label) for r in times if r.author_id == user] == [
        ("DEFAULT", timedelta(0), 4.0),
        ("REVIEW", timedelta(minutes=1), None),
        ("DEFAULT", timedelta(minutes=2), None),
    ]
    assert [(r.label_type, r.created_at - start) for r in times if r.author_id is None] == [
        ("DEFAULT", timedelta(minutes=3))
    ]
    assert [(r.asset_id, r.label_type) for r in answers] == [
        (asset, "DEFAULT"),
        (gold.id, "DEFAULT"),
        (gold.id, "REVIEW"),
        (no_gold.id, "DEFAULT"),
    ]
    assert honeypots == [(user, _answer("X"), _answer("G"))]


def test_usernames_of_existing_users_only(store: Store) -> None:
    with store.transaction() as s:
        user, *_ = _setup(s)
    with store.transaction(read_only=True) as s:
        assert analytics_repo.usernames(s, [user, user + 1]) == {user: "ann"}
        assert analytics_repo.usernames(s, []) == {}
