"""Model versions: numbered per project (1, 2, 3 … never reused), with status, metrics and artifact bytes.

The trainer creates a version (TRAINING), writes its predictions, then finishes it (READY or FAILED).
Tiers (`model_versions.tier`, free text up to 20 characters): "zero-shot" (built by the trainer from the
categories' descriptions and the job's question before any label), "fast", "search", and "external":
predictions pushed through the API create READY versions of tier "external".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from prelabel.domain import ModelStatus
from prelabel.errors import InvalidInput, NotFound
from prelabel.service._access import require
from prelabel.service.auth import Actor
from prelabel.service.dto import ModelVersionOut
from prelabel.store import repositories as repo
from prelabel.store import tables as t
from prelabel.store.engine import Store

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def model_version_out(mv: t.ModelVersion) -> ModelVersionOut:
    return ModelVersionOut(
        id=mv.id,
        project_id=mv.project_id,
        name=mv.name,
        version=mv.version,
        display_name=f"{mv.name}-{mv.version}",
        tier=mv.tier,
        status=mv.status,
        metrics=mv.metrics or {},
        n_labels=mv.n_labels,
        created_at=mv.created_at,
        finished_at=mv.finished_at,
    )


def _status(status: ModelStatus | str) -> str:
    try:
        return ModelStatus(status).value
    except ValueError:
        raise InvalidInput(
            f"Unknown model status {status!r}; use one of {[m.value for m in ModelStatus]}."
        ) from None


def check_model_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100 or not set(name) <= _NAME_CHARS:
        raise InvalidInput(
            f"Invalid model name {name!r}: use 1-100 letters, digits, '_', '.' or '-' (e.g. 'automl')."
        )
    return name


def new_model_version(
    s: Session,
    project_id: int,
    *,
    name: str,
    tier: str,
    status: str,
    n_labels: int = 0,
    metrics: dict[str, Any] | None = None,
) -> t.ModelVersion:
    """Insert a model version with the project's next number, inside the caller's transaction."""
    number = repo.next_model_version_number(s, project_id)
    if number is None:
        raise NotFound(f"Project {project_id} not found.")
    # Guard against rows written without the counter (e.g. restored data): never collide with them.
    highest = s.scalar(
        select(func.max(t.ModelVersion.version)).where(t.ModelVersion.project_id == project_id)
    )
    if highest is not None and highest >= number:
        number = highest + 1
        s.execute(update(t.Project).where(t.Project.id == project_id).values(last_model_version=number))
    now = t.utcnow()
    mv = t.ModelVersion(
        project_id=project_id,
        name=name,
        version=number,
        tier=tier,
        status=status,
        metrics=metrics or {},
        n_labels=n_labels,
        created_at=now,
        finished_at=None if status == ModelStatus.TRAINING.value else now,
    )
    s.add(mv)
    s.flush()
    return mv


def create_model_version(
    store: Store,
    project_id: int,
    *,
    name: str = "automl",
    tier: str = "fast",
    status: ModelStatus | str = ModelStatus.TRAINING,
    n_labels: int = 0,
    metrics: dict[str, Any] | None = None,
) -> ModelVersionOut:
    """A new model version with the project's next version number (atomic; numbers are never reused)."""
    name = check_model_name(name)
    status = _status(status)
    with store.transaction() as s:
        return model_version_out(
            new_model_version(
                s, project_id, name=name, tier=tier, status=status, n_labels=n_labels, metrics=metrics
            )
        )


def finish_model_version(
    store: Store,
    model_version_id: int,
    *,
    status: ModelStatus | str,
    metrics: dict[str, Any] | None = None,
    artifact: bytes | None = None,
    n_labels: int | None = None,
) -> ModelVersionOut:
    """Set the final status (READY / FAILED), metrics (merged into existing ones) and artifact bytes."""
    status = _status(status)
    with store.transaction() as s:
        mv = s.get(t.ModelVersion, model_version_id)
        if mv is None:
            raise NotFound(f"Model version {model_version_id} not found.")
        mv.status = status
        if metrics is not None:
            mv.metrics = {**(mv.metrics or {}), **metrics}
        if artifact is not None:
            mv.artifact = artifact
        if n_labels is not None:
            mv.n_labels = n_labels
        mv.finished_at = t.utcnow()
        s.flush()
        return model_version_out(mv)


def list_model_versions(store: Store, actor: Actor, project_id: int) -> list[ModelVersionOut]:
    """The project's model versions, newest first (any member)."""
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id)
        rows = s.scalars(
            select(t.ModelVersion)
            .where(t.ModelVersion.project_id == project_id)
            .order_by(t.ModelVersion.version.desc())
        )
        return [model_version_out(mv) for mv in rows]


def get_model_version(store: Store, actor: Actor, project_id: int, model_version_id: int) -> ModelVersionOut:
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id)
        mv = s.get(t.ModelVersion, model_version_id)
        if mv is None or mv.project_id != project_id:
            raise NotFound(f"Model version {model_version_id} not found in project {project_id}.")
        return model_version_out(mv)


def load_artifact(store: Store, model_version_id: int) -> bytes | None:
    """The fitted model's bytes (None when the version has none)."""
    with store.transaction(read_only=True) as s:
        row = s.execute(select(t.ModelVersion.artifact).where(t.ModelVersion.id == model_version_id)).first()
        if row is None:
            raise NotFound(f"Model version {model_version_id} not found.")
        return row[0]


def latest_ready_model_version(
    store: Store, project_id: int, *, name: str | None = None, tier: str | None = None
) -> ModelVersionOut | None:
    """The project's newest READY model version (optionally of one family name / tier), or None."""
    with store.transaction(read_only=True) as s:
        q = select(t.ModelVersion).where(
            t.ModelVersion.project_id == project_id, t.ModelVersion.status == ModelStatus.READY.value
        )
        if name is not None:
            q = q.where(t.ModelVersion.name == name)
        if tier is not None:
            q = q.where(t.ModelVersion.tier == tier)
        mv = s.scalar(q.order_by(t.ModelVersion.version.desc()).limit(1))
        return model_version_out(mv) if mv is not None else None
