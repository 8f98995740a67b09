"""Training-job queue and scheduling queries (`prelabel.service.training`): queuing and listing jobs, and what
the label trigger reads to decide whether a project is due for a model.

The claims, heartbeats and finishes of held jobs are in `prelabel.store.jobs`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from prelabel.domain import JobStatus, LabelType
from prelabel.store import tables as t
from prelabel.store.engine import Session
from prelabel.store.jobs import _utc
from prelabel.store.tables import utcnow

FAST_TIER = "fast"


def job_by_id(session: Session, job_id: int) -> t.TrainingJob | None:
    return session.get(t.TrainingJob, job_id)


def labeled_asset_count(session: Session, project_id: int) -> int:
    """Assets of the project with a DEFAULT or REVIEW label (counted on the labels, by their project index)."""
    n = session.scalar(
        select(func.count(func.distinct(t.Label.asset_id))).where(
            t.Label.project_id == project_id,
            t.Label.label_type.in_([LabelType.DEFAULT, LabelType.REVIEW]),
        )
    )
    return int(n or 0)


def insert_job(
    session: Session, project_id: int, tier: str, *, reason: str, requested_by: int | None, n_labels: int
) -> t.TrainingJob:
    """A new QUEUED job (flushed: its id is set)."""
    job = t.TrainingJob(
        project_id=project_id,
        tier=tier,
        status=JobStatus.QUEUED,
        reason=reason,
        requested_by=requested_by,
        n_labels=n_labels,
        created_at=utcnow(),
    )
    session.add(job)
    session.flush()
    return job


def newest_jobs(session: Session, project_id: int, limit: int) -> list[t.TrainingJob]:
    """The project's last `limit` jobs, newest (highest id) first."""
    return list(
        session.scalars(
            select(t.TrainingJob)
            .where(t.TrainingJob.project_id == project_id)
            .order_by(t.TrainingJob.id.desc())
            .limit(limit)
        ).all()
    )


def newest_fast_job(session: Session, project_id: int, *, with_cancelled: bool) -> t.TrainingJob | None:
    """The project's most recently queued fast job (CANCELLED ones only `with_cancelled`)."""
    stmt = select(t.TrainingJob).where(t.TrainingJob.project_id == project_id, t.TrainingJob.tier == FAST_TIER)
    if not with_cancelled:
        stmt = stmt.where(t.TrainingJob.status != JobStatus.CANCELLED)
    return session.scalars(stmt.order_by(t.TrainingJob.created_at.desc(), t.TrainingJob.id.desc()).limit(1)).first()


def fast_job_times(session: Session) -> dict[int, datetime]:
    """project id → the queue time of its newest fast job (of any status), for the projects that have one."""
    rows = session.execute(
        select(t.TrainingJob.project_id, func.max(t.TrainingJob.created_at))
        .where(t.TrainingJob.tier == FAST_TIER)
        .group_by(t.TrainingJob.project_id)
    ).all()
    out: dict[int, datetime] = {}
    for project_id, newest in rows:
        when = _utc(newest)  # an aggregate bypasses the column type on SQLite
        if when is not None:
            out[int(project_id)] = when
    return out


def project_ids(session: Session) -> list[int]:
    return [int(pid) for pid in session.scalars(select(t.Project.id)).all()]


def newest_label_time(session: Session, project_id: int) -> datetime | None:
    """The creation time of the project's newest label (of any type); one lookup on the (project_id, id) index."""
    newest = session.scalar(
        select(t.Label.created_at).where(t.Label.project_id == project_id).order_by(t.Label.id.desc()).limit(1)
    )
    return _utc(newest)
