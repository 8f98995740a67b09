"""Training jobs: atomic claims with leases, heartbeats, re-claims, label triggers with debounce, roles."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from loophelpers import World, actor, label, make_world, topic_corpus
from sqlalchemy import select

from prelabel.errors import InvalidInput, NotFound, PermissionDenied
from prelabel.service import training as tsvc
from prelabel.service.training import LeaseLost
from prelabel.store import tables as t
from prelabel.store.engine import Store
from prelabel.store.tables import utcnow


@pytest.fixture
def world(store: Store) -> World:
    texts, _ = topic_corpus(80)
    return make_world(store, texts, settings={"train_debounce_s": 0.0, "search_min_labels": 30})


def _label_n(world: World, n: int, start: int = 0) -> None:
    keys = ["SPORT", "TECH", "POLITICS"]
    for i in range(start, start + n):
        label(world, world.asset_ids[i], keys[i % 3])


def _jobs(store: Store) -> list[t.TrainingJob]:
    with store.transaction(read_only=True) as s:
        rows = list(s.scalars(select(t.TrainingJob).order_by(t.TrainingJob.id)))
        s.expunge_all()
        return rows


def _queue_jobs(world: World, n: int, tier: str = "fast") -> None:
    with world.store.transaction() as s:
        for _ in range(n):
            s.add(t.TrainingJob(project_id=world.project_id, tier=tier, status="QUEUED", created_at=utcnow()))


def test_concurrent_workers_claim_each_job_once(world: World, db_url: str) -> None:
    _queue_jobs(world, 12)
    claimed: list[tuple[str, int]] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        store = Store(db_url)
        try:
            while (job := tsvc.claim_next_job(store, name, lease_seconds=60)) is not None:
                with lock:
                    claimed.append((name, job.id))
        finally:
            store.dispose()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    ids = [j for _, j in claimed]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 12
    assert all(j.status == "RUNNING" and j.attempts == 1 for j in _jobs(world.store))


def test_fast_jobs_are_claimed_before_search_jobs(world: World) -> None:
    _queue_jobs(world, 1, "search")
    _queue_jobs(world, 1, "fast")
    first = tsvc.claim_next_job(world.store, "w")
    assert first is not None and first.tier == "fast"


def test_lease_expiry_heartbeat_and_reclaim(world: World) -> None:
    _queue_jobs(world, 1)
    # a lease long enough that a loaded CI machine cannot let it lapse before the next line (it once did at 0.5 s)
    a = tsvc.claim_next_job(world.store, "A", lease_seconds=10)
    assert a is not None
    assert tsvc.claim_next_job(world.store, "B", lease_seconds=0.5) is None  # held
    tsvc.heartbeat_job(world.store, a, lease_seconds=0.5, progress=0.4, message="fitting")  # now a short lease
    job = _jobs(world.store)[0]
    assert job.progress == pytest.approx(0.4) and job.message == "fitting" and job.worker_id == "A"
    time.sleep(0.7)  # A stops heart-beating (crashed)
    b = tsvc.claim_next_job(world.store, "B", lease_seconds=30)
    assert b is not None and b.id == a.id and b.attempts == 2
    with pytest.raises(LeaseLost):
        tsvc.heartbeat_job(world.store, a)  # A wakes up: its lease is gone
    with pytest.raises(LeaseLost):
        tsvc.complete_job(world.store, a, 999, metrics={}, artifact=None, n_labels=0)


def test_a_job_that_keeps_dying_fails_after_max_attempts(world: World) -> None:
    _queue_jobs(world, 1)
    for i in range(tsvc.MAX_ATTEMPTS):
        job = tsvc.claim_next_job(world.store, f"w{i}", lease_seconds=0.05)
        assert job is not None and job.attempts == i + 1
        time.sleep(0.1)
    assert tsvc.claim_next_job(world.store, "last") is None
    (job_row,) = _jobs(world.store)
    assert job_row.status == "FAILED" and "gave up" in job_row.message


def test_reclaim_abandons_the_half_written_version(world: World) -> None:
    from prelabel.service.models import create_model_version
    from prelabel.service.predictions import bulk_store_predictions

    _queue_jobs(world, 1)
    a = tsvc.claim_next_job(world.store, "A", lease_seconds=0.2)
    assert a is not None
    mv = create_model_version(world.store, world.project_id, tier="fast", status="TRAINING")
    tsvc.attach_model_version(world.store, a, mv.id, 10)
    resp = {"TOPIC": {"categories": [{"name": "SPORT", "confidence": 90, "probability": 0.9}]}}
    bulk_store_predictions(world.store, world.project_id, mv.id, [(world.asset_ids[0], resp, 0.9)])
    time.sleep(0.3)
    b = tsvc.claim_next_job(world.store, "B")
    assert b is not None and b.previous_model_version_id == mv.id
    with world.store.transaction(read_only=True) as s:
        row = s.get(t.ModelVersion, mv.id)
        assert row is not None and row.status == "FAILED"
        assert s.scalars(select(t.Prediction).where(t.Prediction.model_version_id == mv.id)).first() is None
    with pytest.raises(LeaseLost):  # A can no longer publish it
        tsvc.complete_job(world.store, a, mv.id, metrics={}, artifact=None, n_labels=10)


def test_first_model_at_ten_labels_then_growing_threshold(world: World) -> None:
    _label_n(world, 9)
    assert tsvc.schedule_due_training(world.store) == []
    _label_n(world, 1, start=9)
    made = tsvc.schedule_due_training(world.store)
    assert [j.tier for j in made] == ["fast"] and made[0].reason == "labels" and made[0].n_labels == 10
    assert tsvc.schedule_due_training(world.store) == []  # nothing new
    _label_n(world, 10, start=10)
    made = tsvc.schedule_due_training(world.store)
    # the first fast job is still QUEUED: it will read all labels when it runs, so no second one is queued
    assert made == []
    job = tsvc.claim_next_job(world.store, "w")
    assert job is not None
    _label_n(world, 10, start=20)
    made = tsvc.schedule_due_training(world.store)
    assert sorted(j.tier for j in made) == ["fast", "search"]  # 30 labels reach search_min_labels
    _label_n(world, 10, start=30)
    made = tsvc.schedule_due_training(world.store)
    assert made == []  # a fast and a search job are already queued


def _write_transactions(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records every transaction the store opens: True for a write transaction."""
    opened: list[bool] = []
    real = store.transaction

    def recording(*, read_only: bool = False):  # type: ignore[no-untyped-def]
        opened.append(not read_only)
        return real(read_only=read_only)

    monkeypatch.setattr(store, "transaction", recording)
    return opened


