"""Queries on predictions and the model versions they belong to, for the service layer
(`prelabel.service.predictions`, `labels`) and the trainer's warm start: a model version by id, one prediction's
response, a page of predictions with their versions' display names, and the metrics of a family's READY versions.

Bulk upserts and "the current prediction" of an asset are generic helpers in `prelabel.store.repositories`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from prelabel.domain import ModelStatus
from prelabel.store import tables as t


class PredictionWithModel(NamedTuple):
    prediction: t.Prediction
    display_name: str  # the model version's f"{name}-{version}"


class VersionMetrics(NamedTuple):
    tier: str
    metrics: dict[str, Any] | None


def prediction_response(session: Session, asset_id: int, model_version_id: int) -> dict[str, Any] | None:
    """The json_response of the asset's prediction by that model version (None: it has none)."""
    return session.scalar(
        select(t.Prediction.json_response).where(
            t.Prediction.asset_id == asset_id, t.Prediction.model_version_id == model_version_id
        )
    )


def predictions_page(
    session: Session,
    project_id: int,
    *,
    asset_id: int | None,
    model_version_id: int | None,
    after_id: int | None,
    limit: int,
    ready_only: bool,
) -> list[PredictionWithModel]:
    """Up to `limit` predictions of the project with id > `after_id`, in id order, optionally of one asset and
    of one model version; `ready_only` keeps those of READY model versions."""
    mv = t.ModelVersion
    q = (
        select(t.Prediction, mv.name, mv.version)
        .join(mv, mv.id == t.Prediction.model_version_id)
        .where(t.Prediction.project_id == project_id)
    )
    if asset_id is not None:
        q = q.where(t.Prediction.asset_id == asset_id)
    if model_version_id is not None:
        q = q.where(t.Prediction.model_version_id == model_version_id)
    if ready_only:
        q = q.where(mv.status == ModelStatus.READY.value)
    if after_id is not None:
        q = q.where(t.Prediction.id > after_id)
    rows = session.execute(q.order_by(t.Prediction.id).limit(limit)).all()
    return [PredictionWithModel(p, f"{name}-{version}") for p, name, version in rows]


def ready_version_metrics(session: Session, project_id: int, *, family: str, limit: int) -> list[VersionMetrics]:
    """(tier, metrics) of the project's newest `limit` READY versions of a model family, newest first."""
    mv = t.ModelVersion
    rows = session.execute(
        select(mv.tier, mv.metrics)
        .where(mv.project_id == project_id, mv.status == ModelStatus.READY.value, mv.name == family)
        .order_by(mv.version.desc())
        .limit(limit)
    ).all()
    return [VersionMetrics(tier, metrics) for tier, metrics in rows]
