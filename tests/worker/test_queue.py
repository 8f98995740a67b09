"""The annotation queue: priority order, leases (never one asset twice), expiry, skip, honeypots, review."""

from __future__ import annotations

import threading

import pytest
from loophelpers import World, actor, label, make_world, topic_corpus
from sqlalchemy import select

from prelabel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from prelabel.service import queue
from prelabel.store import tables as t
from prelabel.store.engine import Store


@pytest.fixture
def world(store: Store) -> World:
    texts, _ = topic_corpus(30)
    return make_world(store, texts)


def test_serves_by_priority_and_leases(world: World) -> None:
    pri = {aid: float(i % 7) + i / 1000 for i, aid in enumerate(world.asset_ids)}
    queue.set_priorities(world.store, world.project_id, pri.items())
    a = queue.next_asset(world.store, world.labeler, world.project_id)
    b = queue.next_asset(world.store, world.labeler2, world.project_id)
    assert a is not None and b is not None and a.id != b.id
    ranked = sorted(pri, key=lambda k: -pri[k])
    assert [a.id, b.id] == ranked[:2]
    again = queue.next_asset(world.store, world.labeler, world.project_id)
    assert again is not None and again.id == a.id  # a reload returns the labeler's own lease


def test_label_releases_and_queue_moves_on(world: World) -> None:
    a = queue.next_asset(world.store, world.labeler, world.project_id)
    assert a is not None
    label(world, a.id, "SPORT")
    b = queue.next_asset(world.store, world.labeler, world.project_id)
    assert b is not None and b.id != a.id


def test_concurrent_labelers_never_share_an_asset(world: World, db_url: str) -> None:
    users = [actor(world.store, f"u{i}") for i in range(6)]
    from prelabel.service.projects import add_member

    for u in users:
        add_member(world.store, world.admin, world.project_id, username=u.username, role="labeler")
    got: list[int] = []
    lock = threading.Lock()

    def grab(u: object) -> None:
        store = Store(db_url)
        try:
            out = queue.next_asset(store, u, world.project_id)  # type: ignore[arg-type]
            with lock:
                got.append(out.id if out else -1)
        finally:
            store.dispose()

    threads = [threading.Thread(target=grab, args=(u,)) for u in users]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(got) == 6 and -1 not in got and len(set(got)) == 6


def test_expired_lease_goes_to_the_next_labeler(world: World) -> None:
    from datetime import timedelta

    from prelabel.store.tables import utcnow

    a = queue.next_asset(world.store, world.labeler, world.project_id, lease_seconds=30)
    assert a is not None
    with world.store.transaction() as s:  # the lease runs out
        row = s.get(t.Asset, a.id)
        assert row is not None
        row.lease_expires_at = utcnow() - timedelta(seconds=1)
    b = queue.next_asset(world.store, world.labeler2, world.project_id)
    assert b is not None and b.id == a.id


def test_release_and_skip(world: World) -> None:
    a = queue.next_asset(world.store, world.labeler, world.project_id)
    assert a is not None
    with pytest.raises(Conflict):
        queue.release_lease(world.store, world.labeler2, world.project_id, a.id)
    queue.release_lease(world.store, world.labeler, world.project_id, a.id)
    b = queue.next_asset(world.store, world.labeler2, world.project_id)
    assert b is not None and b.id == a.id  # released: free for anyone
    queue.skip_asset(world.store, world.labeler2, world.project_id, b.id)
    c = queue.next_asset(world.store, world.labeler2, world.project_id)
    assert c is not None and c.id != b.id
    with pytest.raises(NotFound):
        queue.skip_asset(world.store, world.labeler2, world.project_id, 99999)


def test_empty_queue_and_bad_lease(world: World) -> None:
    with pytest.raises(InvalidInput, match="lease_seconds"):
        queue.next_asset(world.store, world.labeler, world.project_id, lease_seconds=0)
    outsider = actor(world.store, "outsider")
    with pytest.raises(NotFound):
        queue.next_asset(world.store, outsider, world.project_id)
    for aid in world.asset_ids:
        label(world, aid, "TECH")
    assert queue.next_asset(world.store, world.labeler, world.project_id) is None


