"""Training-job and annotation-queue SQL: atomic claims with leases, heartbeats, priorities, keyset iteration.

All dialect specifics of the trainer and the queue live here. A claim is one conditional ``UPDATE`` whose
``WHERE`` repeats the claimability test (``status='QUEUED'`` or an expired lease), checked by its row count,
so two workers can never both win the same row on any dialect. On PostgreSQL the candidate ``SELECT`` also
uses ``FOR UPDATE SKIP LOCKED`` so that concurrent workers pick different rows instead of contending; on
SQLite write transactions are ``BEGIN IMMEDIATE`` (see engine.py), which serialises them.

Functions take an open `Session` (the caller owns the transaction) unless they say otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from prelabel.domain import AssetStatus, JobStatus, LabelType, ModelStatus
from prelabel.store import tables as t
from prelabel.store.engine import Store
from prelabel.store.tables import utcnow

TIER_ORDER = {"fast": 0, "search": 1}


def claimable(now: datetime) -> object:
    """SQL condition: a job that a worker may claim now (queued, or running with an expired lease)."""
    return or_(
        t.TrainingJob.status == JobStatus.QUEUED,
        and_(t.TrainingJob.status == JobStatus.RUNNING, t.TrainingJob.lease_expires_at < now),
    )


def claim_job(
    session: Session,
    worker_id: str,
    *,
    lease_seconds: float,
    project_id: int | None = None,
    tiers: Iterable[str] | None = None,
) -> t.TrainingJob | None:
    """Claim the most urgent claimable job (fast, then prepare, then search; then oldest) for `worker_id`; None if none.

    Increments `attempts`; a re-claimed job keeps its `model_version_id` so the claimer can clean up after the
    previous (crashed) holder.
    """
    now = utcnow()
    cond = claimable(now)
    stmt = select(t.TrainingJob.id).where(cond)  # type: ignore[arg-type]
    if project_id is not None:
        stmt = stmt.where(t.TrainingJob.project_id == project_id)
    if tiers is not None:
        stmt = stmt.where(t.TrainingJob.tier.in_(list(tiers)))
    tier_rank = case((t.TrainingJob.tier == "fast", 0), (t.TrainingJob.tier == "prepare", 1), else_=2)
    stmt = stmt.order_by(tier_rank, t.TrainingJob.created_at, t.TrainingJob.id).limit(5)
    if session.get_bind().dialect.name == "postgresql":  # lock only the row we take
        stmt = stmt.limit(1).with_for_update(skip_locked=True)
    for job_id in session.scalars(stmt).all():
        result = session.execute(
            update(t.TrainingJob)
            .where(t.TrainingJob.id == job_id, cond)  # type: ignore[arg-type]
            .values(
                status=JobStatus.RUNNING,
                worker_id=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=t.TrainingJob.attempts + 1,
                started_at=now,
                progress=0.0,
                message="claimed",
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return session.get(t.TrainingJob, job_id, populate_existing=True)
    return None


def heartbeat(
    session: Session,
    job_id: int,
    worker_id: str,
    *,
    lease_seconds: float,
    progress: float | None = None,
    message: str | None = None,
) -> bool:
    """Extend the lease of a job this worker holds (and record progress); False if the lease was lost."""
    values: dict[str, object] = {"lease_expires_at": utcnow() + timedelta(seconds=lease_seconds)}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, progress))
    if message is not None:
        values["message"] = message[:2000]
    return _update_held(session, job_id, worker_id, values)


def finish_job(
    session: Session,
    job_id: int,
    worker_id: str,
    *,
    status: JobStatus,
    message: str,
    model_version_id: int | None = None,
    n_labels: int | None = None,
) -> bool:
    """Mark a held job finished; False if this worker no longer holds it."""
    values: dict[str, object] = {
        "status": status,
        "message": message[:2000],
        "finished_at": utcnow(),
        "lease_expires_at": None,
    }
    if status == JobStatus.SUCCEEDED:
        values["progress"] = 1.0
    if model_version_id is not None:
        values["model_version_id"] = model_version_id
    if n_labels is not None:
        values["n_labels"] = n_labels
    return _update_held(session, job_id, worker_id, values)


def abandon_model_version(session: Session, model_version_id: int, reason: str) -> None:
    """A TRAINING version left behind by a crashed or failed job: drop its partial predictions, mark it
    FAILED."""
    mv = session.get(t.ModelVersion, model_version_id)
    if mv is None or mv.status != ModelStatus.TRAINING:
        return
    session.execute(delete(t.Prediction).where(t.Prediction.model_version_id == model_version_id))
    mv.status = ModelStatus.FAILED
    mv.finished_at = utcnow()
    mv.metrics = {**(mv.metrics or {}), "error": reason[:500]}


def active_jobs(session: Session, project_id: int) -> list[t.TrainingJob]:
    """QUEUED or RUNNING jobs of a project."""
    return list(
        session.scalars(
            select(t.TrainingJob).where(
                t.TrainingJob.project_id == project_id,
                t.TrainingJob.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
            )
        )
    )


def lock_project(session: Session, project_id: int) -> t.Project | None:
    """Row-lock a project (PostgreSQL) so that trigger checks of concurrent workers serialise; SQLite's
    ``BEGIN IMMEDIATE`` already serialises writers."""
    stmt = select(t.Project).where(t.Project.id == project_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def label_activity(
    session: Session, project_id: int, since: datetime | None
) -> tuple[int, datetime | None, datetime | None]:
    """DEFAULT/REVIEW labels created after `since` (all when None): (count, oldest time, newest time)."""
    cond = [
        t.Label.project_id == project_id,
        t.Label.label_type.in_([LabelType.DEFAULT, LabelType.REVIEW]),
    ]
    if since is not None:
        cond.append(t.Label.created_at > since)
    n, oldest, newest = session.execute(
        select(func.count(t.Label.id), func.min(t.Label.created_at), func.max(t.Label.created_at)).where(*cond)
    ).one()
    return int(n), _utc(oldest), _utc(newest)


def _utc(d: datetime | None) -> datetime | None:
    if d is None:
        return None
    if isinstance(d, str):  # aggregates bypass the column type on SQLite
        d = datetime.fromisoformat(d)
    return d if d.tzinfo is not None else d.replace(tzinfo=UTC)


def iter_asset_texts(store: Store, project_id: int, *, chunk: int = 2000) -> Iterator[list[tuple[int, str, str]]]:
    """Yield chunks of ``(asset_id, content, status)`` of a project by keyset on id, each read in its own
    short read-only transaction (so a long prediction run never holds the database)."""
    after = 0
    while True:
        with store.transaction(read_only=True) as s:
            rows = s.execute(
                select(t.Asset.id, t.Asset.content, t.Asset.status)
                .where(t.Asset.project_id == project_id, t.Asset.id > after)
                .order_by(t.Asset.id)
                .limit(chunk)
            ).all()
        if not rows:
            return
        yield [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
        after = int(rows[-1][0])


def sample_asset_texts(store: Store, project_id: int, statuses: Iterable[str], k: int = 2000) -> list[str]:
    """At most `k` texts of a project's assets with one of `statuses`, spread evenly over them in id order
    (every n-th: deterministic, and no random sort of a large table)."""
    wanted = [str(x) for x in statuses]
    if k < 1:
        return []
    with store.transaction(read_only=True) as s:
        ids = list(
            s.scalars(
                select(t.Asset.id)
                .where(t.Asset.project_id == project_id, t.Asset.status.in_(wanted))
                .order_by(t.Asset.id)
            )
        )
        if not ids:
            return []
        step = max(1, -(-len(ids) // k))
        chosen = ids[::step][:k]
        return [str(c) for c in s.scalars(select(t.Asset.content).where(t.Asset.id.in_(chosen)).order_by(t.Asset.id))]


def set_priorities(session: Session, project_id: int, rows: Iterable[tuple[int, float]]) -> int:
    """Bulk-update `assets.priority` (executemany); returns the number of rows given."""
    params = [{"aid": int(a), "pri": float(p), "pid": project_id} for a, p in rows]
    if not params:
        return 0
    from sqlalchemy import bindparam

    table: Any = t.Asset.__table__
    stmt = (
        update(table)
        .where(table.c.id == bindparam("aid"), table.c.project_id == bindparam("pid"))
        .values(priority=bindparam("pri"))
    )
    session.execute(stmt, params)
    return len(params)


def has_ready_model(session: Session, project_id: int, *, zero_shot: bool = False) -> bool:
    """True once the trainer has published a model for the project (it then orders the queue); a zero-shot
    version counts only with `zero_shot` (it orders nothing)."""
    tiers = () if zero_shot else ("zero-shot",)
    return (
        session.scalar(
            select(t.ModelVersion.id)
            .where(
                t.ModelVersion.project_id == project_id,
                t.ModelVersion.name == "automl",
                t.ModelVersion.status == ModelStatus.READY,
                t.ModelVersion.tier.not_in(tiers),
            )
            .limit(1)
        )
        is not None
    )


def queue_head(session: Session, project_id: int, n: int) -> list[tuple[int, str]]:
    """``(asset_id, content)`` of the first `n` unlabeled, non-honeypot assets with text, by queue priority."""
    rows = session.execute(
        select(t.Asset.id, t.Asset.content)
        .where(
            t.Asset.project_id == project_id,
            t.Asset.status == AssetStatus.TODO,
            t.Asset.is_honeypot.is_(False),
            func.length(func.trim(t.Asset.content)) > 0,
        )
        .order_by(t.Asset.priority.desc(), t.Asset.id)
        .limit(n)
    ).all()
    return [(int(a), str(c)) for a, c in rows]


LABELED_STATUSES = (AssetStatus.LABELED, AssetStatus.TO_REVIEW, AssetStatus.REVIEWED)


def ids_in_serving_order(session: Session, project_id: int) -> list[int]:
    """Ids of a project's assets with text in the order labelers meet them: the labeled ones first (the next
    model trains on them), then the ones being labeled now, then the rest by queue priority (highest first: the
    queue serves those next), ties by id."""
    rank = case(
        (t.Asset.status.in_(LABELED_STATUSES), 0), (t.Asset.status == AssetStatus.ONGOING, 1), else_=2
    )
    return list(
        session.scalars(
            select(t.Asset.id)
            .where(t.Asset.project_id == project_id, func.length(func.trim(t.Asset.content)) > 0)
            .order_by(rank, t.Asset.priority.desc(), t.Asset.id)
        )
    )


def asset_contents(store: Store, ids: Sequence[int]) -> list[str]:
    """The texts of the assets `ids`, in that order (one short read-only transaction; a missing id is
    skipped: an asset deleted since the ids were read)."""
    with store.transaction(read_only=True) as s:
        rows = s.execute(select(t.Asset.id, t.Asset.content).where(t.Asset.id.in_(list(ids)))).all()
    found = {int(a): str(c) for a, c in rows}
    return [found[i] for i in ids if i in found]


def set_review_flags(
    session: Session, project_id: int, flags: dict[int, tuple[str, float]], *, reasons: Iterable[str]
) -> None:
    """Replace the review flags with the given `reasons` by `flags` (asset id → (reason, score))."""
    from sqlalchemy import bindparam

    table: Any = t.Asset.__table__
    session.execute(
        update(table)
        .where(table.c.project_id == project_id, table.c.review_reason.in_(list(reasons)))
        .values(review_reason=None, review_score=None)
    )
    if flags:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("aid"), table.c.project_id == bindparam("pid"))
            .values(review_reason=bindparam("reason"), review_score=bindparam("score")),
            [{"aid": a, "pid": project_id, "reason": r, "score": float(sc)} for a, (r, sc) in flags.items()],
        )


def expired_lease(now: datetime) -> object:
    """SQL condition: an asset nobody holds (no lease or an expired one)."""
    return or_(t.Asset.lease_expires_at.is_(None), t.Asset.lease_expires_at < now)


QUEUE_STATUSES = (AssetStatus.TODO, AssetStatus.ONGOING)


def _update_held(session: Session, job_id: int, worker_id: str, values: dict[str, object]) -> bool:
    """Update a RUNNING job only while `worker_id` holds it; False if the lease was lost to another worker."""
    result = session.execute(
        update(t.TrainingJob)
        .where(
            t.TrainingJob.id == job_id,
            t.TrainingJob.worker_id == worker_id,
            t.TrainingJob.status == JobStatus.RUNNING,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def job_waiting(session: Session, tiers: Iterable[str] | None = None) -> bool:
    """Whether a QUEUED training job (of one of `tiers`; None: any tier) waits for a worker."""
    where = [t.TrainingJob.status == JobStatus.QUEUED]
    if tiers is not None:
        where.append(t.TrainingJob.tier.in_(list(tiers)))
    return session.scalar(select(t.TrainingJob.id).where(*where).limit(1)) is not None