def _set_auto_train(world: World, on: bool) -> None:
    with world.store.transaction() as s:
        project = s.get(t.Project, world.project_id)
        assert project is not None
        project.settings = {**(project.settings or {}), "auto_train": on}


def test_polling_a_project_that_is_not_due_writes_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # every worker polls before each claim: below the threshold, or with auto_train off, no write transaction
    # (on SQLite a writer blocks every other writer; on PostgreSQL the project row lock would serialise them)
    _label_n(world, 9)
    opened = _write_transactions(world.store, monkeypatch)
    assert tsvc.schedule_due_training(world.store) == []
    assert opened and not any(opened)
    monkeypatch.undo()
    _set_auto_train(world, False)
    _label_n(world, 5, start=9)
    opened = _write_transactions(world.store, monkeypatch)
    assert tsvc.schedule_due_training(world.store) == []
    assert opened and not any(opened)
    monkeypatch.undo()
    _set_auto_train(world, True)
    opened = _write_transactions(world.store, monkeypatch)
    assert [j.tier for j in tsvc.schedule_due_training(world.store)] == ["fast"]
    assert opened.count(True) == 1  # due: one write transaction queues the job


def _first_model_claimed(store: Store, n_texts: int, **settings: object) -> World:
    """A project whose first fast job (at 10 labels) has been queued and claimed."""
    texts, _ = topic_corpus(n_texts)
    w = make_world(store, texts, settings={"train_debounce_s": 0.0, "search_enabled": False, **settings})
    _label_n(w, 10)
    assert len(tsvc.schedule_due_training(store)) == 1
    assert tsvc.claim_next_job(store, "w") is not None
    return w


