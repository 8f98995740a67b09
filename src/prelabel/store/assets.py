"""Queries on single assets for the service layer (`prelabel.service.assets`, `labels`, `predictions`): an asset
by id or external id, whether a project has any, and deleting assets with their labels and predictions.

Filters, keyset pages and bulk writes of assets are generic helpers in `prelabel.store.repositories`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from prelabel.store import repositories as repo
from prelabel.store import tables as t


def project_has_assets(session: Session, project_id: int) -> bool:
    """Whether the project has at least one asset (one index seek)."""
    found = session.scalar(select(t.Asset.id).where(t.Asset.project_id == project_id).limit(1))
    return found is not None


def asset_by_id(session: Session, asset_id: int) -> t.Asset | None:
    return session.get(t.Asset, asset_id)


def asset_of_project(session: Session, project_id: int, asset_id: int) -> t.Asset | None:
    """The asset, or None when it does not exist or belongs to another project."""
    asset = session.get(t.Asset, asset_id)
    return asset if asset is not None and asset.project_id == project_id else None


def asset_by_external_id(session: Session, project_id: int, external_id: str) -> t.Asset | None:
    return session.scalar(select(t.Asset).where(t.Asset.project_id == project_id, t.Asset.external_id == external_id))


def delete_assets(session: Session, asset_ids: Sequence[int]) -> None:
    """Delete the assets with their labels and predictions.

    The children are deleted by explicit statements, one of each per chunk of ids, so that the result does not
    depend on the database's foreign-key cascade settings (SQLite enforces them only when asked)."""
    for part in repo.chunks(sorted(asset_ids), repo.IN_CHUNK):
        session.execute(delete(t.Label).where(t.Label.asset_id.in_(part)))
        session.execute(delete(t.Prediction).where(t.Prediction.asset_id.in_(part)))
        session.execute(delete(t.Asset).where(t.Asset.id.in_(part)))
