"""Helpers (imported as `loophelpers`) for the trainer and queue tests: real users, projects and assets
through the service layer."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prelabel.service.assets import import_assets
from prelabel.service.auth import Actor, create_user
from prelabel.service.dto import AssetIn
from prelabel.service.projects import add_member, create_project
from prelabel.store.engine import Store

SINGLE = {
    "jobs": [
        {
            "name": "TOPIC",
            "input": "single",
            "categories": [{"key": "SPORT"}, {"key": "TECH"}, {"key": "POLITICS"}],
        }
    ]
}


@dataclass
class World:
    store: Store
    admin: Actor
    labeler: Actor
    labeler2: Actor
    reviewer: Actor
    project_id: int
    asset_ids: list[int]


def actor(store: Store, name: str, *, superuser: bool = False) -> Actor:
    u = create_user(store, name, "correct horse battery staple", is_superuser=superuser)
    return Actor(user_id=u.id, username=u.username, is_superuser=superuser)


def make_world(
    store: Store,
    texts: list[str],
    *,
    interface: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    honeypots: int = 0,
) -> World:
    admin = actor(store, "admin")
    lab, lab2, rev = actor(store, "lab"), actor(store, "lab2"), actor(store, "rev")
    # no prepare job unless a test asks for one (it has tests of its own): the import's random order and
    # TF-IDF-only fast models
    base = {"use_embeddings": False, "queue_initial_order": "random"}
    chosen = settings or {"train_debounce_s": 0.0}
    project = create_project(store, admin, title="t", interface=interface or SINGLE, settings={**base, **chosen})
    for a, role in ((lab, "labeler"), (lab2, "labeler"), (rev, "reviewer")):
        add_member(store, admin, project.id, username=a.username, role=role)
    records = [
        AssetIn(external_id=f"a{i}", content=text, is_honeypot=i < honeypots) for i, text in enumerate(texts)
    ]
    import_assets(store, admin, project.id, records)
    from sqlalchemy import select

    from prelabel.store import tables as t

    with store.transaction(read_only=True) as s:
        ids = list(s.scalars(select(t.Asset.id).where(t.Asset.project_id == project.id).order_by(t.Asset.id)))
    return World(store, admin, lab, lab2, rev, project.id, ids)


TOPIC_WORDS = {
    "SPORT": ["match", "goal", "team", "league", "coach", "striker", "season", "score"],
    "TECH": ["software", "chip", "computer", "phone", "internet", "startup", "code", "robot"],
    "POLITICS": ["election", "minister", "vote", "party", "government", "law", "senate", "policy"],
}


def topic_corpus(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """A small synthetic 3-topic corpus (deterministic)."""
    import random

    rng = random.Random(seed)
    texts, labels = [], []
    keys = list(TOPIC_WORDS)
    filler = ["the", "a", "today", "new", "big", "report", "says", "after", "week"]
    for i in range(n):
        k = keys[i % 3]
        words = rng.sample(TOPIC_WORDS[k], 3) + rng.sample(filler, 3)
        rng.shuffle(words)
        texts.append(" ".join(words) + f" #{i}")
        labels.append(k)
    return texts, labels


def label(world: World, asset_id: int, key: str, *, who: Actor | None = None, job: str = "TOPIC") -> None:
    from prelabel.service.labels import create_label

    create_label(
        world.store,
        who or world.labeler,
        world.project_id,
        asset_id,
        json_response={job: {"categories": [{"name": key}]}},
    )


def read_csv(path: Path, limit: int) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [row for _, row in zip(range(limit), csv.DictReader(fh), strict=False)]
