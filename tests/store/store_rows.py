"""Rows for the store tests, written straight through the mapped tables (the store functions under test read
and write them)."""

from __future__ import annotations

from typing import Any

from prelabel.store import tables as t
from prelabel.store.engine import Store


def add(store: Store, *rows: Any) -> list[int]:
    """Insert the rows in one transaction; their ids, in order."""
    with store.transaction() as s:
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def project(store: Store, title: str = "p") -> int:
    return add(store, t.Project(title=title, interface={"jobs": []}, settings={}))[0]


def user(store: Store, name: str) -> int:
    return add(store, t.User(username=name, password_hash="x"))[0]


def assets(store: Store, project_id: int, n: int, prefix: str = "e") -> list[int]:
    return add(
        store, *(t.Asset(project_id=project_id, external_id=f"{prefix}{i}", content=f"text {i}") for i in range(n))
    )


def label(store: Store, project_id: int, asset_id: int, author_id: int | None, kind: str = "DEFAULT") -> int:
    row = t.Label(project_id=project_id, asset_id=asset_id, author_id=author_id, label_type=kind, json_response={})
    return add(store, row)[0]


def version(
    store: Store, project_id: int, number: int, *, status: str = "READY", name: str = "automl", **fields: Any
) -> int:
    return add(store, t.ModelVersion(project_id=project_id, name=name, version=number, status=status, **fields))[0]


def prediction(store: Store, project_id: int, asset_id: int, model_version_id: int, key: str = "A") -> int:
    row = t.Prediction(
        project_id=project_id, asset_id=asset_id, model_version_id=model_version_id, json_response={"key": key}
    )
    return add(store, row)[0]
