"""The trainer's honest early metrics on a real SQLite store with real disaster tweets: the version is
published first (its estimate "pending"), then the repeated cross-validation lands in its metrics; the
expected accuracy of the served suggestions; trial counts; a job waiting stops the repeats; a failure
leaves the published version alone; from HONEST_MAX_LABELS labels on the classifier's own CV score stays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from loophelpers import World, label, make_world, read_csv
from sqlalchemy import select

from prelabel.service import training as tsvc
from prelabel.service.analytics import model_score
from prelabel.store import tables as t
from prelabel.store.engine import Store
from prelabel.worker.model import ProjectModel
from prelabel.worker.trainer import Trainer

TWEETS = {
    "jobs": [
        {
            "name": "JOB_0",
            "input": "single",
            "categories": [{"key": "DISASTER"}, {"key": "NOT_DISASTER"}],
        }
    ]
}


def _tweet_world(store: Store, datasets: Path, n_labels: int, n_assets: int = 90) -> tuple[World, list[str]]:
    rows = read_csv(datasets / "disaster_tweets" / "train.csv", n_assets)
    truth = ["DISASTER" if r["target"] == "1" else "NOT_DISASTER" for r in rows]
    w = make_world(
        store,
        [r["text"] for r in rows],
        interface=TWEETS,
        settings={"train_debounce_s": 0.0, "search_enabled": False, "queue_strategy": "margin"},
    )
    for aid, y in list(zip(w.asset_ids, truth, strict=True))[:n_labels]:
        label(w, aid, y, job="JOB_0")
    return w, truth


def _metrics(store: Store, project_id: int) -> tuple[str, dict[str, Any]]:
    with store.transaction(read_only=True) as s:
        mv = s.scalars(select(t.ModelVersion).where(t.ModelVersion.project_id == project_id)).one()
        return mv.status, dict(mv.metrics)


def test_the_estimate_lands_after_publishing(store: Store, datasets: Path) -> None:
    w, _truth = _tweet_world(store, datasets, n_labels=30)
    seen: dict[str, Any] = {}

    def progress(phase: str, fraction: float, message: str) -> None:
        if phase == "estimate":  # the version is published before the estimate starts
            seen["status"], seen["metrics"] = _metrics(store, w.project_id)
            with store.transaction(read_only=True) as s:
                seen["n_pred"] = len(list(s.scalars(select(t.Prediction.id))))

    (r,) = Trainer(store, progress=progress).run_until_idle()
    assert r.status == "SUCCEEDED", r.message
    assert seen["status"] == "READY" and seen["n_pred"] == 90
    assert seen["metrics"]["honest"] == {"status": "pending", "jobs": ["JOB_0"]}
    assert seen["metrics"]["jobs"]["JOB_0"]["honest"] == {"status": "pending"}
    assert model_score(seen["metrics"]) == (None, None)  # the dashboard says "estimating…"
    assert "honest" in r.timings

    status, m = _metrics(store, w.project_id)
    h = m["jobs"]["JOB_0"]["honest"]
    assert status == "READY" and h["status"] == "done"
    assert h["method"] == "repeated stratified 5-fold" and 1 <= h["n_repeats"] <= h["n_repeats_planned"] == 5
    assert h["n_labels"] == 30 and h["accuracy"]["name"] == "accuracy" and h["metric"]["name"] == "f1"
    assert h["metric"]["positive"] == m["jobs"]["JOB_0"]["positive"] == "NOT_DISASTER"
    for fig in (h["accuracy"], h["metric"]):
        assert fig["low"] <= fig["value"] <= fig["high"]
    assert sum(c["support"] for c in h["per_class"].values()) == 30
    assert h["per_class"]["NOT_DISASTER"]["f1"] == pytest.approx(h["metric"]["value"], abs=1e-4)
    # the version's summary and its headline score: the honest F1, not the classifier's own
    assert m["honest"]["status"] == "done" and m["honest"]["score"] == pytest.approx(h["metric"]["value"])
    assert (m["honest"]["low"], m["honest"]["high"]) == (h["metric"]["low"], h["metric"]["high"])
    assert model_score(m) == (pytest.approx(h["metric"]["value"]), "f1")
    assert m["cv_score"] is not None  # kept beside it

    # expected accuracy: the mean top probability of the suggestions served to the 60 unlabeled tweets
    with store.transaction(read_only=True) as s:
        preds = dict(s.execute(select(t.Prediction.asset_id, t.Prediction.json_response)).all())
    top = [max(preds[a]["JOB_0"]["probabilities"].values()) for a in w.asset_ids[30:]]
    jm = m["jobs"]["JOB_0"]
    assert jm["n_pool"] == 60
    assert jm["expected_accuracy"] == pytest.approx(float(np.mean(top)), abs=1e-5)
    assert m["expected_accuracy"] == jm["expected_accuracy"]
    # what a search would have run and stored (a fast model: one trial, itself the best)
    assert (jm["n_trials"], jm["n_trials_ok"], jm["n_tied_best"], jm["n_trials_stored"]) == (1, 1, 1, 1)


def test_a_waiting_job_stops_the_repeats(store: Store, datasets: Path) -> None:
    w, _ = _tweet_world(store, datasets, n_labels=24)

    def progress(phase: str, fraction: float, message: str) -> None:
        if phase == "estimate":  # labels arrived: the next model is queued while the estimate runs
            tsvc.request_training(store, w.admin, w.project_id, tier="fast")

    r = Trainer(store, progress=progress).run_once()
    assert r is not None and r.status == "SUCCEEDED"
    _, m = _metrics(store, w.project_id)
    h = m["jobs"]["JOB_0"]["honest"]
    assert (h["status"], h["n_repeats"], h["stopped"]) == ("done", 1, "job waiting")


def test_the_time_cap_counts_repeats(store: Store, datasets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w, _ = _tweet_world(store, datasets, n_labels=24)
    monkeypatch.setattr(Trainer, "HONEST_TIME_CAP_S", 0.0)  # spent at once: only the first repeat runs
    (r,) = Trainer(store).run_until_idle()
    assert r.status == "SUCCEEDED", r.message
    _, m = _metrics(store, w.project_id)
    h = m["jobs"]["JOB_0"]["honest"]
    assert (h["n_repeats"], h["n_repeats_planned"], h["stopped"]) == (1, 5, "time cap")


def test_leave_one_out_under_twenty_labels(store: Store, datasets: Path) -> None:
    w, _ = _tweet_world(store, datasets, n_labels=18)
    (r,) = Trainer(store).run_until_idle()
    assert r.status == "SUCCEEDED", r.message
    _, m = _metrics(store, w.project_id)
    h = m["jobs"]["JOB_0"]["honest"]
    # one deterministic repeat of 18 folds
    assert (h["method"], h["n_splits"], h["n_repeats"], h["n_repeats_planned"]) == ("leave-one-out", 18, 1, 1)
    assert h["per_class"]["DISASTER"]["support"] == 15 and h["per_class"]["NOT_DISASTER"]["support"] == 3


def test_a_failed_estimate_leaves_the_version_published(
    store: Store, datasets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, _ = _tweet_world(store, datasets, n_labels=20)

    def boom(self: ProjectModel, *a: Any, **kw: Any) -> Any:
        raise RuntimeError("no estimate today")

    monkeypatch.setattr(ProjectModel, "honest_metrics", boom)
    (r,) = Trainer(store).run_until_idle()
    assert r.status == "SUCCEEDED", r.message
    status, m = _metrics(store, w.project_id)
    assert status == "READY"
    assert m["jobs"]["JOB_0"]["honest"] == {"status": "failed", "error": "RuntimeError: no estimate today"}
    assert m["honest"]["status"] == "failed"
    # the classifier's own CV score is shown instead (the dashboard says the estimate failed)
    assert model_score(m) == (pytest.approx(m["cv_score"]), "f1")
    with store.transaction(read_only=True) as s:
        job = s.scalars(select(t.TrainingJob)).one()
        assert job.status == "SUCCEEDED"


def test_enough_labels_keep_the_single_cv_score(
    store: Store, datasets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prelabel.worker.trainer as trainer_mod

    monkeypatch.setattr(trainer_mod, "HONEST_MAX_LABELS", 15)  # as if 20 labels were a few hundred
    w, _ = _tweet_world(store, datasets, n_labels=20)
    (r,) = Trainer(store).run_until_idle()
    assert r.status == "SUCCEEDED", r.message
    _, m = _metrics(store, w.project_id)
    assert "honest" not in m and "honest" not in m["jobs"]["JOB_0"] and "honest" not in r.timings
    assert model_score(m) == (m["cv_score"], "f1")
    assert 0.5 <= m["expected_accuracy"] <= 1.0


def test_a_searched_version_is_estimated_with_the_search_in_each_fold(store: Store, datasets: Path) -> None:
    w, _ = _tweet_world(store, datasets, n_labels=30)
    tsvc.request_training(store, w.admin, w.project_id, tier="search")
    r = Trainer(store, max_trials=3, tiers=("search",), schedule=False).run_once()
    assert r is not None
    assert r.status == "SUCCEEDED" and r.tier == "search", r.message
    _, m = _metrics(store, w.project_id)
    jm = m["jobs"]["JOB_0"]
    assert jm["mode"] == "search" and jm["n_trials"] == 3 and jm["n_trials_stored"] == 3
    assert 1 <= jm["n_tied_best"] <= jm["n_trials_ok"] <= 3
    h = jm["honest"]
    # each training fold runs the search again, its budget split over the folds (at least 5 s each)
    assert h["status"] == "done" and h["fold_params"] == {"time_budget": 6.0}
    assert h["n_repeats"] >= 1 and h["metric"]["low"] <= h["metric"]["value"] <= h["metric"]["high"]
