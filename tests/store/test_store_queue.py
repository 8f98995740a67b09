"""The annotation queue's queries on every backend: leases, the next TODO asset and honeypot, the review list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from prelabel.store import queue as queue_repo
from prelabel.store import tables as t
from prelabel.store.engine import Store
from prelabel.store.tables import utcnow


@dataclass(frozen=True)
class Queue:
    project_id: int
    other_project_id: int
    ann: int
    bob: int


def _queue(store: Store) -> Queue:
    with store.transaction() as s:
        ann, bob = t.User(username="ann", password_hash="x"), t.User(username="bob", password_hash="x")
        p, other = t.Project(title="p", interface={}), t.Project(title="other", interface={})
        s.add_all([ann, bob, p, other])
        s.flush()
        return Queue(p.id, other.id, ann.id, bob.id)


def _assets(store: Store, project_id: int, *rows: dict[str, object]) -> list[int]:
    with store.transaction() as s:
        assets = [
            t.Asset(project_id=project_id, external_id=f"x{i}", content=f"text {i}", **r) for i, r in enumerate(rows)
        ]
        s.add_all(assets)
        s.flush()
        return [a.id for a in assets]


def _label(store: Store, q: Queue, asset_id: int, author: int, label_type: str = "DEFAULT") -> None:
    with store.transaction() as s:
        s.add(
            t.Label(
                project_id=q.project_id, asset_id=asset_id, author_id=author, label_type=label_type, json_response={}
            )
        )


def test_a_lease_is_taken_once_until_it_expires_or_is_freed(store: Store) -> None:
    q = _queue(store)
    (aid,) = _assets(store, q.project_id, {})
    with store.transaction() as s:
        taken = queue_repo.take_lease(s, aid, q.ann, 60)
        assert taken is not None and taken.lease_user_id == q.ann and taken.lease_expires_at is not None
        assert taken.lease_expires_at > utcnow() + timedelta(seconds=30)
    with store.transaction() as s:
        assert queue_repo.take_lease(s, aid, q.bob, 60) is None  # ann holds it
        renewed = queue_repo.take_lease(s, aid, q.ann, 600)  # the holder renews
        assert renewed is not None and renewed.lease_expires_at > utcnow() + timedelta(seconds=300)  # type: ignore[operator]
    with store.transaction() as s:
        asset = s.get(t.Asset, aid)
        assert asset is not None
        asset.lease_expires_at = utcnow() - timedelta(seconds=1)
    with store.transaction() as s:
        taken = queue_repo.take_lease(s, aid, q.bob, 60)  # expired: free for anyone
        assert taken is not None and taken.lease_user_id == q.bob
    with store.transaction() as s:
        asset = s.get(t.Asset, aid)
        assert asset is not None
        queue_repo.free_asset(asset, priority=-3.0)
    with store.transaction(read_only=True) as s:
        asset = s.get(t.Asset, aid)
        assert asset is not None
        assert (asset.lease_user_id, asset.lease_expires_at, asset.priority) == (None, None, -3.0)


def test_freeing_an_asset_nobody_holds_writes_nothing(store: Store) -> None:
    q = _queue(store)
    (aid,) = _assets(store, q.project_id, {"priority": 0.5})
    with store.transaction(read_only=True) as s:
        before = s.get(t.Asset, aid).updated_at  # type: ignore[union-attr]
    with store.transaction() as s:
        queue_repo.free_asset(s.get(t.Asset, aid))  # type: ignore[arg-type]
    with store.transaction(read_only=True) as s:
        after = s.get(t.Asset, aid)
        assert after is not None and after.updated_at == before and after.priority == 0.5


def test_the_next_todo_asset_is_the_free_one_of_highest_priority(store: Store) -> None:
    q = _queue(store)
    ids = _assets(
        store,
        q.project_id,
        {"priority": 1.0},
        {"priority": 5.0, "status": "LABELED"},
        {"priority": 4.0, "is_honeypot": True},
        {"priority": 2.0},
        {"priority": 2.0},
        {"priority": 3.0, "lease_user_id": None},
    )
    _assets(store, q.other_project_id, {"priority": 9.0})
    now = utcnow()
    with store.transaction() as s:
        s.get(t.Asset, ids[5]).lease_user_id = q.bob  # type: ignore[union-attr]
        s.get(t.Asset, ids[5]).lease_expires_at = now + timedelta(seconds=60)  # type: ignore[union-attr]
    got = []
    for _ in range(4):
        with store.transaction() as s:
            asset = queue_repo.lease_next_todo(s, q.project_id, q.ann, now=utcnow(), lease_seconds=60)
            got.append(asset.id if asset is not None else None)
    # bob holds the 3.0; the tie at 2.0 goes by id; LABELED assets and honeypots are never served here
    assert got == [ids[3], ids[4], ids[0], None]


def test_the_next_honeypot_is_one_the_labeler_has_not_labeled(store: Store) -> None:
    q = _queue(store)
    ids = _assets(store, q.project_id, {"is_honeypot": True}, {"is_honeypot": True}, {}, {"is_honeypot": True})
    _label(store, q, ids[0], q.ann)
    _label(store, q, ids[1], q.bob)
    with store.transaction() as s:
        first = queue_repo.lease_next_honeypot(s, q.project_id, q.ann, now=utcnow(), lease_seconds=60)
        assert first is not None and first.id == ids[1]  # bob's label does not count for ann
    with store.transaction() as s:
        second = queue_repo.lease_next_honeypot(s, q.project_id, q.ann, now=utcnow(), lease_seconds=60)
        assert second is not None and second.id == ids[3]  # the first is leased to ann
    with store.transaction() as s:
        third = queue_repo.lease_next_honeypot(s, q.project_id, q.bob, now=utcnow(), lease_seconds=60)
        assert third is not None and third.id == ids[0]  # ann's label does not count for bob
    with store.transaction() as s:
        assert queue_repo.lease_next_honeypot(s, q.project_id, q.ann, now=utcnow(), lease_seconds=60) is None


def test_the_held_asset_is_an_unexpired_lease_on_a_queue_asset(store: Store) -> None:
    q = _queue(store)
    now = utcnow()
    ids = _assets(
        store,
        q.project_id,
        {"lease_user_id": None},
        {"status": "LABELED"},
        {"status": "LABELED", "is_honeypot": True},
        {"status": "ONGOING"},
    )
    leases = {ids[0]: -10, ids[1]: 500, ids[2]: 100, ids[3]: 50}
    with store.transaction() as s:
        for aid, seconds in leases.items():
            row = s.get(t.Asset, aid)
            assert row is not None
            row.lease_user_id, row.lease_expires_at = q.ann, now + timedelta(seconds=seconds)
    with store.transaction(read_only=True) as s:
        held = queue_repo.held_asset(s, q.project_id, q.ann, now)
        assert held is not None and held.id == ids[2]  # a labeled honeypot counts, a labeled asset does not
        assert queue_repo.held_asset(s, q.project_id, q.bob, now) is None
        assert queue_repo.held_asset(s, q.other_project_id, q.ann, now) is None


def test_counts_and_priorities(store: Store) -> None:
    q = _queue(store)
    with store.transaction(read_only=True) as s:
        assert queue_repo.lowest_priority(s, q.project_id) is None
        assert queue_repo.default_label_count(s, q.project_id, q.ann) == 0
    ids = _assets(store, q.project_id, {"priority": 0.5}, {"priority": 1.5}, {"priority": 1.25}, {"priority": -2.0})
    (other,) = _assets(store, q.other_project_id, {"priority": 1.5})
    for kind in ("DEFAULT", "DEFAULT", "REVIEW", "AUTOSAVE"):
        _label(store, q, ids[0], q.ann, kind)
    _label(store, q, ids[1], q.bob)
    with store.transaction() as s:
        assert queue_repo.default_label_count(s, q.project_id, q.ann) == 2
        assert queue_repo.lowest_priority(s, q.project_id) == -2.0
        queue_repo.demote_initial_picks(s, q.project_id)
    with store.transaction(read_only=True) as s:
        got = {a.id: a.priority for a in s.scalars(select(t.Asset))}
    assert got == {ids[0]: 0.5, ids[1]: 0.5, ids[2]: 0.25, ids[3]: -2.0, other: 1.5}


def test_the_review_list_pages_by_score_then_id(store: Store) -> None:
    q = _queue(store)
    ids = _assets(
        store,
        q.project_id,
        {"review_reason": "label_error", "review_score": 0.9},
        {"review_reason": "model_disagrees", "review_score": 0.5},
        {"status": "TO_REVIEW"},
        {"review_reason": "label_error", "review_score": 0.5},
        {"review_reason": "label_error", "review_score": 0.99, "status": "REVIEWED"},
        {},
        {"review_reason": "model_disagrees"},
    )
    with store.transaction(read_only=True) as s:
        first = [a.id for a in queue_repo.flagged_assets(s, q.project_id, after=None, limit=3)]
        rest = [a.id for a in queue_repo.flagged_assets(s, q.project_id, after=(0.5, ids[1]), limit=10)]
        assert queue_repo.flagged_assets(s, q.other_project_id, after=None, limit=10) == []
    assert first == [ids[0], ids[1], ids[3]]
    assert rest == [ids[3], ids[2], ids[6]]  # no score counts as 0; REVIEWED and unflagged left out
