from __future__ import annotations

from typing import Any

import pytest
from service_helpers import INTERFACE, MULTI_INTERFACE, Team, answer, make_user, prediction, records

from prelabel.domain import AssetStatus, Role
from prelabel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from prelabel.service import assets, labels, predictions, projects
from prelabel.service.dto import AssetIn, PredictionIn
from prelabel.store.engine import Store


def test_creator_is_admin_and_only_members_see_the_project(team: Team) -> None:
    s = team.store
    assert team.project.role == Role.ADMIN
    assert team.project.settings["honeypot_rate"] == projects.PROJECT_SETTINGS["honeypot_rate"].default
    assert [p.id for p in projects.list_projects(s, team.labeler)] == [team.pid]
    assert projects.get_project(s, team.labeler, team.pid).role == Role.LABELER
    assert projects.role_in_project(s, team.reviewer, team.pid) == Role.REVIEWER
    assert projects.list_projects(s, team.outsider) == []
    with pytest.raises(NotFound):
        projects.get_project(s, team.outsider, team.pid)
    with pytest.raises(NotFound):
        assets.list_assets(s, team.outsider, team.pid)
    root = make_user(s, "root", superuser=True)
    assert projects.get_project(s, root, team.pid).role == Role.ADMIN
    assert [p.id for p in projects.list_projects(s, root)] == [team.pid]


def test_the_original_interface_shape_is_accepted_and_stored_in_ours(team: Team) -> None:
    original = {
        "jobs": {
            "JOB_0": {
                "mlTask": "CLASSIFICATION",
                "content": {"input": "radio", "categories": {"A": {"name": "Alpha"}, "B": {"name": "Beta"}}},
                "required": 1,
            }
        }
    }
    p = projects.create_project(team.store, team.admin, title="Orig", interface=original)
    assert p.interface["jobs"][0]["name"] == "JOB_0"
    assert [c["key"] for c in p.interface["jobs"][0]["categories"]] == ["A", "B"]


INVALID_INTERFACES: list[tuple[dict[str, Any], str]] = [
    ({"jobs": []}, "at least one job"),
    ({"jobs": [{"name": "J", "categories": [{"key": "only"}]}]}, "job 'J' needs at least two"),
    (
        {"jobs": [{"name": "J", "categories": [{"key": "a"}, {"key": "a"}]}]},
        "category 'a' appears twice in job 'J'",
    ),
    (
        {"jobs": [{"name": "J", "categories": [{"key": "a b"}, {"key": "c"}]}]},
        "category 'a b' of job 'J'",
    ),
]


def test_invalid_interfaces_are_refused_naming_the_job_or_category(team: Team) -> None:
    for interface, message in INVALID_INTERFACES:
        with pytest.raises(InvalidInput, match=message):
            projects.create_project(team.store, team.admin, title="Bad", interface=interface)
        assert len(projects.list_projects(team.store, team.admin)) == 1


def test_only_admins_change_the_project(team: Team) -> None:
    s = team.store
    with pytest.raises(PermissionDenied, match="admin"):
        projects.update_project(s, team.labeler, team.pid, interface=MULTI_INTERFACE)
    with pytest.raises(PermissionDenied):
        projects.update_project(s, team.reviewer, team.pid, title="Renamed")
    with pytest.raises(NotFound):
        projects.update_project(s, team.outsider, team.pid, title="Renamed")
    assert (
        projects.get_project(s, team.admin, team.pid).interface
        == projects.get_project(s, team.labeler, team.pid).interface
    )
    out = projects.update_project(s, team.admin, team.pid, title="Renamed", settings={"honeypot_rate": 0.2})
    assert out.title == "Renamed" and out.settings["honeypot_rate"] == 0.2


def test_an_interface_change_may_not_remove_a_used_category(team: Team) -> None:
    s = team.store
    assets.import_assets(s, team.admin, team.pid, records(2))
    a = assets.get_asset_by_external_id(s, team.admin, team.pid, "a0")
    labels.create_label(s, team.labeler, team.pid, a.id, json_response=answer("DISASTER"))
    without = {"jobs": [{"name": "JOB_0", "categories": [{"key": "NOT_DISASTER"}, {"key": "OTHER"}]}]}
    with pytest.raises(InvalidInput, match="removes category 'DISASTER' of job 'JOB_0'"):
        projects.update_project(s, team.admin, team.pid, interface=without)
    renamed_job = {"jobs": [{"name": "JOB_1", "categories": [{"key": "DISASTER"}, {"key": "NOT_DISASTER"}]}]}
    with pytest.raises(InvalidInput, match="removes job 'JOB_0'"):
        projects.update_project(s, team.admin, team.pid, interface=renamed_job)
    assert projects.get_project(s, team.admin, team.pid).interface["jobs"][0]["name"] == "JOB_0"
    wider = {
        "jobs": [
            {
                "name": "JOB_0",
                "categories": [
                    {"key": "DISASTER", "name": "Disaster!"},
                    {"key": "NOT_DISASTER"},
                    {"key": "UNSURE"},
                ],
            }
        ]
    }
    out = projects.update_project(s, team.admin, team.pid, interface=wider)
    assert [c["key"] for c in out.interface["jobs"][0]["categories"]] == [
        "DISASTER",
        "NOT_DISASTER",
        "UNSURE",
    ]


