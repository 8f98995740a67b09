"""The annotation queue: which asset a labeler gets next, with a lease so two labelers never get the same one.

`next_asset` returns, in order: the asset the actor already holds (an unexpired lease, so a page reload does
not hand out a second one); a honeypot the actor has not labeled yet when the project's ``honeypot_rate``
says one is due (deterministically: the n-th request of a labeler gets a honeypot when ``floor(n·rate)``
grows); else the highest-priority TODO asset that nobody holds (priorities come from the trainer's active-
learning strategy; ties by id). The lease is taken by one conditional ``UPDATE`` checked by its row count,
so concurrent requests never return the same asset. Saving a label (`service.labels.create_label`) clears
the lease.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update

from prelabel.domain import AssetStatus, LabelType, Role
from prelabel.errors import Conflict, InvalidInput, NotFound
from prelabel.service._access import require, role_of
from prelabel.service.auth import Actor
from prelabel.service.dto import AssetOut, AssetPage, PredictionOut
from prelabel.service.training import training_setting
from prelabel.store import jobs as sql
from prelabel.store import repositories as repo
from prelabel.store import tables as t
from prelabel.store.engine import Store
from prelabel.store.tables import utcnow

MAX_LEASE_SECONDS = 3600
REVIEW_REASONS = ("label_error", "model_disagrees")


def _current_prediction(session: Any, asset_id: int) -> PredictionOut | None:
    """The asset's current prediction (`repo.current_predictions`: the project's trusted versions first)."""
    found = repo.current_predictions(session, [asset_id]).get(asset_id)
    if found is None:
        return None
    pred, display_name = found
    return PredictionOut(
        id=pred.id,
        project_id=pred.project_id,
        asset_id=pred.asset_id,
        model_version_id=pred.model_version_id,
        model_name=display_name,
        json_response=pred.json_response,
        confidence=pred.confidence,
        created_at=pred.created_at,
    )


def _asset_out(session: Any, asset: t.Asset, *, with_prediction: bool = True) -> AssetOut:
    out = AssetOut.model_validate(asset)
    if with_prediction:
        out.current_prediction = _current_prediction(session, asset.id)
    return out


def _take(session: Any, asset_id: int, actor: Actor, lease_seconds: float) -> bool:
    now = utcnow()
    result = session.execute(
        update(t.Asset)
        .where(
            t.Asset.id == asset_id,
            or_(sql.expired_lease(now), t.Asset.lease_user_id == actor.user_id),  # type: ignore[arg-type]
        )
        .values(lease_user_id=actor.user_id, lease_expires_at=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def _honeypot_due(session: Any, actor: Actor, project_id: int, rate: float) -> bool:
    if rate <= 0:
        return False
    n = int(
        session.scalar(
            select(func.count(t.Label.id)).where(
                t.Label.project_id == project_id,
                t.Label.author_id == actor.user_id,
                t.Label.label_type == LabelType.DEFAULT,
            )
        )
        or 0
    )
    return int((n + 1) * rate) > int(n * rate)


def next_asset(store: Store, actor: Actor, project_id: int, *, lease_seconds: float = 300) -> AssetOut | None:
    """The asset the actor should label next, leased to them for `lease_seconds`; None when nothing is
    left."""
    if not 1 <= lease_seconds <= MAX_LEASE_SECONDS:
        raise InvalidInput(f"lease_seconds must be from 1 to {MAX_LEASE_SECONDS}; got {lease_seconds}.")
    with store.transaction() as s:
        role_of(s, actor, project_id)
        project = s.get(t.Project, project_id)
        assert project is not None
        now = utcnow()
        mine = s.scalars(
            select(t.Asset)
            .where(
                t.Asset.project_id == project_id,
                t.Asset.lease_user_id == actor.user_id,
                t.Asset.lease_expires_at >= now,
                or_(t.Asset.status.in_([AssetStatus.TODO, AssetStatus.ONGOING]), t.Asset.is_honeypot),
            )
            .order_by(t.Asset.lease_expires_at.desc())
            .limit(1)
        ).first()
        if mine is not None and _take(s, mine.id, actor, lease_seconds):
            s.refresh(mine)
            return _asset_out(s, mine)
        pg = s.get_bind().dialect.name == "postgresql"
        free = sql.expired_lease(now)
        rate = float(training_setting(project.settings, "honeypot_rate"))
        if _honeypot_due(s, actor, project_id, rate):
            labeled_by_me = exists().where(t.Label.asset_id == t.Asset.id, t.Label.author_id == actor.user_id)
            stmt = (
                select(t.Asset.id)
                .where(t.Asset.project_id == project_id, t.Asset.is_honeypot, ~labeled_by_me, free)  # type: ignore[arg-type]
                .order_by(t.Asset.id)
                .limit(5)
            )
            if pg:  # lock only the row we take; other requests skip it
                stmt = stmt.limit(1).with_for_update(skip_locked=True)
            for aid in s.scalars(stmt).all():
                if _take(s, aid, actor, lease_seconds):
                    return _asset_out(s, s.get(t.Asset, aid, populate_existing=True))  # type: ignore[arg-type]
        stmt = (
            select(t.Asset.id)
            .where(
                t.Asset.project_id == project_id,
                t.Asset.status == AssetStatus.TODO,
                ~t.Asset.is_honeypot,
                free,  # type: ignore[arg-type]
            )
            .order_by(t.Asset.priority.desc(), t.Asset.id)
            .limit(10)
        )
        if pg:  # lock only the row we take; other requests skip it
            stmt = stmt.limit(1).with_for_update(skip_locked=True)
        for aid in s.scalars(stmt).all():
            if _take(s, aid, actor, lease_seconds):
                return _asset_out(s, s.get(t.Asset, aid, populate_existing=True))  # type: ignore[arg-type]
        return None


def _held(session: Any, actor: Actor, project_id: int, asset_id: int) -> t.Asset:
    asset = session.get(t.Asset, asset_id)
    if asset is None or asset.project_id != project_id:
        raise NotFound(f"Asset {asset_id} not found in project {project_id}.")
    if (
        asset.lease_user_id not in (None, actor.user_id)
        and asset.lease_expires_at is not None
        and asset.lease_expires_at > utcnow()
    ):
        raise Conflict(f"Asset {asset_id} is leased to another labeler; you can only release your own lease.")
    return asset


def release_lease(store: Store, actor: Actor, project_id: int, asset_id: int) -> None:
    """Give an asset back to the queue (e.g. the labeler closed the page)."""
    with store.transaction() as s:
        role_of(s, actor, project_id)
        asset = _held(s, actor, project_id, asset_id)
        asset.lease_user_id = None
        asset.lease_expires_at = None


def skip_asset(store: Store, actor: Actor, project_id: int, asset_id: int) -> None:
    """Release the asset and move it behind every other asset in the queue (until priorities are
    recomputed)."""
    with store.transaction() as s:
        role_of(s, actor, project_id)
        asset = _held(s, actor, project_id, asset_id)
        lowest = s.scalar(select(func.min(t.Asset.priority)).where(t.Asset.project_id == project_id))
        asset.priority = float(lowest or 0.0) - 1.0
        asset.lease_user_id = None
        asset.lease_expires_at = None


def set_priorities(
    store: Store, project_id: int, rows: Iterable[tuple[int, float]], *, chunk: int = 5000
) -> int:
    """Worker path (no actor): bulk-set queue priorities (higher first), in chunked transactions."""
    n = 0
    batch: list[tuple[int, float]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            with store.transaction() as s:
                n += sql.set_priorities(s, project_id, batch)
            batch = []
    if batch:
        with store.transaction() as s:
            n += sql.set_priorities(s, project_id, batch)
    return n


def set_initial_order(store: Store, project_id: int, rows: Sequence[tuple[int, float]]) -> bool:
    """Worker path (the prepare job): give these assets priorities in (1, 2), in front of the import's random
    ones in [0, 1), in one transaction and only while no model has ordered the queue (a model's order is never
    overwritten); whether it was applied. An earlier prepare job's picks (a re-run, a second import) go back
    among the random ones first, so only this job's picks are in front."""
    with store.transaction() as s:
        if sql.lock_project(s, project_id) is None or sql.has_ready_model(s, project_id):
            return False
        s.execute(
            update(t.Asset)
            .where(t.Asset.project_id == project_id, t.Asset.priority > 1.0)
            .values(priority=t.Asset.priority - 1.0)
            .execution_options(synchronize_session=False)
        )
        sql.set_priorities(s, project_id, rows)
        return True


