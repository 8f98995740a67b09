"""Projects and members over HTTP: CRUD, both interface shapes, roles (403) and visibility (404)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from prelabel.client import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)

TWEETS_INTERFACE = {
    "jobs": [{"name": "JOB_0", "categories": [{"key": "DISASTER", "name": "Disaster"}, {"key": "NOT_DISASTER"}]}]
}
ORIGINAL_SHAPE = {
    "jobs": {
        "JOB_0": {
            "mlTask": "CLASSIFICATION",
            "required": 1,
            "content": {
                "input": "radio",
                "categories": {"DISASTER": {"name": "Disaster"}, "NOT_DISASTER": {"name": "Not a disaster"}},
            },
        }
    }
}


def test_create_get_list_update_delete(alice: Any) -> None:
    c = alice.client
    p = c.create_project("Tweets", TWEETS_INTERFACE, description="d", settings={"honeypot_rate": 0.1})
    assert p.role == "admin" and p.title == "Tweets" and p.description == "d"
    assert p.settings["honeypot_rate"] == 0.1
    assert [j["name"] for j in p.interface["jobs"]] == ["JOB_0"]
    # The original workflow's shape: jobs → JOB → content → categories.
    cats = p.json_interface["jobs"]["JOB_0"]["content"]["categories"]
    assert list(cats) == ["DISASTER", "NOT_DISASTER"] and cats["DISASTER"]["name"] == "Disaster"
    assert c.get_project(p.id) == p
    assert [x.id for x in c.list_projects()] == [p.id]
    q = c.update_project(p.id, title="Tweets 2", description="new")
    assert (q.title, q.description) == ("Tweets 2", "new")
    c.delete_project(p.id)
    with pytest.raises(NotFoundError):
        c.get_project(p.id)


def test_original_interface_shape_is_accepted(alice: Any) -> None:
    p = alice.client.create_project("Original", ORIGINAL_SHAPE)
    assert [c["key"] for c in p.interface["jobs"][0]["categories"]] == ["DISASTER", "NOT_DISASTER"]


@pytest.mark.parametrize(
    ("interface", "expected"),
    [
        ({"jobs": []}, "at least one job"),
        ({"jobs": [{"name": "J", "categories": [{"key": "A"}]}]}, "job 'J' needs at least two categories"),
        ({"jobs": [{"name": "J", "categories": [{"key": "A"}, {"key": "A"}]}]}, "category 'A' appears twice"),
        ({"jobs": [{"name": "bad name!", "categories": [{"key": "A"}, {"key": "B"}]}]}, "invalid name"),
        ({"jobs": [{"name": "J", "input": "many", "categories": [{"key": "A"}, {"key": "B"}]}]}, "input"),
    ],
)
def test_invalid_interface_is_422_naming_the_problem(alice: Any, interface: Any, expected: str) -> None:
    with pytest.raises(InvalidRequestError) as exc:
        alice.client.create_project("Bad", interface)
    assert exc.value.status == 422 and expected in exc.value.message
    assert alice.client.list_projects() == []


def test_missing_fields_are_422(alice: Any, raw: httpx.Client, error_shape: Callable[..., Any]) -> None:
    r = raw.post("/api/v1/projects", json={"title": "x"}, headers={"X-API-Key": alice.token})
    err = error_shape(r, 422, "invalid_input")
    assert "interface" in err["message"]


def test_members_roles_and_visibility(alice: Any, make_user: Callable[..., Any], project_id: int) -> None:
    bob = make_user("bob")
    carol = make_user("carol")
    # Not a member: the project does not exist for bob (404), nor do its assets or export.
    for call in (
        lambda: bob.client.get_project(project_id),
        lambda: bob.client.list_assets(project_id),
        lambda: bob.client.project_stats(project_id),
        lambda: b"".join(bob.client.export(project_id)),
    ):
        with pytest.raises(NotFoundError):
            call()
    assert bob.client.list_projects() == []

    member = alice.client.add_member(project_id, "bob", "labeler")
    assert (member.username, member.role) == ("bob", "labeler")
    assert bob.client.get_project(project_id).role == "labeler"
    assert {m.username: m.role for m in bob.client.list_members(project_id)} == {
        "alice": "admin",
        "bob": "labeler",
    }

    # A labeler cannot change the interface, the title or the members.
    new_interface = {"jobs": [{"name": "JOB_0", "categories": [{"key": "A"}, {"key": "B"}]}]}
    with pytest.raises(PermissionDeniedError) as exc:
        bob.client.update_project(project_id, interface=new_interface)
    assert exc.value.status == 403 and exc.value.code == "permission_denied"
    with pytest.raises(PermissionDeniedError):
        bob.client.add_member(project_id, "carol", "admin")
    assert alice.client.get_project(project_id).interface["jobs"][0]["categories"][0]["key"] == "DISASTER"

    with pytest.raises(InvalidRequestError):
        alice.client.add_member(project_id, "carol", "boss")
    with pytest.raises(NotFoundError):
        alice.client.add_member(project_id, "nobody", "labeler")
    alice.client.add_member(project_id, "carol", "reviewer")
    alice.client.remove_member(project_id, "bob")
    with pytest.raises(NotFoundError):
        bob.client.get_project(project_id)
    with pytest.raises(ConflictError):
        alice.client.remove_member(project_id, "alice")  # the last admin
    assert carol.client.get_project(project_id).role == "reviewer"


def test_superuser_sees_every_project(make_user: Callable[..., Any], project_id: int) -> None:
    root = make_user("root", superuser=True)
    assert [p.id for p in root.client.list_projects()] == [project_id]
    assert root.client.get_project(project_id).role == "admin"


def test_interface_change_cannot_drop_a_used_category(alice: Any, project_id: int) -> None:
    c = alice.client
    c.import_assets(project_id, [{"external_id": "a", "content": "fire downtown"}])
    asset = c.list_assets(project_id).items[0]
    c.create_label(project_id, asset.id, {"JOB_0": {"categories": [{"name": "DISASTER"}]}})
    smaller = {"jobs": [{"name": "JOB_0", "categories": [{"key": "NOT_DISASTER"}, {"key": "OTHER"}]}]}
    with pytest.raises(InvalidRequestError) as exc:
        c.update_project(project_id, interface=smaller)
    assert "'DISASTER'" in exc.value.message
    renamed = {
        "jobs": [
            {
                "name": "JOB_0",
                "categories": [
                    {"key": "DISASTER", "name": "Real disaster"},
                    {"key": "NOT_DISASTER"},
                    {"key": "UNSURE"},
                ],
            }
        ]
    }
    p = c.update_project(project_id, interface=renamed)
    assert [x["key"] for x in p.interface["jobs"][0]["categories"]] == ["DISASTER", "NOT_DISASTER", "UNSURE"]


def test_stats(alice: Any, project_id: int) -> None:
    c = alice.client
    c.import_assets(project_id, [{"external_id": str(i), "content": f"t{i}"} for i in range(5)])
    first = c.list_assets(project_id).items[0]
    c.create_label(project_id, first.id, {"JOB_0": {"categories": [{"name": "DISASTER"}]}})
    stats = c.project_stats(project_id)
    assert stats.n_assets == 5 and stats.n_labeled == 1
    assert stats.by_status["LABELED"] == 1 and stats.by_status["TODO"] == 4
    assert stats.class_counts["JOB_0"]["DISASTER"] == 1


# --- category descriptions and the job's question ----------------------------------------------------
DESCRIBED = {
    "jobs": [
        {
            "name": "JOB_0",
            "instruction": "Is this tweet about a real disaster?",
            "categories": [
                {
                    "key": "DISASTER",
                    "name": "Disaster",
                    "description": "A tweet about a real disaster, accident or emergency happening now",
                },
                {"key": "NOT_DISASTER", "name": "Not a disaster"},
            ],
        }
    ]
}


def test_descriptions_and_question_round_trip_in_both_shapes(alice: Any) -> None:
    c = alice.client
    p = c.create_project("Described", DESCRIBED)
    job = p.interface["jobs"][0]
    assert job["instruction"] == "Is this tweet about a real disaster?"
    assert job["categories"][0] == {
        "key": "DISASTER",
        "name": "Disaster",
        "hotkey": None,
        "description": "A tweet about a real disaster, accident or emergency happening now",
    }
    assert job["categories"][1]["description"] == ""  # every category has one, empty when not given
    original = p.json_interface["jobs"]["JOB_0"]
    assert original["instruction"] == "Is this tweet about a real disaster?"
    assert original["content"]["categories"]["DISASTER"]["description"].startswith("A tweet about a real")
    assert c.get_project(p.id).interface == p.interface

    # the original jsonInterface shape takes them too, and its own output comes back the same
    q = c.create_project("Original described", p.json_interface)
    assert q.interface == p.interface
    shape = {
        "jobs": {
            "JOB_0": {
                "mlTask": "CLASSIFICATION",
                "instruction": "  Spam or not?  ",
                "content": {
                    "input": "radio",
                    "categories": {
                        "SPAM": {"name": "Spam", "description": "Unsolicited advertising or a scam"},
                        "HAM": {"name": "Ham", "description": None},
                    },
                },
            }
        }
    }
    r = c.create_project("Original", shape)
    assert r.interface["jobs"][0]["instruction"] == "Spam or not?"
    assert [x["description"] for x in r.interface["jobs"][0]["categories"]] == [
        "Unsolicited advertising or a scam",
        "",
    ]


def test_a_too_long_description_or_question_is_422_naming_job_and_category(
    alice: Any, raw: httpx.Client, error_shape: Callable[..., Any]
) -> None:
    c = alice.client
    long_doc = {
        "jobs": [
            {
                "name": "JOB_0",
                "categories": [{"key": "DISASTER", "description": "x" * 1001}, {"key": "NOT_DISASTER"}],
            }
        ]
    }
    r = raw.post("/api/v1/projects", json={"title": "Long", "interface": long_doc}, headers={"X-API-Key": alice.token})
    err = error_shape(r, 422, "invalid_input")
    assert "category 'DISASTER'" in err["message"] and "job 'JOB_0'" in err["message"]
    assert "1,001" in err["message"] and "1,000" in err["message"]
    # exactly 1,000 characters is fine
    long_doc["jobs"][0]["categories"][0]["description"] = "x" * 1000
    assert c.create_project("Long enough", long_doc).interface["jobs"][0]["categories"][0]["description"] == "x" * 1000

    original = {
        "jobs": {
            "J": {"content": {"categories": {"A": {"description": "y" * 1500}, "B": {}}}},
        }
    }
    with pytest.raises(InvalidRequestError) as exc:
        c.create_project("Long original", original)
    assert exc.value.status == 422 and "category 'A'" in exc.value.message and "job 'J'" in exc.value.message
    question = {"jobs": [{"name": "Q", "instruction": "?" * 2001, "categories": [{"key": "A"}, {"key": "B"}]}]}
    with pytest.raises(InvalidRequestError) as exc:
        c.create_project("Long question", question)
    assert "instruction (question) of job 'Q'" in exc.value.message
    with pytest.raises(InvalidRequestError) as exc:
        c.create_project("Not text", {"jobs": [{"name": "J", "categories": [{"key": "A", "description": 5},
                                                                           {"key": "B"}]}]})
    assert "description" in exc.value.message
    assert [p.title for p in c.list_projects()] == ["Long enough"]


def test_descriptions_and_question_can_change_on_a_labeled_project(alice: Any, project_id: int) -> None:
    c = alice.client
    c.import_assets(project_id, [{"external_id": "a", "content": "fire downtown"}])
    asset = c.list_assets(project_id).items[0]
    c.create_label(project_id, asset.id, {"JOB_0": {"categories": [{"name": "DISASTER"}]}})
    doc = c.get_project(project_id).interface
    doc["jobs"][0]["instruction"] = "Is this tweet about a real disaster?"
    doc["jobs"][0]["categories"][0]["description"] = "A real disaster, accident or emergency happening now"
    p = c.update_project(project_id, interface=doc)
    assert p.interface == doc
    assert p.json_interface["jobs"]["JOB_0"]["content"]["categories"]["DISASTER"]["description"].startswith("A real")
    # the other rules stay: a used category still cannot go, and a too long description is refused
    too_long = {**doc, "jobs": [{**doc["jobs"][0], "categories": [
        {**doc["jobs"][0]["categories"][0], "description": "z" * 1001}, doc["jobs"][0]["categories"][1]]}]}
    with pytest.raises(InvalidRequestError) as exc:
        c.update_project(project_id, interface=too_long)
    assert exc.value.status == 422 and "category 'DISASTER'" in exc.value.message
    dropped = {"jobs": [{**doc["jobs"][0], "categories": [{"key": "NOT_DISASTER"}, {"key": "OTHER"}]}]}
    with pytest.raises(InvalidRequestError):
        c.update_project(project_id, interface=dropped)
    assert c.get_project(project_id).interface == doc
