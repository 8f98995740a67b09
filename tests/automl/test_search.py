"""The search: leaderboard, ensemble, calibration, determinism, warm start, pruning."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prelabel.automl import AutoTextClassifier
from prelabel.automl.search import SearchData, SearchSpace, TrialResult, _prune_bars, make_folds, run_search

FEATURES = ["word", "char", "word+char"]


@pytest.fixture(scope="module")
def searched(tweets: tuple[list[str], list[str]]) -> AutoTextClassifier:
    texts, y = tweets
    return AutoTextClassifier(time_budget=60, max_trials=10, feature_sets=FEATURES, n_jobs=1).fit(texts, y)


def test_search_attributes(searched: AutoTextClassifier, tweets: tuple[list[str], list[str]]) -> None:
    texts, _y = tweets
    est = searched
    assert est.mode_ == "search"
    assert est.n_trials_ == 10
    assert len(est.leaderboard_) == 10
    row = est.leaderboard_[0]
    assert set(row) >= {"features", "model", "params", "cv_score", "fit_time", "status"}
    ok_scores = [r["cv_score"] for r in est.leaderboard_ if r["status"] == "ok"]
    assert ok_scores == sorted(ok_scores, reverse=True)
    assert all(r["status"] in ("ok", "pruned", "timeout", "failed", "duplicate") for r in est.leaderboard_)
    weights = [m["weight"] for m in est.ensemble_]
    assert abs(sum(weights) - 1.0) < 1e-9
    # binary F1: ensemble selection on log loss, then the threshold; selection starts from the best single
    # trial, so the blend is at least as good out of fold on the selection metric
    sel = est.search_info_["ensemble_selection"]
    assert sel["metric"] == "log_loss"
    assert sel["blend"] >= sel["best_single"] - 1e-9
    assert 0.0 < est.best_score_ <= 1.0  # best_score_ stays in the search metric: the blend's out-of-fold F1
    assert set(est.calibration_) >= {"method", "ece_before", "ece_after"}
    assert est.calibration_["method"] in ("none", "sigmoid", "isotonic")
    assert est.oof_proba_.shape == (len(texts), 2)
    np.testing.assert_allclose(est.oof_proba_.sum(axis=1), 1.0, atol=1e-6)
    json.dumps(est.best_configs_)  # JSON-serialisable for the trainer
    assert est.best_configs_[0] == est.ensemble_[0]["config"]


def test_predictions_and_features(
    searched: AutoTextClassifier, tweets_large: tuple[list[str], list[str]]
) -> None:
    texts, y = tweets_large
    held_out = texts[:300]
    proba = searched.predict_proba(held_out)
    assert proba.shape == (300, 2)
    pred = searched.predict(held_out)
    assert set(pred) <= {"0", "1"}
    assert float(np.mean(pred == np.asarray(y[:300]))) > 0.65
    x = searched.transform_features(held_out)
    assert x.shape[0] == 300
    assert searched.score(held_out, y[:300]) > 0.5


def test_same_trials_budget_same_model(
    tweets: tuple[list[str], list[str]], searched: AutoTextClassifier
) -> None:
    texts, y = tweets
    again = AutoTextClassifier(time_budget=60, max_trials=10, feature_sets=FEATURES, n_jobs=1).fit(texts, y)
    assert [r["params"] for r in again.leaderboard_] == [r["params"] for r in searched.leaderboard_]
    np.testing.assert_allclose(again.predict_proba(texts[:50]), searched.predict_proba(texts[:50]))


def test_parallel_trials_deterministic(tweets: tuple[list[str], list[str]]) -> None:
    texts, y = tweets
    runs = [
        AutoTextClassifier(time_budget=60, max_trials=4, feature_sets=["word"], n_jobs=2).fit(texts, y)
        for _ in range(2)
    ]
    assert [r["params"] for r in runs[0].leaderboard_] == [r["params"] for r in runs[1].leaderboard_]
    np.testing.assert_allclose(runs[0].oof_proba_, runs[1].oof_proba_)


def test_warm_start_evaluated_first(
    searched: AutoTextClassifier, tweets: tuple[list[str], list[str]]
) -> None:
    texts, y = tweets
    warm = searched.best_configs_[:2]
    est = AutoTextClassifier(time_budget=60, max_trials=2, feature_sets=FEATURES, warm_start=warm).fit(
        texts, y
    )
    by_trial = sorted(est.leaderboard_, key=lambda r: r["trial"])
    assert [r["params"] for r in by_trial] == [c["params"] for c in warm]


def test_time_budget_stops_the_search(tweets: tuple[list[str], list[str]]) -> None:
    texts, y = tweets
    # no max_trials: without the deadline this search would never stop, so returning at all shows the budget
    # ends it; the estimator reports the deadline as the reason (wall time itself is for the benchmark)
    est = AutoTextClassifier(time_budget=2, feature_sets=["word"], n_jobs=1).fit(texts, y)
    assert est.mode_ == "search"
    assert est.search_info_["stop_reason"] == "deadline"
    assert est.n_trials_ >= 1 and any(r["status"] == "ok" for r in est.leaderboard_)
    # with max_trials the search stops on the count instead
    assert searched_stop_reason(texts, y) == "max_trials"


def searched_stop_reason(texts: list[str], y: list[str]) -> str:
    est = AutoTextClassifier(time_budget=60, max_trials=2, feature_sets=["word"], n_jobs=1).fit(texts, y)
    return str(est.search_info_["stop_reason"])


def test_past_deadline_starts_no_trial(tweets: tuple[list[str], list[str]]) -> None:
    import time

    texts, y = tweets
    yi = (np.asarray(y) == "1").astype(np.int64)
    data = SearchData(texts, yi, "binary", 2, "f1", make_folds(yi, "binary", 3, 0), None, 0)
    space = SearchSpace(("word",), ("logreg", "cnb"), "binary")
    info: dict[str, object] = {}
    # the deadline has already passed: no trial starts (the estimator then fits its default configuration)
    assert run_search(data, space, time.time() - 1.0, None, 10.0, 1, info=info) == []
    assert info == {"stop_reason": "deadline", "killed_at_deadline": 0}


def test_folds_adapt_to_rarest_class() -> None:
    y = np.array([0] * 50 + [1] * 3)
    folds = make_folds(y, "binary", None, 0)
    assert len(folds) == 3
    for _, va in folds:
        assert y[va].sum() == 1


def test_median_pruning_bars() -> None:
    done = [TrialResult(i, {}, "ok", fold_scores=[0.5 + 0.1 * i] * 5) for i in range(5)]
    bars = _prune_bars(done, 5)
    assert bars[0] is None  # never pruned on a single fold when there are ≥ 4 folds
    assert bars[1] == pytest.approx(0.7)
    assert _prune_bars(done[:3], 5) == []  # too few completed trials to judge


def test_search_leaves_time_for_the_refit(tweets: tuple[list[str], list[str]]) -> None:
    import time

    texts, y = tweets
    yi = (np.asarray(y) == "1").astype(np.int64)
    data = SearchData(texts, yi, "binary", 2, "f1", make_folds(yi, "binary", 3, 0), None, 0)
    space = SearchSpace(("word",), ("logreg", "cnb"), "binary")
    far = time.time() + 3600
    assert len(run_search(data, space, far, 4, 60.0, 1)) == 4
    # the whole fit must end now: after the first trial (which always runs) the refit reserve stops the search
    info: dict[str, object] = {}
    results = run_search(data, space, far, 4, 60.0, 1, info=info, hard_end=time.time())
    assert len(results) == 1 and results[0].status == "ok"
    assert info["stop_reason"] == "deadline"
