"""The import's `prepare` job: a diverse first queue order (the most central text of each k-means cluster of
the sentence vectors) and the sentence vectors for fast models; on real BBC news articles."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest
from loophelpers import World, actor, label, make_world, topic_corpus
from sqlalchemy import select

from prelabel.automl.active import representatives
from prelabel.automl.embeddings import embeddings_available
from prelabel.service import queue
from prelabel.service import training as tsvc
from prelabel.service.assets import import_assets
from prelabel.service.dto import AssetIn
from prelabel.service.projects import create_project, update_project
from prelabel.store import tables as t
from prelabel.store.engine import Store
from prelabel.worker.trainer import Trainer

needs_embeddings = [
    pytest.mark.embeddings,
    pytest.mark.skipif(not embeddings_available(), reason="prelabel[embeddings] is not installed"),
]

BBC_KEYS = ["business", "entertainment", "politics", "sport", "tech"]


def _bbc_sample(datasets: Path, per_class: int = 30) -> tuple[list[str], list[str]]:
    """A class-balanced sample of the BBC news articles (the file is sorted by class), shuffled."""
    with (datasets / "bbc_news" / "train.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rng = random.Random(7)
    picked = []
    for key in BBC_KEYS:
        of_class = [r for r in rows if r["label"] == key]
        picked.extend(rng.sample(of_class, per_class))
    rng.shuffle(picked)
    return [r["text"] for r in picked], [r["label"] for r in picked]


def _bbc_world(store: Store, datasets: Path, **settings: object) -> tuple[World, list[str]]:
    texts, truth = _bbc_sample(datasets)
    interface = {
        "jobs": [{"name": "TOPIC", "input": "single", "categories": [{"key": k} for k in BBC_KEYS]}]
    }
    w = make_world(
        store,
        texts,
        interface=interface,
        settings={"train_debounce_s": 0.0, "search_enabled": False, "use_embeddings": True,
                  "queue_initial_order": "diverse", **settings},
    )  # fmt: skip
    return w, truth


def _queue_order(store: Store, project_id: int) -> list[tuple[int, float]]:
    with store.transaction(read_only=True) as s:
        rows = s.execute(
            select(t.Asset.id, t.Asset.priority)
            .where(t.Asset.project_id == project_id, t.Asset.status == "TODO")
            .order_by(t.Asset.priority.desc(), t.Asset.id)
        ).all()
    return [(int(a), float(p)) for a, p in rows]


def _label_served(w: World, truth: dict[int, str], n: int) -> list[int]:
    """A labeler takes the next asset from the queue and labels it, n times; the assets served."""
    out = []
    for _ in range(n):
        a = queue.next_asset(w.store, w.labeler, w.project_id)
        assert a is not None
        label(w, a.id, truth[a.id])
        out.append(a.id)
    return out


def test_representatives_take_the_centre_of_each_cluster_largest_first() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(4) * 10.0
    sizes = [40, 10, 25, 5]
    x = np.vstack([c + rng.normal(0, 0.3, size=(n, 4)) for c, n in zip(centres, sizes, strict=True)])
    blob = np.repeat(np.arange(4), sizes)
    picks = representatives(x, 4, np.random.default_rng(1))
    assert list(blob[picks]) == [0, 2, 1, 3]  # one per blob, the largest blob first
    for p in picks:  # the most central member of its blob (cosine geometry: rows are normalised)
        members = np.flatnonzero(blob == blob[p])
        xn = x[members] / np.linalg.norm(x[members], axis=1, keepdims=True)
        centre = xn.mean(axis=0)
        assert int(members[np.argmin(np.linalg.norm(xn - centre, axis=1))]) == int(p)
    assert len(representatives(x[:3], 10, np.random.default_rng(0))) == 3  # never more than the rows
    assert len(representatives(np.ones((5, 4)), 3, np.random.default_rng(0))) == 1  # identical rows: one pick
    assert len(representatives(np.zeros((0, 4)), 3, np.random.default_rng(0))) == 0


def test_an_import_queues_one_prepare_job_unless_nothing_needs_it(store: Store) -> None:
    texts, _ = topic_corpus(20)
    w = make_world(store, texts, settings={"use_embeddings": True, "queue_initial_order": "random"})
    import_assets(store, w.admin, w.project_id, [AssetIn(external_id="more", content="one more text")])
    with store.transaction(read_only=True) as s:
        jobs = s.execute(select(t.TrainingJob.tier, t.TrainingJob.status, t.TrainingJob.reason)).all()
    assert [tuple(j) for j in jobs] == [("prepare", "QUEUED", "import")]  # two imports, one queued job
    status = tsvc.training_status(store, w.labeler, w.project_id)
    assert [j.tier for j in status.active_jobs] == ["prepare"]

    # use_embeddings off: no sentence model anywhere, so nothing to prepare (the diverse order needs it)
    admin = actor(store, "admin2")
    off = create_project(
        store, admin, title="off", interface={"jobs": [{"name": "T", "categories": [{"key": "A"}, {"key": "B"}]}]},
        settings={"use_embeddings": False, "queue_initial_order": "diverse"},
    )  # fmt: skip
    import_assets(store, admin, off.id, [AssetIn(external_id="x", content="text")])
    with store.transaction(read_only=True) as s:
        assert s.scalars(select(t.TrainingJob).where(t.TrainingJob.project_id == off.id)).all() == []


def test_the_setting_takes_the_three_orders_and_refuses_others(store: Store) -> None:
    from prelabel.errors import InvalidInput
    from prelabel.service.projects import get_project

    texts, _ = topic_corpus(6)
    w = make_world(store, texts)
    for order in ("diverse", "import", "random"):
        update_project(store, w.admin, w.project_id, settings={"queue_initial_order": order})
        assert get_project(store, w.admin, w.project_id).settings["queue_initial_order"] == order
    with pytest.raises(InvalidInput, match="queue_initial_order"):
        update_project(store, w.admin, w.project_id, settings={"queue_initial_order": "smart"})


def test_without_the_sentence_model_the_order_stays_random(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import prelabel.worker.trainer as trainer_mod

    monkeypatch.setattr(trainer_mod, "embeddings_available", lambda: False)  # as without prelabel[embeddings]
    texts, _ = topic_corpus(30)
    w = make_world(store, texts, settings={"queue_initial_order": "diverse", "use_embeddings": True})
    before = _queue_order(store, w.project_id)
    (prep,) = Trainer(store, tiers=("prepare",)).run_until_idle()
    assert prep.status == "SUCCEEDED" and "initial order random: the sentence model is not installed" in prep.message
    assert _queue_order(store, w.project_id) == before and max(p for _, p in before) < 1.0

    # a job queued while the sentence model was on, run after it was turned off: no sentence model, no order
    import_assets(store, w.admin, w.project_id, [AssetIn(external_id="late", content="one more text")])
    update_project(store, w.admin, w.project_id, settings={"use_embeddings": False})
    (late,) = Trainer(store, tiers=("prepare",)).run_until_idle()
    assert late.status == "SUCCEEDED" and late.message == "initial order random: use_embeddings is off; 0 texts encoded"


@pytest.mark.embeddings
@pytest.mark.skipif(not embeddings_available(), reason="prelabel[embeddings] is not installed")
def test_diverse_first_labels_cover_every_bbc_class(store: Store, datasets: Path, tmp_path: Path) -> None:
    w, truth = _bbc_world(store, datasets)
    by_id = dict(zip(w.asset_ids, truth, strict=True))
    (prep,) = Trainer(store, cache_dir=str(tmp_path), tiers=("prepare",)).run_until_idle()
    assert prep.status == "SUCCEEDED", prep.message
    assert "initial order diverse: 10 representative texts first" in prep.message
    assert "150 texts encoded" in prep.message  # the sample first (here: every article), then the rest
    order = _queue_order(store, w.project_id)
    assert [p > 1.0 for _, p in order[:11]] == [True] * 10 + [False]  # train_min_labels picks in front
    assert all(p < 2.0 for _, p in order) and all(0.0 <= p < 1.0 for _, p in order[10:])
    first = _label_served(w, by_id, 10)
    assert first == [a for a, _ in order[:10]]  # the queue serves them, in that order
    # every class among the first model's ten labels (ten random articles of five balanced classes miss a
    # class about half the time)
    assert {by_id[a] for a in first} == set(BBC_KEYS)

    # a second import before the first model: its prepare job picks again among all unlabeled articles, and
    # the earlier picks go back among the random ones (still exactly ten in front)
    extra, _ = _bbc_sample(datasets, per_class=2)
    import_assets(store, w.admin, w.project_id, [AssetIn(external_id=f"new{i}", content=f"{x} (again)")
                                                 for i, x in enumerate(extra)])  # fmt: skip
    (again,) = Trainer(store, cache_dir=str(tmp_path), tiers=("prepare",)).run_until_idle()
    assert "initial order diverse: 10 representative texts first" in again.message
    in_front = [p for _, p in _queue_order(store, w.project_id) if p > 1.0]
    assert len(in_front) == 10 and all(p < 2.0 for p in in_front)


@pytest.mark.embeddings
@pytest.mark.skipif(not embeddings_available(), reason="prelabel[embeddings] is not installed")
def test_a_model_order_is_never_overwritten_by_a_later_prepare(store: Store, tmp_path: Path) -> None:
    texts, truth = topic_corpus(60)
    w = make_world(
        store, texts, settings={"train_debounce_s": 0.0, "search_enabled": False, "use_embeddings": True,
                                "queue_initial_order": "diverse", "train_min_labels": 6},
    )  # fmt: skip
    for aid, y in list(zip(w.asset_ids, truth, strict=True))[:6]:
        label(w, aid, y)
    (fast,) = Trainer(store, cache_dir=str(tmp_path), tiers=("fast",)).run_until_idle()
    assert fast.status == "SUCCEEDED"
    model_order = _queue_order(store, w.project_id)
    (prep,) = Trainer(store, cache_dir=str(tmp_path), tiers=("prepare",)).run_until_idle()  # the import's job
    assert prep.status == "SUCCEEDED" and "initial order left to the model" in prep.message
    assert _queue_order(store, w.project_id) == model_order
    # and the service refuses directly, too (the check and the write are one transaction)
    assert not queue.set_initial_order(store, w.project_id, [(model_order[-1][0], 5.0)])
    assert _queue_order(store, w.project_id) == model_order


@pytest.mark.embeddings
@pytest.mark.skipif(not embeddings_available(), reason="prelabel[embeddings] is not installed")
def test_the_first_picks_do_not_depend_on_the_random_import_order(
    store: Store, datasets: Path, tmp_path: Path
) -> None:
    # imports draw random queue priorities; the same texts imported twice must give the same first labels
    other = Store(f"sqlite:///{tmp_path / 'other.db'}")
    other.upgrade()
    try:
        firsts = []
        for st in (store, other):
            w, _ = _bbc_world(st, datasets)
            (prep,) = Trainer(st, cache_dir=str(tmp_path / "emb"), tiers=("prepare",)).run_until_idle()
            assert prep.status == "SUCCEEDED", prep.message
            content = dict(zip(w.asset_ids, _bbc_sample(datasets)[0], strict=True))
            firsts.append([content[a] for a, _ in _queue_order(st, w.project_id)[:10]])
        assert firsts[0] == firsts[1]
    finally:
        other.dispose()
