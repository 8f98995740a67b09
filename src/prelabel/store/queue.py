"""Annotation-queue queries (`prelabel.service.queue`): leases, the next asset, honeypots, priorities, the
review list.

A lease is taken by one conditional ``UPDATE`` whose ``WHERE`` repeats the test that the asset is free (or
already the taker's), checked by its row count, so two labelers never get the same asset on any dialect. On
PostgreSQL the candidate ``SELECT`` also uses ``FOR UPDATE SKIP LOCKED``, so that concurrent requests pick
different rows instead of contending; SQLite's ``BEGIN IMMEDIATE`` serialises writers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, and_, exists, func, or_, select, update

from prelabel.domain import AssetStatus, LabelType
from prelabel.store import tables as t
from prelabel.store.engine import Session
from prelabel.store.jobs import expired_lease
from prelabel.store.tables import utcnow

HONEYPOT_CANDIDATES = 5  # rows tried per request on SQLite (PostgreSQL locks and tries one)
TODO_CANDIDATES = 10


def held_asset(session: Session, project_id: int, user_id: int, now: datetime) -> t.Asset | None:
    """The asset of the project `user_id` holds an unexpired lease on (still to label, or a honeypot); the
    latest-expiring one if several."""
    return session.scalars(
        select(t.Asset)
        .where(
            t.Asset.project_id == project_id,
            t.Asset.lease_user_id == user_id,
            t.Asset.lease_expires_at >= now,
            or_(t.Asset.status.in_([AssetStatus.TODO, AssetStatus.ONGOING]), t.Asset.is_honeypot),
        )
        .order_by(t.Asset.lease_expires_at.desc())
        .limit(1)
    ).first()


def take_lease(session: Session, asset_id: int, user_id: int, lease_seconds: float) -> t.Asset | None:
    """Lease the asset to `user_id` for `lease_seconds` if nobody else holds it; the asset as stored after the
    lease, or None when another labeler holds it."""
    now = utcnow()
    result = session.execute(
        update(t.Asset)
        .where(
            t.Asset.id == asset_id,
            or_(expired_lease(now), t.Asset.lease_user_id == user_id),  # type: ignore[arg-type]
        )
        .values(lease_user_id=user_id, lease_expires_at=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(t.Asset, asset_id, populate_existing=True)


def default_label_count(session: Session, project_id: int, user_id: int) -> int:
    """DEFAULT labels `user_id` has given in the project."""
    n = session.scalar(
        select(func.count(t.Label.id)).where(
            t.Label.project_id == project_id,
            t.Label.author_id == user_id,
            t.Label.label_type == LabelType.DEFAULT,
        )
    )
    return int(n or 0)


def lease_next_honeypot(
    session: Session, project_id: int, user_id: int, *, now: datetime, lease_seconds: float
) -> t.Asset | None:
    """Lease the free honeypot `user_id` has not labeled yet with the lowest id; None when there is none."""
    labeled_by_user = exists().where(t.Label.asset_id == t.Asset.id, t.Label.author_id == user_id)
    candidates = (
        select(t.Asset.id)
        .where(t.Asset.project_id == project_id, t.Asset.is_honeypot, ~labeled_by_user, expired_lease(now))  # type: ignore[arg-type]
        .order_by(t.Asset.id)
        .limit(HONEYPOT_CANDIDATES)
    )
    return _lease_first(session, candidates, user_id, lease_seconds)


def lease_next_todo(
    session: Session, project_id: int, user_id: int, *, now: datetime, lease_seconds: float
) -> t.Asset | None:
    """Lease the free TODO asset (not a honeypot) of the highest priority, ties by id; None when there is none."""
    candidates = (
        select(t.Asset.id)
        .where(
            t.Asset.project_id == project_id,
            t.Asset.status == AssetStatus.TODO,
            ~t.Asset.is_honeypot,
            expired_lease(now),  # type: ignore[arg-type]
        )
        .order_by(t.Asset.priority.desc(), t.Asset.id)
        .limit(TODO_CANDIDATES)
    )
    return _lease_first(session, candidates, user_id, lease_seconds)


def _lease_first(session: Session, candidates: Select[int], user_id: int, lease_seconds: float) -> t.Asset | None:
    """Lease the first of `candidates` (asset ids) that nobody took meanwhile."""
    if session.get_bind().dialect.name == "postgresql":  # lock only the row we take; other requests skip it
        candidates = candidates.limit(1).with_for_update(skip_locked=True)
    for asset_id in session.scalars(candidates).all():
        taken = take_lease(session, asset_id, user_id, lease_seconds)
        if taken is not None:
            return taken
    return None


def free_asset(asset: t.Asset, *, priority: float | None = None) -> None:
    """Clear the asset's lease (and set its queue priority when given), written when the caller's transaction
    flushes: an asset nobody held is left untouched (its ``updated_at`` too)."""
    if priority is not None:
        asset.priority = priority
    asset.lease_user_id = None
    asset.lease_expires_at = None


def lowest_priority(session: Session, project_id: int) -> float | None:
    """The lowest queue priority of the project's assets (None: no assets)."""
    found = session.scalar(select(func.min(t.Asset.priority)).where(t.Asset.project_id == project_id))
    return None if found is None else float(found)


def demote_initial_picks(session: Session, project_id: int) -> None:
    """Move an earlier first-order pick (priority in (1, 2)) back among the random priorities in [0, 1)."""
    session.execute(
        update(t.Asset)
        .where(t.Asset.project_id == project_id, t.Asset.priority > 1.0)
        .values(priority=t.Asset.priority - 1.0)
        .execution_options(synchronize_session=False)
    )


def flagged_assets(session: Session, project_id: int, *, after: tuple[float, int] | None, limit: int) -> list[t.Asset]:
    """Up to `limit` assets of the project flagged for review (a review reason, or status TO_REVIEW) and not
    REVIEWED yet, by review score (highest first, none as 0), then id; after the (score, id) `after`."""
    score = func.coalesce(t.Asset.review_score, 0.0)
    stmt = select(t.Asset).where(
        t.Asset.project_id == project_id,
        or_(t.Asset.review_reason.is_not(None), t.Asset.status == AssetStatus.TO_REVIEW),
        t.Asset.status != AssetStatus.REVIEWED,
    )
    if after is not None:
        a_score, a_id = after
        stmt = stmt.where(or_(score < a_score, and_(score == a_score, t.Asset.id > a_id)))
    return list(session.scalars(stmt.order_by(score.desc(), t.Asset.id).limit(limit)).all())