def test_retrains_every_five_new_labels_while_the_project_is_young(store: Store) -> None:
    w = _first_model_claimed(store, 120)
    _label_n(w, 4, start=10)
    assert tsvc.schedule_due_training(store) == []  # 4 < max(train_min_new_labels 5, 10% of 14)
    assert tsvc.training_status(store, w.admin, w.project_id).labels_needed == 1
    _label_n(w, 1, start=14)
    made = tsvc.schedule_due_training(store)
    assert [j.tier for j in made] == ["fast"] and made[0].n_labels == 15
    assert tsvc.claim_next_job(store, "w") is not None
    # from 50 labels on, 10 % of the labels: 60 labeled → 6 new needed
    _label_n(w, 45, start=15)
    assert len(tsvc.schedule_due_training(store)) == 1
    assert tsvc.claim_next_job(store, "w") is not None
    _label_n(w, 5, start=60)
    assert tsvc.schedule_due_training(store) == []  # 5 < int(0.1 x 65) = 6
    _label_n(w, 1, start=65)
    assert len(tsvc.schedule_due_training(store)) == 1


def test_min_new_labels_is_a_project_setting(store: Store) -> None:
    w = _first_model_claimed(store, 60, train_min_new_labels=10)
    _label_n(w, 9, start=10)
    assert tsvc.schedule_due_training(store) == []
    _label_n(w, 1, start=19)
    assert len(tsvc.schedule_due_training(store)) == 1


def test_threshold_grows_with_the_project(store: Store) -> None:
    texts, _ = topic_corpus(400)
    w = make_world(store, texts, settings={"train_debounce_s": 0.0, "search_enabled": False})
    _label_n(w, 300)
    assert len(tsvc.schedule_due_training(store)) == 1
    assert tsvc.claim_next_job(store, "w") is not None
    _label_n(w, 20, start=300)  # 20 new < 10% of 320
    assert tsvc.schedule_due_training(store) == []
    _label_n(w, 12, start=320)  # 32 new ≥ 33? no: 10% of 332 = 33
    assert tsvc.schedule_due_training(store) == []
    _label_n(w, 2, start=332)
    assert len(tsvc.schedule_due_training(store)) == 1


def test_review_labels_count_as_new_labels(world: World) -> None:
    _label_n(world, 10)
    tsvc.schedule_due_training(world.store)
    assert tsvc.claim_next_job(world.store, "w") is not None
    for i in range(10):  # a reviewer corrects the same ten assets: no new asset, but ten new labels
        label(world, world.asset_ids[i], "TECH", who=world.reviewer)
    from prelabel.service.labels import create_label

    create_label(
        world.store,
        world.reviewer,
        world.project_id,
        world.asset_ids[0],
        json_response={"TOPIC": {"categories": [{"name": "SPORT"}]}},
        label_type="REVIEW",
    )
    assert [j.tier for j in tsvc.schedule_due_training(world.store)] == ["fast"]


def test_debounce_waits_for_a_pause(store: Store) -> None:
    texts, _ = topic_corpus(40)
    w = make_world(store, texts, settings={"train_debounce_s": 5.0, "search_enabled": False})
    _label_n(w, 10)
    assert tsvc.schedule_due_training(store) == []  # the last label is fresh
    later = utcnow() + timedelta(seconds=6)
    assert len(tsvc.schedule_due_training(store, now=later)) == 1


