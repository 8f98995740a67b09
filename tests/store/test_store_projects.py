"""`prelabel.store.projects` on every backend: projects with roles, members, stored answers and the page's counts."""

from __future__ import annotations

from typing import Any

from prelabel.domain import AssetStatus, Role
from prelabel.store import projects as projects_repo
from prelabel.store import tables as t
from prelabel.store.engine import Session, Store


def _answer(key: str) -> dict[str, Any]:
    return {"JOB_0": {"categories": [{"name": key}]}}


def _users(s: Session, *names: str) -> list[int]:
    users = [t.User(username=n, password_hash="x") for n in names]
    s.add_all(users)
    s.flush()
    return [u.id for u in users]


def _project(s: Session, title: str, creator: int) -> int:
    project = projects_repo.insert_project(
        s, title=title, description="", interface={"jobs": []}, settings={}, created_by=creator
    )
    return project.id


def _asset(s: Session, project_id: int, ext: str, **values: Any) -> int:
    asset = t.Asset(project_id=project_id, external_id=ext, content=ext, **values)
    s.add(asset)
    s.flush()
    return asset.id


def test_projects_of_a_member_come_with_their_role_oldest_first(store: Store) -> None:
    with store.transaction() as s:
        ann, bob = _users(s, "ann", "bob")
        first, second, third = (_project(s, title, ann) for title in ("one", "two", "three"))
        projects_repo.insert_member(s, third, bob, Role.LABELER)
        projects_repo.insert_member(s, first, bob, Role.REVIEWER)
        projects_repo.insert_member(s, second, ann, Role.ADMIN)
    with store.transaction(read_only=True) as s:
        assert [(p.id, role) for p, role in projects_repo.projects_of_member(s, bob)] == [
            (first, "reviewer"),
            (third, "labeler"),
        ]
        assert [p.title for p in projects_repo.all_projects(s)] == ["one", "two", "three"]
        assert projects_repo.get_project(s, third + 1) is None


def test_members_by_username_admin_count_and_removal(store: Store) -> None:
    with store.transaction() as s:
        zoe, ann, bob = _users(s, "zoe", "ann", "bob")
        pid = _project(s, "p", zoe)
        other = _project(s, "other", zoe)
        projects_repo.insert_member(s, pid, zoe, Role.ADMIN)
        projects_repo.insert_member(s, pid, ann, Role.LABELER)
        projects_repo.insert_member(s, pid, bob, Role.ADMIN)
        projects_repo.insert_member(s, other, ann, Role.ADMIN)
    with store.transaction() as s:
        member = projects_repo.get_member(s, pid, ann)
        assert member is not None
        projects_repo.set_member_role(s, member, Role.ADMIN)
    with store.transaction(read_only=True) as s:
        assert [(m.user_id, name, m.role) for m, name in projects_repo.members_of(s, pid)] == [
            (ann, "ann", "admin"),
            (bob, "bob", "admin"),
            (zoe, "zoe", "admin"),
        ]
        assert projects_repo.admin_count(s, pid) == 3
    with store.transaction() as s:
        projects_repo.delete_member(s, pid, ann)
    with store.transaction(read_only=True) as s:
        assert [name for _m, name in projects_repo.members_of(s, pid)] == ["bob", "zoe"]
        assert projects_repo.get_member(s, other, ann) is not None


def test_update_project_writes_only_the_fields_given(store: Store) -> None:
    with store.transaction() as s:
        (ann,) = _users(s, "ann")
        pid = _project(s, "before", ann)
    before = t.utcnow()
    with store.transaction() as s:
        project = projects_repo.get_project(s, pid)
        assert project is not None
        projects_repo.update_project(s, project, description="new words", settings={"honeypot_rate": 0.5})
    with store.transaction(read_only=True) as s:
        project = projects_repo.get_project(s, pid)
        assert project is not None
        assert (project.title, project.description, project.interface) == ("before", "new words", {"jobs": []})
        assert project.settings == {"honeypot_rate": 0.5}
        assert project.updated_at >= before


def test_stored_answers_are_every_label_then_every_gold_answer_of_the_project(store: Store) -> None:
    with store.transaction() as s:
        (ann,) = _users(s, "ann")
        pid, other = _project(s, "p", ann), _project(s, "other", ann)
        a = _asset(s, pid, "a")
        _asset(s, pid, "hp", is_honeypot=True, honeypot_response=_answer("GOLD"))
        _asset(s, pid, "hp-without-gold", is_honeypot=True)
        b = _asset(s, other, "b", is_honeypot=True, honeypot_response=_answer("ELSEWHERE"))
        s.add_all(
            [
                t.Label(project_id=pid, asset_id=a, json_response=_answer("FIRST")),
                t.Label(project_id=pid, asset_id=a, json_response=_answer("DRAFT"), label_type="AUTOSAVE"),
                t.Label(project_id=other, asset_id=b, json_response=_answer("ELSEWHERE")),
            ]
        )
    with store.transaction(read_only=True) as s:
        answers = projects_repo.stored_answers(s, pid)
    assert sorted(answers[:2], key=str) == [_answer("DRAFT"), _answer("FIRST")]  # labels, in no set order
    assert answers[2:] == [_answer("GOLD")]


def test_project_counts(store: Store) -> None:
    with store.transaction() as s:
        (ann,) = _users(s, "ann")
        pid, other = _project(s, "p", ann), _project(s, "other", ann)
        labeled = _asset(s, pid, "labeled", status=AssetStatus.LABELED.value, review_reason="disagrees")
        _asset(s, pid, "waiting", status=AssetStatus.TO_REVIEW.value)
        _asset(s, pid, "both", status=AssetStatus.TO_REVIEW.value, review_reason="disagrees")
        _asset(s, pid, "hp", is_honeypot=True)
        elsewhere = _asset(s, other, "elsewhere", is_honeypot=True, review_reason="disagrees")
        mv = t.ModelVersion(project_id=pid, name="m", version=1)
        s.add_all([mv, t.ModelVersion(project_id=other, name="m", version=1)])
        s.flush()
        s.add_all(
            [
                t.Label(project_id=pid, asset_id=labeled, json_response={}),
                t.Label(project_id=pid, asset_id=labeled, json_response={}, label_type="REVIEW"),
                t.Label(project_id=pid, asset_id=labeled, json_response={}, label_type="AUTOSAVE"),
                t.Label(project_id=other, asset_id=elsewhere, json_response={}),
                t.Prediction(project_id=pid, asset_id=labeled, model_version_id=mv.id, json_response={}),
            ]
        )
    with store.transaction(read_only=True) as s:
        counts = projects_repo.project_counts(s, pid)
    assert counts == projects_repo.ProjectCounts(
        by_status={"LABELED": 1, "TO_REVIEW": 2, "TODO": 1},
        n_honeypots=1,
        n_labels=2,
        n_predicted=1,
        n_to_review=3,
        n_model_versions=1,
    )
