"""The trainer end to end on real databases with the real AutoML engine: versions, predictions, priorities,
kill-safety, multi-label and several jobs, warm start, label-error flags."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from loophelpers import World, label, make_world, topic_corpus
from sqlalchemy import func, select

from prelabel.automl.embeddings import count_missing, embed, embeddings_available
from prelabel.service import queue
from prelabel.service import training as tsvc
from prelabel.service.labels import create_label
from prelabel.store import tables as t
from prelabel.store.engine import Store
from prelabel.worker.model import ProjectModel
from prelabel.worker.trainer import Trainer

KEYS = ["SPORT", "TECH", "POLITICS"]


class SimulatedCrash(BaseException):
    """Raised from the progress callback: the worker stops dead (no cleanup), like a kill."""


def _versions(store: Store, project_id: int) -> list[tuple[int, int, str, str]]:
    with store.transaction(read_only=True) as s:
        rows = s.execute(
            select(t.ModelVersion.id, t.ModelVersion.version, t.ModelVersion.status, t.ModelVersion.tier)
            .where(t.ModelVersion.project_id == project_id)
            .order_by(t.ModelVersion.version)
        ).all()
    return [(int(a), int(b), str(c), str(d)) for a, b, c, d in rows]


def _pred_counts(store: Store, mv_id: int) -> tuple[int, int]:
    with store.transaction(read_only=True) as s:
        n = s.scalar(select(func.count()).where(t.Prediction.model_version_id == mv_id)) or 0
        distinct = s.scalar(
            select(func.count(func.distinct(t.Prediction.asset_id))).where(t.Prediction.model_version_id == mv_id)
        )
    return int(n), int(distinct or 0)


def _labeled_world(store: Store, n_assets: int = 90, n_labels: int = 12, **settings: Any) -> tuple[World, list[str]]:
    texts, truth = topic_corpus(n_assets)
    w = make_world(store, texts, settings={"train_debounce_s": 0.0, "search_enabled": False, **settings})
    for aid, y in list(zip(w.asset_ids, truth, strict=True))[:n_labels]:
        label(w, aid, y)
    return w, truth


def test_first_model_predicts_every_asset_and_orders_the_queue(store: Store) -> None:
    w, truth = _labeled_world(store, queue_strategy="margin")
    results = Trainer(store, chunk_size=25).run_until_idle()
    assert [r.status for r in results] == ["SUCCEEDED"]
    ((mv_id, version, status, tier),) = _versions(store, w.project_id)
    assert (version, status, tier) == (1, "READY", "fast")
    assert _pred_counts(store, mv_id) == (90, 90)  # labeled and unlabeled assets, once each
    with store.transaction(read_only=True) as s:
        mv = s.get(t.ModelVersion, mv_id)
        assert mv is not None
        metrics = mv.metrics
        preds = {p.asset_id: p for p in s.scalars(select(t.Prediction).where(t.Prediction.model_version_id == mv_id))}
        prios = dict(s.execute(select(t.Asset.id, t.Asset.priority).where(t.Asset.project_id == w.project_id)).all())
        job = s.scalars(select(t.TrainingJob)).one()
        s.expunge_all()
    assert job.status == "SUCCEEDED" and job.model_version_id == mv_id and job.progress == 1.0
    assert metrics["n_labels"] == 12 and metrics["tier"] == "fast"
    jm = metrics["jobs"]["TOPIC"]
    assert set(jm["per_class"]) == set(KEYS) and jm["n_labels"] == 12
    assert {"cv_score", "ece", "leaderboard", "fit_seconds"} <= set(jm)
    assert {"load", "fit", "predict"} <= set(metrics["timings"])
    assert {"fit", "predict", "publish", "queue", "total"} <= set(results[0].timings)  # queue: after publishing
    # predictions in the domain shape, with calibrated-looking probabilities
    correct = 0
    for aid, y in zip(w.asset_ids, truth, strict=True):
        resp = preds[aid].json_response["TOPIC"]
        (cat,) = resp["categories"]
        probs = resp["probabilities"]
        assert set(probs) == set(KEYS) and abs(sum(probs.values()) - 1) < 1e-3
        assert cat["probability"] == max(probs.values()) and cat["confidence"] == round(cat["probability"] * 100)
        assert 0 <= preds[aid].confidence <= 1
        correct += cat["name"] == y
    assert correct / 90 > 0.6  # the synthetic topics are easy
    # priorities: every unlabeled asset got one, the most uncertain first
    unlabeled = w.asset_ids[12:]
    assert len({prios[a] for a in unlabeled}) > 10
    top = max(unlabeled, key=lambda a: prios[a])
    margins = {a: _margin(preds[a].json_response["TOPIC"]["probabilities"]) for a in unlabeled}
    assert margins[top] <= np.percentile(list(margins.values()), 10) + 1e-9
    nxt = queue.next_asset(store, w.labeler, w.project_id)
    assert nxt is not None and nxt.id == top and nxt.current_prediction is not None
    assert nxt.current_prediction.model_name == "automl-1"


def _margin(probs: dict[str, float]) -> float:
    a, b = sorted(probs.values(), reverse=True)[:2]
    return a - b


def test_crash_mid_predictions_leaves_no_half_version(store: Store) -> None:
    w, _ = _labeled_world(store)
    chunks = {"n": 0}

    def crash(phase: str, fraction: float, message: str) -> None:
        if phase == "predict":
            chunks["n"] += 1
            if chunks["n"] == 2:
                raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        Trainer(store, chunk_size=20, lease_seconds=0.5, progress=crash).run_once()
    ((mv1, _, status, _),) = _versions(store, w.project_id)
    assert status == "TRAINING" and _pred_counts(store, mv1)[0] == 40  # two chunks landed, not published
    with store.transaction(read_only=True) as s:
        assert queue._current_prediction(s, w.asset_ids[0]) is None  # nothing visible as current
    import time

    time.sleep(0.7)  # the dead worker's lease expires
    results = Trainer(store, chunk_size=20).run_until_idle()
    assert [r.status for r in results] == ["SUCCEEDED"]
    versions = _versions(store, w.project_id)
    assert [(v, s) for _, v, s, _ in versions] == [(1, "FAILED"), (2, "READY")]  # numbers never reused
    assert _pred_counts(store, mv1) == (0, 0)
    assert _pred_counts(store, versions[1][0]) == (90, 90)
    with store.transaction(read_only=True) as s:
        job = s.scalars(select(t.TrainingJob)).one()
        assert job.attempts == 2 and job.status == "SUCCEEDED"


def test_crash_while_publishing_is_recovered(store: Store) -> None:
    w, _ = _labeled_world(store)

    def crash(phase: str, fraction: float, message: str) -> None:
        if phase == "finish":
            raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        Trainer(store, lease_seconds=0.3, progress=crash).run_once()
    import time

    time.sleep(0.5)
    Trainer(store).run_until_idle()
    assert [(v, s) for _, v, s, _ in _versions(store, w.project_id)] == [(1, "FAILED"), (2, "READY")]


def test_concurrent_workers_number_versions_uniquely(store: Store, db_url: str) -> None:
    w, _ = _labeled_world(store, n_assets=60)
    for _ in range(6):
        with store.transaction() as s:
            s.add(t.TrainingJob(project_id=w.project_id, tier="fast", status="QUEUED", created_at=t.utcnow()))
    errors: list[BaseException] = []

    def work(i: int) -> None:
        st = Store(db_url)
        try:
            Trainer(st, worker_id=f"w{i}", schedule=False).run_until_idle()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            st.dispose()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    versions = _versions(store, w.project_id)
    assert [v for _, v, _, _ in versions] == [1, 2, 3, 4, 5, 6]
    assert all(s == "READY" for _, _, s, _ in versions)
    for mv_id, *_ in versions:
        assert _pred_counts(store, mv_id) == (60, 60)


def test_not_enough_classes_fails_the_job_clearly(store: Store) -> None:
    texts, _ = topic_corpus(30)
    w = make_world(store, texts)
    for aid in w.asset_ids[:3]:
        label(w, aid, "SPORT")
    tsvc.request_training(store, w.admin, w.project_id, tier="fast")
    (r,) = Trainer(store, schedule=False).run_until_idle()
    assert r.status == "FAILED" and "at least 2 different categories" in r.message
    assert _versions(store, w.project_id) == []


MULTI = {
    "jobs": [
        {"name": "TOPIC", "input": "single", "categories": [{"key": k} for k in KEYS]},
        {
            "name": "TAGS",
            "input": "multi",
            "required": False,
            "categories": [{"key": "URGENT"}, {"key": "LOCAL"}, {"key": "OPINION"}],
        },
    ]
}


def _spy_queue_strategy(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Record the trainer's make_strategy arguments and QueryContext."""
    import prelabel.worker.trainer as trainer_mod

    seen: dict[str, Any] = {}
    real_make, real_ctx = trainer_mod.make_strategy, trainer_mod.QueryContext

    def make(name: str, **kw: Any) -> Any:
        seen["make"] = (name, kw)
        return real_make(name, **kw)

    def ctx(*a: Any, **kw: Any) -> Any:
        seen["ctx"] = real_ctx(*a, **kw)
        return seen["ctx"]

    monkeypatch.setattr(trainer_mod, "make_strategy", make)
    monkeypatch.setattr(trainer_mod, "QueryContext", ctx)
    return seen


