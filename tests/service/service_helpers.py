"""Helpers for the service tests: users with each role and a small single-choice project (real databases)."""

from __future__ import annotations

from dataclasses import dataclass

from prelabel.domain import Role
from prelabel.service import auth, projects
from prelabel.service.auth import Actor
from prelabel.service.dto import AssetIn, ProjectOut
from prelabel.store import tables as t
from prelabel.store.engine import Store

INTERFACE = {
    "jobs": [
        {
            "name": "JOB_0",
            "input": "single",
            "categories": [{"key": "DISASTER", "hotkey": "d"}, {"key": "NOT_DISASTER", "hotkey": "n"}],
        }
    ]
}
MULTI_INTERFACE = {
    "jobs": [
        {"name": "TOPIC", "input": "multi", "categories": [{"key": "a"}, {"key": "b"}, {"key": "c"}]},
        {
            "name": "TONE",
            "input": "single",
            "required": False,
            "categories": [{"key": "pos"}, {"key": "neg"}],
        },
    ]
}


def answer(key: str, job: str = "JOB_0") -> dict[str, object]:
    return {job: {"categories": [{"name": key}]}}


def prediction(key: str, prob: float, job: str = "JOB_0") -> dict[str, object]:
    return {job: {"categories": [{"name": key, "probability": prob}]}}


def make_user(store: Store, name: str, *, superuser: bool = False) -> Actor:
    user = auth.create_user(store, name, "correct horse battery", is_superuser=superuser)
    return Actor(user_id=user.id, username=user.username, is_superuser=user.is_superuser)


@dataclass
class Team:
    store: Store
    admin: Actor
    reviewer: Actor
    labeler: Actor
    outsider: Actor
    project: ProjectOut

    @property
    def pid(self) -> int:
        return self.project.id


_PASSWORD_HASH: list[str] = []


def make_team(store: Store) -> Team:
    """alice (admin), rita (reviewer), leo (labeler), otto (no member). Users are written in one transaction
    with one precomputed scrypt hash (create_user itself is tested in test_service_auth)."""
    if not _PASSWORD_HASH:
        _PASSWORD_HASH.append(auth.hash_password("correct horse battery"))
    with store.transaction() as s:
        users = [t.User(username=n, password_hash=_PASSWORD_HASH[0]) for n in ("alice", "rita", "leo", "otto")]
        s.add_all(users)
        s.flush()
        admin, reviewer, labeler, outsider = (Actor(user_id=u.id, username=u.username) for u in users)
    project = projects.create_project(store, admin, title="Tweets", interface=INTERFACE)
    projects.add_member(store, admin, project.id, username="rita", role=Role.REVIEWER)
    projects.add_member(store, admin, project.id, username="leo", role="labeler")
    return Team(store, admin, reviewer, labeler, outsider, project)


def records(n: int, prefix: str = "a", start: int = 0) -> list[AssetIn]:
    return [AssetIn(external_id=f"{prefix}{i}", content=f"text number {i}") for i in range(start, start + n)]
