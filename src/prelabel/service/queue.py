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

from prelabel.domain import LabelType, Role
from prelabel.errors import Conflict, InvalidInput
from prelabel.service._access import asset_or_404, require, role_of
from prelabel.service.assets import label_out, prediction_out
from prelabel.service.auth import Actor
from prelabel.service.dto import AssetOut, AssetPage, PredictionOut
from prelabel.service.training import training_setting
from prelabel.store import jobs as sql
from prelabel.store import projects as projects_repo
from prelabel.store import queue as queue_repo
from prelabel.store import repositories as repo
from prelabel.store import tables as t
from prelabel.store.engine import Session, Store
from prelabel.store.tables import utcnow

MAX_LEASE_SECONDS = 3600
REVIEW_REASONS = ("label_error", "model_disagrees")
REVIEW_LIST_LABELS = (LabelType.DEFAULT.value, LabelType.REVIEW.value)


def _current_prediction(session: Session, asset_id: int) -> PredictionOut | None:
    """The asset's current prediction (`repo.current_predictions`: the project's trusted versions first)."""
    found = repo.current_predictions(session, [asset_id]).get(asset_id)
    return prediction_out(*found) if found is not None else None


def _asset_out(session: Session, asset: t.Asset) -> AssetOut:
    out = AssetOut.model_validate(asset)
    out.current_prediction = _current_prediction(session, asset.id)
    return out


def _honeypot_due(session: Session, actor: Actor, project_id: int, rate: float) -> bool:
    if rate <= 0:
        return False
    n = queue_repo.default_label_count(session, project_id, actor.user_id)
    return int((n + 1) * rate) > int(n * rate)


def next_asset(store: Store, actor: Actor, project_id: int, *, lease_seconds: float = 300) -> AssetOut | None:
    """The asset the actor should label next, leased to them for `lease_seconds`; None when nothing is
    left."""
    if not 1 <= lease_seconds <= MAX_LEASE_SECONDS:
        raise InvalidInput(f"lease_seconds must be from 1 to {MAX_LEASE_SECONDS}; got {lease_seconds}.")
    # Reads before and after the write transaction: it holds the write lock only to take the lease.
    with store.transaction(read_only=True) as s:
        role_of(s, actor, project_id)
        project = projects_repo.get_project(s, project_id)
        assert project is not None
        rate = float(training_setting(project.settings, "honeypot_rate"))
        honeypot_due = _honeypot_due(s, actor, project_id, rate)
    with store.transaction() as s:
        leased = _lease_next(s, actor, project_id, honeypot_due=honeypot_due, lease_seconds=lease_seconds)
    if leased is None:
        return None
    with store.transaction(read_only=True) as s:
        return _asset_out(s, leased)


def _lease_next(
    s: Session, actor: Actor, project_id: int, *, honeypot_due: bool, lease_seconds: float
) -> t.Asset | None:
    """Lease the asset the actor already holds, else a due honeypot, else the queue's first free TODO asset."""
    now = utcnow()
    mine = queue_repo.held_asset(s, project_id, actor.user_id, now)
    if mine is not None:
        renewed = queue_repo.take_lease(s, mine.id, actor.user_id, lease_seconds)
        if renewed is not None:
            return renewed
    if honeypot_due:
        honeypot = queue_repo.lease_next_honeypot(s, project_id, actor.user_id, now=now, lease_seconds=lease_seconds)
        if honeypot is not None:
            return honeypot
    return queue_repo.lease_next_todo(s, project_id, actor.user_id, now=now, lease_seconds=lease_seconds)


def _held(session: Session, actor: Actor, project_id: int, asset_id: int) -> t.Asset:
    asset = asset_or_404(session, project_id, asset_id)
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
        queue_repo.free_asset(_held(s, actor, project_id, asset_id))


def skip_asset(store: Store, actor: Actor, project_id: int, asset_id: int) -> None:
    """Release the asset and move it behind every other asset in the queue (until priorities are
    recomputed)."""
    with store.transaction() as s:
        role_of(s, actor, project_id)
        asset = _held(s, actor, project_id, asset_id)
        lowest = queue_repo.lowest_priority(s, project_id)
        queue_repo.free_asset(asset, priority=float(lowest or 0.0) - 1.0)


def set_priorities(store: Store, project_id: int, rows: Iterable[tuple[int, float]], *, chunk: int = 1000) -> int:
    """Worker path (no actor): bulk-set queue priorities (higher first), in transactions of `chunk` rows, short
    enough that labelers' requests do not wait long for SQLite's write lock."""
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
        queue_repo.demote_initial_picks(s, project_id)
        sql.set_priorities(s, project_id, rows)
        return True


def review_list(store: Store, actor: Actor, project_id: int, *, after: str | None = None, limit: int = 50) -> AssetPage:
    """Labeled assets the model contradicts (label errors first, by score), for reviewers and admins.

    Flags come from the trainer (`review_reason` 'label_error': confident learning on out-of-fold
    probabilities; 'model_disagrees': the out-of-fold prediction differs from the label). Assets already
    REVIEWED are left out. `after` is the `next_cursor` of the previous page.
    """
    limit = max(1, min(int(limit), 500))
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id, Role.REVIEWER, "open the review list")
        position = _review_cursor(after) if after else None
        rows = queue_repo.flagged_assets(s, project_id, after=position, limit=limit + 1)
        items = _with_labels(s, [_asset_out(s, a) for a in rows[:limit]])
        cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            cursor = f"{float(last.review_score or 0.0)!r}:{last.id}"
        return AssetPage(items=items, next_cursor=cursor)


def _review_cursor(after: str) -> tuple[float, int]:
    """(review score, asset id) of the last asset of the previous page, from its `next_cursor`."""
    try:
        s_txt, id_txt = after.split(":", 1)
        return float(s_txt), int(id_txt)
    except ValueError:
        raise InvalidInput(f"Invalid cursor {after!r}; pass the next_cursor of the previous page.") from None


def _with_labels(session: Session, items: list[AssetOut]) -> list[AssetOut]:
    """The assets with the labels that count (DEFAULT and REVIEW, newest first), for the whole page at once."""
    labels = repo.labels_for_assets(session, [a.id for a in items])
    for out in items:
        out.labels = [
            label_out(lab, who) for lab, who in labels.get(out.id, []) if lab.label_type in REVIEW_LIST_LABELS
        ]
    return items
