"""Queries on labels for the service layer (`prelabel.service.labels`, `assets`): writing one label, a page of
labels with their authors, the newest label of an author (for undo), and which assets are labeled.

Effective labels (newest REVIEW, else newest DEFAULT) are generic helpers in `prelabel.store.repositories`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from prelabel.domain import LabelType
from prelabel.store import repositories as repo
from prelabel.store import tables as t


class LabelWithAuthor(NamedTuple):
    label: t.Label
    author: str | None  # the author's user name; None when the user is gone


def insert_label(
    session: Session,
    *,
    project_id: int,
    asset_id: int,
    author_id: int | None,
    label_type: str,
    json_response: dict[str, Any],
    seconds_to_label: float | None,
    model_version_id: int | None,
    agrees_with_prediction: bool | None,
    created_at: datetime,
) -> t.Label:
    """Add one label and flush the transaction's pending changes, so that the label has its id."""
    label = t.Label(
        project_id=project_id,
        asset_id=asset_id,
        author_id=author_id,
        label_type=label_type,
        json_response=json_response,
        seconds_to_label=seconds_to_label,
        model_version_id=model_version_id,
        agrees_with_prediction=agrees_with_prediction,
        created_at=created_at,
    )
    session.add(label)
    session.flush()
    return label


def label_by_id(session: Session, label_id: int) -> t.Label | None:
    return session.get(t.Label, label_id)


def delete_label(session: Session, label_id: int) -> None:
    session.execute(delete(t.Label).where(t.Label.id == label_id))


def newest_label_id(session: Session, asset_id: int, author_id: int, *, autosave: bool) -> int | None:
    """The id of the author's newest label on the asset among their autosaves (`autosave`) or among their
    submitted labels (DEFAULT and REVIEW); None when there is none."""
    kind = t.Label.label_type
    same_kind = kind == LabelType.AUTOSAVE.value if autosave else kind != LabelType.AUTOSAVE.value
    return session.scalar(
        select(t.Label.id)
        .where(t.Label.asset_id == asset_id, t.Label.author_id == author_id, same_kind)
        .order_by(t.Label.id.desc())
        .limit(1)
    )


def labels_page(
    session: Session, project_id: int, *, asset_id: int | None, after_id: int | None, limit: int
) -> list[LabelWithAuthor]:
    """Up to `limit` labels of the project (of one asset when `asset_id` is given) with id > `after_id`, in id
    order, with their authors' user names."""
    q = (
        select(t.Label, t.User.username)
        .outerjoin(t.User, t.User.id == t.Label.author_id)
        .where(t.Label.project_id == project_id)
    )
    if asset_id is not None:
        q = q.where(t.Label.asset_id == asset_id)
    if after_id is not None:
        q = q.where(t.Label.id > after_id)
    rows = session.execute(q.order_by(t.Label.id).limit(limit)).all()
    return [LabelWithAuthor(label, author) for label, author in rows]


def labeled_asset_ids(session: Session, asset_ids: Sequence[int]) -> set[int]:
    """Those of `asset_ids` that have a DEFAULT or REVIEW label."""
    labeled: set[int] = set()
    for part in repo.chunks(list(asset_ids), repo.IN_CHUNK):
        labeled.update(
            session.scalars(
                select(t.Label.asset_id).where(t.Label.asset_id.in_(part), t.Label.label_type.in_(repo.COUNTED_LABELS))
            )
        )
    return labeled