BAD_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"nope": 1}, "Unknown project setting 'nope'"),
    ({"honeypot_rate": 2.0}, "at most 1.0"),
    ({"honeypot_rate": "lots"}, "must be a float"),
    ({"queue_strategy": "magic"}, "must be one of"),
    ({"auto_train": 1}, "must be a bool"),
    ({"train_min_new_labels": 0}, "at least 1"),
]


def test_bad_settings_are_refused(team: Team) -> None:
    for settings, message in BAD_SETTINGS:
        with pytest.raises(InvalidInput, match=message):
            projects.update_project(team.store, team.admin, team.pid, settings=settings)


def test_members_and_the_last_admin(team: Team) -> None:
    s = team.store
    names = {m.username: m.role for m in projects.list_members(s, team.labeler, team.pid)}
    assert names == {"alice": Role.ADMIN, "rita": Role.REVIEWER, "leo": Role.LABELER}
    with pytest.raises(PermissionDenied):
        projects.add_member(s, team.reviewer, team.pid, username="otto", role="admin")
    with pytest.raises(InvalidInput, match="Unknown role"):
        projects.add_member(s, team.admin, team.pid, username="otto", role="boss")
    with pytest.raises(NotFound, match="No user named 'ghost'"):
        projects.add_member(s, team.admin, team.pid, username="ghost", role="labeler")
    with pytest.raises(Conflict, match="last admin"):
        projects.add_member(s, team.admin, team.pid, username="alice", role="labeler")
    with pytest.raises(Conflict, match="last admin"):
        projects.remove_member(s, team.admin, team.pid, username="alice")
    projects.add_member(s, team.admin, team.pid, username="leo", role="reviewer")
    assert projects.role_in_project(s, team.labeler, team.pid) == Role.REVIEWER
    projects.remove_member(s, team.admin, team.pid, username="leo")
    with pytest.raises(NotFound):
        projects.get_project(s, team.labeler, team.pid)


def test_project_stats_counts(team: Team) -> None:
    s = team.store
    recs = [
        *records(4),
        AssetIn(external_id="hp", content="gold", is_honeypot=True, honeypot_response=answer("DISASTER")),
    ]
    assets.import_assets(s, team.admin, team.pid, recs)
    ids = {a.external_id: a.id for a in assets.list_assets(s, team.admin, team.pid).items}
    labels.create_label(s, team.labeler, team.pid, ids["a0"], json_response=answer("DISASTER"))
    labels.create_label(s, team.labeler, team.pid, ids["a1"], json_response=answer("DISASTER"))
    labels.create_label(
        s, team.reviewer, team.pid, ids["a1"], json_response=answer("NOT_DISASTER"), label_type="REVIEW"
    )
    predictions.create_predictions(
        s,
        team.admin,
        team.pid,
        [PredictionIn(external_id="a2", json_response=prediction("DISASTER", 0.7))],
        model_name="ext",
    )
    st = projects.project_stats(s, team.labeler, team.pid)
    assert st.n_assets == 5 and st.n_honeypots == 1
    assert st.by_status[AssetStatus.TODO] == 3
    assert st.by_status[AssetStatus.LABELED] == 1 and st.by_status[AssetStatus.REVIEWED] == 1
    assert st.n_labeled == 2 and st.n_labels == 3 and st.n_predicted == 1 and st.n_model_versions == 1
    assert st.class_counts == {"JOB_0": {"DISASTER": 1, "NOT_DISASTER": 1}}


def test_delete_project_is_admin_only(team: Team, store: Store) -> None:
    assets.import_assets(store, team.admin, team.pid, records(3))
    with pytest.raises(PermissionDenied):
        projects.delete_project(store, team.labeler, team.pid)
    projects.delete_project(store, team.admin, team.pid)
    with pytest.raises(NotFound):
        projects.get_project(store, team.admin, team.pid)
    assert INTERFACE["jobs"]
