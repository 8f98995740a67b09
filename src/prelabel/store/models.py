"""Model-version queries (`prelabel.service.models`, `prelabel.service.training`): numbering, inserting,
finishing and publishing versions, and the lookups of a project's versions.

Which version's predictions labelers see is not decided here: that is `repositories.current_predictions` per
asset and `repositories.serving_version` per project.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from prelabel.domain import ModelStatus
from prelabel.store import tables as t
from prelabel.store.engine import Session
from prelabel.store.tables import utcnow


@dataclass(frozen=True)
class StoredArtifact:
    """A model version's artifact column: `data` is None when the version has no fitted model stored."""

    data: bytes | None


def model_version_by_id(session: Session, model_version_id: int) -> t.ModelVersion | None:
    return session.get(t.ModelVersion, model_version_id)


def model_version_of_project(session: Session, project_id: int, model_version_id: int) -> t.ModelVersion | None:
    """The model version, or None when it does not exist or belongs to another project."""
    mv = session.get(t.ModelVersion, model_version_id)
    return mv if mv is not None and mv.project_id == project_id else None


def highest_version_number(session: Session, project_id: int) -> int | None:
    """The highest version number among the project's model-version rows (None: it has none)."""
    return session.scalar(select(func.max(t.ModelVersion.version)).where(t.ModelVersion.project_id == project_id))


def set_version_counter(session: Session, project_id: int, number: int) -> None:
    """Set the project's model-version counter (`projects.last_model_version`) to `number`."""
    session.execute(update(t.Project).where(t.Project.id == project_id).values(last_model_version=number))


def insert_model_version(
    session: Session,
    project_id: int,
    *,
    name: str,
    version: int,
    tier: str,
    status: str,
    n_labels: int,
    metrics: dict[str, Any],
) -> t.ModelVersion:
    """A new model-version row (flushed: its id is set); finished at insertion unless it is TRAINING."""
    now = utcnow()
    mv = t.ModelVersion(
        project_id=project_id,
        name=name,
        version=version,
        tier=tier,
        status=status,
        metrics=metrics,
        n_labels=n_labels,
        created_at=now,
        finished_at=None if status == ModelStatus.TRAINING.value else now,
    )
    session.add(mv)
    session.flush()
    return mv


def set_version_fields(
    session: Session,
    mv: t.ModelVersion,
    *,
    status: str | None = None,
    metrics: dict[str, Any] | None = None,
    artifact: bytes | None = None,
    n_labels: int | None = None,
    finished_at: datetime | None = None,
) -> None:
    """Set the given fields of a model version (None: left as is) and flush. `metrics` replaces the stored
    dict: the JSON column is not mutation-tracked, so pass a new one."""
    if status is not None:
        mv.status = status
    if metrics is not None:
        mv.metrics = metrics
    if artifact is not None:
        mv.artifact = artifact
    if n_labels is not None:
        mv.n_labels = n_labels
    if finished_at is not None:
        mv.finished_at = finished_at
    session.flush()


def publish_model_version(
    session: Session, model_version_id: int, *, metrics: dict[str, Any], artifact: bytes | None, n_labels: int
) -> bool:
    """Mark a TRAINING version READY with its metrics, artifact and label count, by one conditional UPDATE;
    False (and nothing changed) when the version is not TRAINING any more (abandoned by a re-claimer)."""
    result = session.execute(
        update(t.ModelVersion)
        .where(t.ModelVersion.id == model_version_id, t.ModelVersion.status == ModelStatus.TRAINING)
        .values(
            status=ModelStatus.READY,
            metrics=metrics,
            artifact=artifact,
            finished_at=utcnow(),
            n_labels=n_labels,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def versions_of(session: Session, project_id: int) -> list[t.ModelVersion]:
    """The project's model versions, newest (highest number) first."""
    return list(
        session.scalars(
            select(t.ModelVersion)
            .where(t.ModelVersion.project_id == project_id)
            .order_by(t.ModelVersion.version.desc())
        ).all()
    )


def artifact_of(session: Session, model_version_id: int) -> StoredArtifact | None:
    """The version's artifact, read without loading the row (None: no such version)."""
    row = session.execute(select(t.ModelVersion.artifact).where(t.ModelVersion.id == model_version_id)).first()
    return None if row is None else StoredArtifact(row[0])


def newest_ready_version(
    session: Session, project_id: int, *, name: str | None = None, tier: str | None = None
) -> t.ModelVersion | None:
    """The project's highest-numbered READY version (of one family name / tier when given), whatever the
    project trusts for its suggestions (that is `repositories.serving_version`)."""
    stmt = select(t.ModelVersion).where(
        t.ModelVersion.project_id == project_id, t.ModelVersion.status == ModelStatus.READY.value
    )
    if name is not None:
        stmt = stmt.where(t.ModelVersion.name == name)
    if tier is not None:
        stmt = stmt.where(t.ModelVersion.tier == tier)
    return session.scalar(stmt.order_by(t.ModelVersion.version.desc()).limit(1))


def newest_ready_or_withdrawn(session: Session, project_id: int) -> t.ModelVersion | None:
    """The project's highest-numbered version that is READY or WITHDRAWN."""
    return session.scalar(
        select(t.ModelVersion)
        .where(
            t.ModelVersion.project_id == project_id,
            t.ModelVersion.status.in_((ModelStatus.READY.value, ModelStatus.WITHDRAWN.value)),
        )
        .order_by(t.ModelVersion.version.desc())
        .limit(1)
    )