def test_queue_strategy_gets_the_next_batch_and_the_label_count(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spy_queue_strategy(monkeypatch)
    _labeled_world(store, n_labels=40, train_growth=0.5, queue_random_share=0.2)
    (r,) = Trainer(store).run_until_idle()
    assert r.status == "SUCCEEDED", r.message
    # the trigger will wait for max(train_min_labels 10, 0.5 x 40) labels: the batch the mix spreads
    assert seen["make"] == ("mix", {"random_share": 0.2, "batch": 20})
    assert seen["ctx"].n_labeled == 40 and list(seen["ctx"].thresholds) == [None]  # single-choice: none


def test_the_mix_cold_start_sees_the_labeled_items_in_the_pools_feature_space(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prelabel.automl.active as active_mod

    seen = _spy_queue_strategy(monkeypatch)
    picks: list[list[int]] = []
    real = active_mod.uncovered_typical

    def spy(ctx: Any, batch: int, sample: int = 3000) -> list[int]:
        picks.append(real(ctx, batch, sample))
        return picks[-1]

    monkeypatch.setattr(active_mod, "uncovered_typical", spy)
    _labeled_world(store, n_labels=12)  # under the mix's 25-label cold start
    (r,) = Trainer(store).run_until_idle()
    assert r.status == "SUCCEEDED", r.message
    c = seen["ctx"]
    lab = c.labeled_features()
    pool = c.features(np.arange(3))
    assert lab.shape == (12, pool.shape[1])  # one row per labeled asset, the same columns as the pool's
    (head,) = picks  # the cold start asked for the regions the twelve labels do not cover
    assert len(head) == seen["make"][1]["batch"] == 5 and len(set(head)) == 5


def _label_topic_and_tags(store: Store, w: World, topics: list[str], tags_of: Callable[[int], list[str]]) -> None:
    """Label the world's first assets: TOPIC from `topics`, TAGS from `tags_of(i)`."""
    for i, (aid, y) in enumerate(zip(w.asset_ids, topics, strict=False)):
        tags = [{"name": k} for k in tags_of(i)]
        create_label(
            store,
            w.labeler,
            w.project_id,
            aid,
            json_response={"TOPIC": {"categories": [{"name": y}]}, "TAGS": {"categories": tags}},
        )


def test_several_jobs_and_multi_label(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spy_queue_strategy(monkeypatch)
    texts, truth = topic_corpus(90)
    texts = [
        tx + (" urgent breaking" if i % 2 else "") + (" our town" if i % 3 == 0 else "") for i, tx in enumerate(texts)
    ]
    w = make_world(store, texts, interface=MULTI, settings={"train_debounce_s": 0.0, "search_enabled": False})
    _label_topic_and_tags(
        store, w, truth[:45], lambda i: ["URGENT"] * (i % 2 == 1) + ["LOCAL"] * (i % 3 == 0)
    )
    (r,) = Trainer(store).run_until_idle()
    assert r.status == "SUCCEEDED", r.message
    ((mv_id, *_),) = _versions(store, w.project_id)
    with store.transaction(read_only=True) as s:
        mv = s.get(t.ModelVersion, mv_id)
        assert mv is not None
        jobs = mv.metrics["jobs"]
        artifact = mv.artifact
        preds = {
            p.asset_id: p.json_response
            for p in s.scalars(select(t.Prediction).where(t.Prediction.model_version_id == mv_id))
        }
    assert set(jobs) == {"TOPIC", "TAGS"} and jobs["TAGS"]["input"] == "multi"
    assert set(jobs["TAGS"]["per_class"]) == {"URGENT", "LOCAL"}  # OPINION never used: no column, prob 0
    hits = 0
    for i, aid in enumerate(w.asset_ids[45:], start=45):
        tags = preds[aid]["TAGS"]
        assert set(tags["probabilities"]) == {"URGENT", "LOCAL", "OPINION"}
        assert tags["probabilities"]["OPINION"] == 0.0
        chosen = {c["name"] for c in tags["categories"]}
        hits += ("URGENT" in chosen) == bool(i % 2)
        assert len(preds[aid]["TOPIC"]["categories"]) == 1
    assert hits / 45 > 0.8
    # the queue measures TAGS' uncertainty around its tuned thresholds (TOPIC, single-choice: none)
    model = ProjectModel.from_bytes(artifact or b"")
    ctx_thresholds = dict(zip(["TOPIC", "TAGS"], seen["ctx"].thresholds, strict=True))
    assert ctx_thresholds["TOPIC"] is None
    assert np.array_equal(ctx_thresholds["TAGS"], model.thresholds(model.interface.job("TAGS")))
    assert model.models["TAGS"].decision_.at_least_one is False  # not required: an empty set is an answer
    assert list(seen["ctx"].at_least_one) == [False, False]  # nor is the queue's uncertainty measured so


def test_a_required_multi_choice_jobs_queue_measures_uncertainty_around_its_fallback(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _spy_queue_strategy(monkeypatch)
    texts, truth = topic_corpus(60)
    texts = [tx + (" urgent breaking" if i % 2 else "") for i, tx in enumerate(texts)]
    interface = {"jobs": [MULTI["jobs"][0], {**MULTI["jobs"][1], "required": True}]}
    w = make_world(store, texts, interface=interface, settings={"train_debounce_s": 0.0, "search_enabled": False})
    _label_topic_and_tags(store, w, truth[:30], lambda i: ["URGENT" if i % 2 else "LOCAL"])
    (r,) = Trainer(store).run_until_idle()
    assert r.status == "SUCCEEDED", r.message
    assert list(seen["ctx"].multi_label) == [False, True]
    assert list(seen["ctx"].at_least_one) == [False, True]


def test_a_required_multi_choice_job_is_tuned_for_naming_at_least_one_category() -> None:
    from prelabel.domain import parse_interface
    from prelabel.worker.model import TrainingSet

    texts, _truth = topic_corpus(90)
    tags = [(["URGENT"] if i % 2 else ["CALM"]) + (["LOCAL"] if i % 3 == 0 else []) for i in range(90)]
    texts = [tx + (" urgent breaking" if i % 2 else "") for i, tx in enumerate(texts)]
    job = {"name": "TAGS", "input": "multi", "categories": [{"key": k} for k in ("URGENT", "CALM", "LOCAL")]}
    for required in (True, False):
        interface = parse_interface({"jobs": [{**job, "required": required}]})
        ts = TrainingSet(list(range(60)), texts[:60], tags[:60])
        model = ProjectModel(interface, tier="fast").fit({"TAGS": ts})
        assert model.models["TAGS"].decision_.at_least_one is required
        p = model.predict_proba(texts[60:])
        chosen = model.chosen(interface.job("TAGS"), p["TAGS"])
        served = [r["TAGS"]["categories"] for r, _ in model.responses(p)]
        assert [[c["name"] for c in cats] for cats in served] == [
            [k for k, on in zip(("URGENT", "CALM", "LOCAL"), row, strict=True) if on] for row in chosen
        ]
        if required:
            assert all(served)
    # a label without a category (the job was optional when it was given): tuned as before
    interface = parse_interface({"jobs": [{**job, "required": True}]})
    ts = TrainingSet(list(range(60)), texts[:60], [*tags[:59], []])
    assert ProjectModel(interface, tier="fast").fit({"TAGS": ts}).models["TAGS"].decision_.at_least_one is False


def test_search_is_warm_started_from_the_previous_version(store: Store) -> None:
    w, truth = _labeled_world(store, n_labels=45, search_enabled=True, search_min_labels=30, search_budget_s=20.0)
    trainer = Trainer(store, max_trials=3)
    results = trainer.run_until_idle()
    assert [r.tier for r in results] == ["fast", "search"] and all(r.status == "SUCCEEDED" for r in results)
    for aid, y in list(zip(w.asset_ids, truth, strict=True))[45:60]:
        label(w, aid, y)
    tsvc.request_training(store, w.admin, w.project_id, tier="search")
    (r,) = Trainer(store, max_trials=3, schedule=False).run_until_idle()
    assert r.status == "SUCCEEDED", r.message
    versions = _versions(store, w.project_id)
    assert [tier for *_, tier in versions] == ["fast", "search", "search"]
    with store.transaction(read_only=True) as s:
        first = s.get(t.ModelVersion, versions[1][0])
        second = s.get(t.ModelVersion, versions[2][0])
        assert first is not None and second is not None
        prev_best = first.metrics["best_configs"]["TOPIC"]
        artifact = second.artifact
        assert second.metrics["warm_started"] is True and first.metrics["warm_started"] is True  # from fast
    assert prev_best
    model = ProjectModel.from_bytes(artifact)  # type: ignore[arg-type]
    assert model.models["TOPIC"].get_params()["warm_start"] == prev_best
    assert model.models["TOPIC"].mode_ == "search"


def test_review_overrides_default_and_planted_mislabel_is_flagged(store: Store) -> None:
    texts, truth = topic_corpus(90)
    w = make_world(store, texts, settings={"train_debounce_s": 0.0, "search_enabled": False})
    planted = w.asset_ids[7]
    for aid, y in list(zip(w.asset_ids, truth, strict=True))[:60]:
        given = KEYS[(KEYS.index(y) + 1) % 3] if aid == planted else y
        label(w, aid, given)
    # a reviewer fixes asset 3's label to a wrong one on purpose, overriding the (right) DEFAULT label
    create_label(
        store,
        w.reviewer,
        w.project_id,
        w.asset_ids[3],
        json_response={"TOPIC": {"categories": [{"name": truth[4]}]}},
        label_type="REVIEW",
    )
    (r,) = Trainer(store).run_until_idle()
    assert r.status == "SUCCEEDED"
    page = queue.review_list(store, w.reviewer, w.project_id)
    flagged = {a.id: a for a in page.items}
    assert planted in flagged and flagged[planted].review_reason == "label_error"
    assert w.asset_ids[3] not in flagged  # REVIEWED assets are settled
    with store.transaction(read_only=True) as s:
        mv = s.scalars(select(t.ModelVersion)).one()
        support = {k: v["support"] for k, v in mv.metrics["jobs"]["TOPIC"]["per_class"].items()}
    expected = {k: 0 for k in KEYS}
    for i, y in enumerate(truth[:60]):
        if i == 3:
            y = truth[4]
        elif i == 7:
            y = KEYS[(KEYS.index(y) + 1) % 3]
        expected[y] += 1
    assert support == expected


def test_default_mix_strategy_orders_the_whole_pool(store: Store) -> None:
    w, _ = _labeled_world(store)  # default queue_strategy: mix
    Trainer(store).run_until_idle()
    with store.transaction(read_only=True) as s:
        prios = [
            p
            for (p,) in s.execute(
                select(t.Asset.priority).where(t.Asset.project_id == w.project_id, t.Asset.status == "TODO")
            )
        ]
    assert len(prios) == 78 and len(set(prios)) == 78  # a strict order over every unlabeled asset


def _features(store: Store, mv_id: int) -> tuple[str, Any]:
    """The fast model's feature description and its embeddings note, from the version's metrics."""
    with store.transaction(read_only=True) as s:
        mv = s.get(t.ModelVersion, mv_id)
        assert mv is not None
        jm = mv.metrics["jobs"]["TOPIC"]
    return str(jm["leaderboard"][0]["features"]), jm["embeddings"]


@pytest.mark.embeddings
@pytest.mark.skipif(not embeddings_available(), reason="prelabel[embeddings] is not installed")
def test_prepare_encodes_the_project_then_fast_models_add_sentence_vectors(store: Store, tmp_path: Path) -> None:
    w, truth = _labeled_world(store, n_assets=60, n_labels=12, use_embeddings=True)
    texts = topic_corpus(60)[0]
    (first,) = Trainer(store, cache_dir=str(tmp_path), tiers=("fast",)).run_until_idle()
    assert first.status == "SUCCEEDED" and "embed" not in first.timings
    features, note = _features(store, first.model_version_id or 0)
    # the 12 labeled texts get vectors at once; the 48 others keep a word-only fallback until they are encoded
    assert "minilm" in features and note == "used (12 texts encoded)"
    with store.transaction(read_only=True) as s:
        mv = s.get(t.ModelVersion, first.model_version_id)
        assert mv is not None and mv.metrics["jobs"]["TOPIC"]["word_fallback"] is True
    assert count_missing(texts, tmp_path) == 48

    # the import queued a prepare job; the second worker process runs it (encoding every text)
    (prep,) = Trainer(store, cache_dir=str(tmp_path), tiers=("prepare", "search")).run_until_idle()
    assert prep.tier == "prepare" and prep.status == "SUCCEEDED", prep.message
    assert prep.model_version_id is None and "48 texts encoded" in prep.message  # labels: no zero-shot version
    assert "embed" in prep.timings and count_missing(texts, tmp_path) == 0  # every asset, labeled or not

    for aid, y in list(zip(w.asset_ids, truth, strict=True))[12:24]:
        label(w, aid, y)
    (fast,) = Trainer(store, cache_dir=str(tmp_path), tiers=("fast",)).run_until_idle()
    assert fast.tier == "fast" and fast.status == "SUCCEEDED", fast.message
    features, note = _features(store, fast.model_version_id or 0)
    assert "minilm" in features and note == "used (0 texts encoded)"

    # a search encodes what is missing too (texts imported while no prepare worker ran)
    tsvc.request_training(store, w.admin, w.project_id, tier="search")
    searcher = Trainer(store, cache_dir=str(tmp_path), schedule=False, max_trials=2, tiers=("search",))
    (search,) = searcher.run_until_idle()
    assert search.status == "SUCCEEDED" and "embed" in search.timings, search.message


@pytest.mark.embeddings
@pytest.mark.skipif(not embeddings_available(), reason="prelabel[embeddings] is not installed")
def test_use_embeddings_off_keeps_tfidf_and_encodes_nothing(store: Store, tmp_path: Path) -> None:
    w, _ = _labeled_world(store, n_assets=40, n_labels=36, use_embeddings=False)
    emb_encode = topic_corpus(40)[0]
    embed(emb_encode, tmp_path)  # even with every text encoded
    tsvc.request_training(store, w.admin, w.project_id, tier="search")
    results = Trainer(store, cache_dir=str(tmp_path), max_trials=2).run_until_idle()
    assert [r.status for r in results] == ["SUCCEEDED", "SUCCEEDED"]
    assert all("embed" not in r.timings for r in results)
    for r in results:  # neither tier: the search's portfolio leaves the sentence model out too
        with store.transaction(read_only=True) as s:
            mv = s.get(t.ModelVersion, r.model_version_id)
            assert mv is not None
            board = mv.metrics["jobs"]["TOPIC"]["leaderboard"]
        assert board and all("minilm" not in row["features"] for row in board), (r.tier, board)


def test_the_calibration_is_chosen_for_the_unlabeled_assets(store: Store) -> None:
    """From 20 labels on, the fast model's calibration is chosen with the labeled rows weighted towards the
    project's unlabeled assets (calibration.pool_weights); the version's metrics say on how many."""
    _labeled_world(store, n_assets=90, n_labels=24)
    (result,) = Trainer(store).run_until_idle()
    assert result.status == "SUCCEEDED"
    with store.transaction(read_only=True) as s:
        mv = s.get(t.ModelVersion, result.model_version_id)
        assert mv is not None
        cal = mv.metrics["jobs"]["TOPIC"]["calibration"]
    assert cal["weighted_to_pool"]["pool_rows"] == 66  # the 90 assets less the 24 labeled
    assert 0 < cal["weighted_to_pool"]["effective_rows"] <= 24
    assert set(cal["candidates"]) == {"none", "temperature"}
