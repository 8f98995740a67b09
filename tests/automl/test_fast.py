"""Very few labels and the fast tier: no search, a robust default in about a second."""

from __future__ import annotations

import time

import numpy as np

from prelabel.automl import AutoTextClassifier


def test_ten_labels_first_model_within_two_seconds(tweets: tuple[list[str], list[str]]) -> None:
    texts, y = tweets
    idx = [i for i, v in enumerate(y) if v == "1"][:5] + [i for i, v in enumerate(y) if v == "0"][:5]
    start = time.perf_counter()
    est = AutoTextClassifier(time_budget=60).fit([texts[i] for i in idx], [y[i] for i in idx])
    proba = est.predict_proba(texts[100:200])
    elapsed = time.perf_counter() - start
    assert elapsed <= 2.0, elapsed
    assert est.mode_ == "fast"
    assert "fast_reason" in est.search_info_
    assert est.n_trials_ == 1
    assert proba.shape == (100, 2)
    assert est.oof_proba_.shape == (10, 2)


def test_few_per_class_uses_default(bbc: tuple[list[str], list[str]]) -> None:
    texts, y = bbc
    # 2 examples of one class among plenty of others → no search
    keep = [i for i, v in enumerate(y) if v != "tech"] + [i for i, v in enumerate(y) if v == "tech"][:2]
    est = AutoTextClassifier(time_budget=30).fit([texts[i] for i in keep], [y[i] for i in keep])
    assert est.mode_ == "fast"
    assert "tech" in list(est.classes_)


def test_fast_mode_thousands_of_labels(tweets_large: tuple[list[str], list[str]]) -> None:
    texts, y = tweets_large
    start = time.perf_counter()
    est = AutoTextClassifier(time_budget=0).fit(texts[:2000], y[:2000])
    assert time.perf_counter() - start < 8.0
    assert est.mode_ == "fast"
    assert est.thresholds_ is not None  # binary F1: threshold tuned out of fold
    from sklearn.metrics import f1_score

    assert f1_score(y[2000:], est.predict(texts[2000:]), pos_label="1") > 0.65
    assert same_as_mode_fast(texts[:300], y[:300])


def same_as_mode_fast(texts: list[str], y: list[str]) -> bool:
    a = AutoTextClassifier(time_budget=0).fit(texts, y).predict_proba(texts[:50])
    b = AutoTextClassifier(time_budget=99, mode="fast").fit(texts, y).predict_proba(texts[:50])
    return bool(np.allclose(a, b))