@pytest.mark.parametrize("rate", [0.0, 0.25, 0.5])
def test_honeypots_at_the_configured_rate(store: Store, rate: float) -> None:
    texts, _ = topic_corpus(60)
    w = make_world(store, texts, settings={"honeypot_rate": rate}, honeypots=10)
    served = []
    for _ in range(16):
        a = queue.next_asset(store, w.labeler, w.project_id)
        assert a is not None
        served.append(a.is_honeypot)
        label(w, a.id, "SPORT")
    assert sum(served) == int(16 * rate)
    # a honeypot is shown to every labeler once, even if someone else labeled it already
    if rate:
        other = []
        for _ in range(8):
            b = queue.next_asset(store, w.labeler2, w.project_id)
            assert b is not None
            other.append(b.id if b.is_honeypot else None)
            label(w, b.id, "TECH", who=w.labeler2)
        assert sum(x is not None for x in other) == int(8 * rate)


def test_review_list(world: World) -> None:
    with pytest.raises(PermissionDenied):
        queue.review_list(world.store, world.labeler, world.project_id)
    ids = world.asset_ids
    for aid in ids[:5]:
        label(world, aid, "SPORT")
    with world.store.transaction() as s:
        for i, aid in enumerate(ids[:4]):
            row = s.get(t.Asset, aid)
            assert row is not None
            row.review_reason = "label_error" if i < 2 else "model_disagrees"
            row.review_score = [0.9, 0.7, 0.7, 0.6][i]
    page = queue.review_list(world.store, world.reviewer, world.project_id, limit=2)
    assert [a.id for a in page.items] == [ids[0], ids[1]] and page.next_cursor
    assert (
        page.items[0].labels
        and page.items[0].labels[0].json_response["TOPIC"]["categories"][0]["name"] == "SPORT"
    )
    page2 = queue.review_list(world.store, world.reviewer, world.project_id, after=page.next_cursor, limit=2)
    assert [a.id for a in page2.items] == [ids[2], ids[3]]
    # a REVIEW label settles it
    from prelabel.service.labels import create_label

    create_label(
        world.store,
        world.reviewer,
        world.project_id,
        ids[0],
        json_response={"TOPIC": {"categories": [{"name": "TECH"}]}},
        label_type="REVIEW",
    )
    left = queue.review_list(world.store, world.admin, world.project_id)
    assert [a.id for a in left.items] == [ids[1], ids[2], ids[3]]
    with pytest.raises(InvalidInput, match="cursor"):
        queue.review_list(world.store, world.reviewer, world.project_id, after="nonsense")


def test_new_assets_are_served_in_random_order_until_a_model_scores_them(store: Store) -> None:
    # a file sorted by class: the first 40 records are one topic; served in file order, the first ten labels
    # would all be SPORT and no model could be trained
    texts, topics = topic_corpus(120)
    order = sorted(range(120), key=lambda i: topics[i])
    shuffled = make_world(store, [texts[i] for i in order])
    served = []
    for _ in range(10):
        a = queue.next_asset(shuffled.store, shuffled.labeler, shuffled.project_id)
        assert a is not None
        served.append(a.id)
        queue.skip_asset(shuffled.store, shuffled.labeler, shuffled.project_id, a.id)
    assert served != shuffled.asset_ids[:10]
    first_topics = {topics[order[shuffled.asset_ids.index(aid)]] for aid in served}
    assert len(first_topics) >= 2
    with store.transaction(read_only=True) as s:
        prios = [p for (p,) in s.execute(
            select(t.Asset.priority).where(t.Asset.project_id == shuffled.project_id, t.Asset.id.notin_(served))
        )]
    assert len(set(prios)) == len(prios) and all(0.0 <= p < 1.0 for p in prios)


def test_import_order_when_the_project_asks_for_it(store: Store) -> None:
    texts, _ = topic_corpus(30)
    w = make_world(store, texts, settings={"train_debounce_s": 0.0, "queue_initial_order": "import"})
    served = []
    for _ in range(5):
        a = queue.next_asset(w.store, w.labeler, w.project_id)
        assert a is not None
        served.append(a.id)
        label(w, a.id, "SPORT")
    assert served == w.asset_ids[:5]
    from prelabel.service.projects import update_project

    with pytest.raises(InvalidInput, match="queue_initial_order"):
        update_project(w.store, w.admin, w.project_id, settings={"queue_initial_order": "newest"})