def test_debounce_is_capped_for_labelers_who_never_pause(store: Store) -> None:
    texts, _ = topic_corpus(40)
    w = make_world(store, texts, settings={"train_debounce_s": 0.2, "search_enabled": False})
    _label_n(w, 10)
    time.sleep(2.1)  # 10 x the debounce since the first new label
    label(w, w.asset_ids[10], "SPORT")  # ... but a label arrived just now
    assert len(tsvc.schedule_due_training(store)) == 1


def test_auto_train_off(store: Store) -> None:
    texts, _ = topic_corpus(40)
    w = make_world(store, texts, settings={"auto_train": False, "train_debounce_s": 0.0})
    _label_n(w, 20)
    assert tsvc.schedule_due_training(store) == []


def test_request_training_roles_and_reuse(world: World) -> None:
    with pytest.raises(InvalidInput, match="at least 2 assets"):
        tsvc.request_training(world.store, world.admin, world.project_id)
    _label_n(world, 3)
    with pytest.raises(PermissionDenied, match="admin"):
        tsvc.request_training(world.store, world.labeler, world.project_id)
    outsider = actor(world.store, "outsider")
    with pytest.raises(NotFound):
        tsvc.request_training(world.store, outsider, world.project_id)
    with pytest.raises(InvalidInput, match="tier"):
        tsvc.request_training(world.store, world.admin, world.project_id, tier="huge")  # type: ignore[arg-type]
    jobs = tsvc.request_training(world.store, world.admin, world.project_id, tier="both")
    assert [j.tier for j in jobs] == ["fast", "search"] and all(j.status == "QUEUED" for j in jobs)
    again = tsvc.request_training(world.store, world.admin, world.project_id, tier="fast")
    assert again[0].id == jobs[0].id
    listed = tsvc.list_training_jobs(world.store, world.labeler, world.project_id)
    assert [j.id for j in listed] == [jobs[1].id, jobs[0].id]
    assert tsvc.get_training_job(world.store, world.labeler, world.project_id, jobs[0].id).tier == "fast"
    with pytest.raises(NotFound):
        tsvc.get_training_job(world.store, world.labeler, world.project_id, 12345)
    with pytest.raises(NotFound):
        tsvc.list_training_jobs(world.store, outsider, world.project_id)


def test_a_worker_can_be_limited_to_tiers(world: World) -> None:
    _queue_jobs(world, 1, "search")
    _queue_jobs(world, 1, "fast")
    s = tsvc.claim_next_job(world.store, "searcher", tiers=["search"])
    assert s is not None and s.tier == "search"
    assert tsvc.claim_next_job(world.store, "searcher", tiers=["search"]) is None
    f = tsvc.claim_next_job(world.store, "fast-one", tiers=["fast"])
    assert f is not None and f.tier == "fast"


def test_sample_asset_texts_spreads_over_the_assets_with_the_statuses_asked(world: World) -> None:
    from prelabel.store import jobs as sql

    _label_n(world, 10)  # assets 0-9 are LABELED now
    with world.store.transaction(read_only=True) as s:
        rows = s.execute(select(t.Asset.id, t.Asset.content).where(t.Asset.project_id == world.project_id)).all()
    content = {int(a): str(c) for a, c in rows}
    labeled = {content[a] for a in world.asset_ids[:10]}
    unlabeled = [content[a] for a in world.asset_ids[10:]]
    every = sql.sample_asset_texts(world.store, world.project_id, ["TODO", "ONGOING"], 1000)
    assert every == unlabeled  # fewer than asked: all of them, in id order
    some = sql.sample_asset_texts(world.store, world.project_id, ["TODO", "ONGOING"], 20)
    assert len(some) == 18 and not set(some) & labeled  # every 4th of 70: 18, spread over the whole range
    assert some[0] == unlabeled[0] and some[-1] in unlabeled[-4:]
    assert sql.sample_asset_texts(world.store, world.project_id, ["LABELED"], 5) == [
        content[a] for a in world.asset_ids[:10:2]
    ]
    assert sql.sample_asset_texts(world.store, world.project_id, ["REVIEWED"], 5) == []