def review_list(
    store: Store, actor: Actor, project_id: int, *, after: str | None = None, limit: int = 50
) -> AssetPage:
    """Labeled assets the model contradicts (label errors first, by score), for reviewers and admins.

    Flags come from the trainer (`review_reason` 'label_error': confident learning on out-of-fold
    probabilities; 'model_disagrees': the out-of-fold prediction differs from the label). Assets already
    REVIEWED are left out. `after` is the `next_cursor` of the previous page.
    """
    limit = max(1, min(int(limit), 500))
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id, Role.REVIEWER, "open the review list")
        score = func.coalesce(t.Asset.review_score, 0.0)
        stmt = select(t.Asset).where(
            t.Asset.project_id == project_id,
            or_(t.Asset.review_reason.is_not(None), t.Asset.status == AssetStatus.TO_REVIEW),
            t.Asset.status != AssetStatus.REVIEWED,
        )
        if after:
            try:
                s_txt, id_txt = after.split(":", 1)
                a_score, a_id = float(s_txt), int(id_txt)
            except ValueError:
                raise InvalidInput(
                    f"Invalid cursor {after!r}; pass the next_cursor of the previous page."
                ) from None
            stmt = stmt.where(or_(score < a_score, and_(score == a_score, t.Asset.id > a_id)))
        rows = s.scalars(stmt.order_by(score.desc(), t.Asset.id).limit(limit + 1)).all()
        items = [_with_labels(s, _asset_out(s, a), a.id) for a in rows[:limit]]
        cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            cursor = f"{float(last.review_score or 0.0)!r}:{last.id}"
        return AssetPage(items=items, next_cursor=cursor)


def _with_labels(session: Any, out: AssetOut, asset_id: int) -> AssetOut:
    from prelabel.service.dto import LabelOut

    labels = session.execute(
        select(t.Label, t.User.username)
        .outerjoin(t.User, t.User.id == t.Label.author_id)
        .where(t.Label.asset_id == asset_id, t.Label.label_type.in_([LabelType.DEFAULT, LabelType.REVIEW]))
        .order_by(t.Label.id.desc())
    ).all()
    out.labels = [LabelOut.model_validate(lab).model_copy(update={"author": name}) for lab, name in labels]
    return out
