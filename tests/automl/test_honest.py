"""`prelabel.automl.honest` on small real samples: repeated cross-validation of the real `AutoTextClassifier`,
the per-class table reproducing the headline, intervals around the point estimate, the time cap (counted in
repeats with a fake clock, not timed), multi-label suggestions and the expected agreement."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from prelabel.automl import AutoTextClassifier
from prelabel.automl.honest import expected_agreement, repeated_cv


def _fast() -> AutoTextClassifier:
    return AutoTextClassifier(mode="fast", time_budget=0)


def _ticking(step: float) -> Callable[[], float]:
    """A clock that moves `step` seconds each time it is read."""
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def test_tweets_table_reproduces_the_headline_and_intervals_hold_the_estimate(
    tweets: tuple[list[str], list[str]],
) -> None:
    texts, y = tweets[0][:40], ["DISASTER" if v == "1" else "NOT_DISASTER" for v in tweets[1][:40]]
    clf = _fast().fit(texts, y)
    pool = tweets[0][200:400]
    est = repeated_cv(clf, texts, y, metric=clf.metric_, unlabeled=pool, n_repeats=2, n_bootstrap=500)
    assert est.method == "repeated stratified 5-fold" and (est.n_repeats, est.n_repeats_planned) == (2, 2)
    assert est.stopped is None and est.n_labels == 40 and est.n_fallback_folds == 0
    # binary tweets: the project metric is the F1 of the second sorted class, as the classifier scores it
    assert est.metric is not None and est.metric.name == "f1" and est.metric.positive == "NOT_DISASTER"
    for fig in (est.accuracy, est.metric):
        assert 0.0 <= fig.low <= fig.value <= fig.high <= 1.0
        assert fig.high - fig.low > 0.02  # 40 labels: the interval is not a point
    # the per-class table comes from the same pooled out-of-fold predictions as the headline
    rows = est.per_class
    assert [rows[c]["support"] for c in ("DISASTER", "NOT_DISASTER")] == [y.count("DISASTER"), y.count("NOT_DISASTER")]
    acc_from_table = sum(r["recall"] * r["support"] for r in rows.values()) / len(y)
    assert acc_from_table == pytest.approx(est.accuracy.value, abs=1e-3)
    assert rows["NOT_DISASTER"]["f1"] == pytest.approx(est.metric.value, abs=1e-4)
    assert np.mean(est.repeat_scores) == pytest.approx(est.accuracy.value)
    # the honest estimate is below the classifier's own (threshold tuned out of fold) CV score here
    assert est.metric.value < clf.best_score_
    d = est.to_dict()
    assert d["accuracy"]["name"] == "accuracy" and d["per_class"] == rows and d["n_repeats"] == 2


def test_pooled_predictions_match_sklearn_on_bbc(bbc: tuple[list[str], list[str]]) -> None:
    """Multi-class: macro-F1 and accuracy equal sklearn's on the pooled rows, which a 1-repeat run exposes."""
    texts, y = bbc[0][:30], bbc[1][:30]
    classes = sorted(set(y))
    est = repeated_cv(_fast(), texts, y, metric="f1_macro", classes=classes, n_repeats=1, n_bootstrap=200)
    assert est.metric is not None and est.metric.name == "f1_macro"
    # rebuild the out-of-fold predictions from the table: precision / recall / support fix the counts
    f1s = [est.per_class[c]["f1"] for c in classes if est.per_class[c]["support"] or est.per_class[c]["precision"]]
    assert est.metric.value == pytest.approx(float(np.mean(f1s)), abs=1e-3)
    assert est.accuracy.value == pytest.approx(
        sum(est.per_class[c]["recall"] * est.per_class[c]["support"] for c in classes) / len(y), abs=1e-3
    )
    assert est.accuracy.low <= est.accuracy.value <= est.accuracy.high


def test_leave_one_out_under_twenty_labels_matches_sklearn(tweets: tuple[list[str], list[str]]) -> None:
    texts, y = tweets[0][:12], ["DISASTER" if v == "1" else "NOT_DISASTER" for v in tweets[1][:12]]
    est = repeated_cv(_fast(), texts, y, n_repeats=5, n_bootstrap=300)
    assert est.method == "leave-one-out" and est.n_splits == 12 and est.n_repeats == 1
    # leave-one-out by hand: the same model refitted without each text, predicting it
    pred = []
    for i in range(len(y)):
        tr = [j for j in range(len(y)) if j != i]
        ytr = [y[j] for j in tr]
        if len(set(ytr)) < 2:
            pred.append(ytr[0])
            continue
        clf = _fast().fit([texts[j] for j in tr], ytr)
        pred.append(str(clf.classes_[int(np.argmax(clf.predict_proba([texts[i]])[0]))]))
    assert est.accuracy.value == pytest.approx(accuracy_score(y, pred))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=["DISASTER", "NOT_DISASTER"], zero_division=0)
    for i, c in enumerate(["DISASTER", "NOT_DISASTER"]):
        assert est.per_class[c]["precision"] == pytest.approx(p[i], abs=1e-4)
        assert est.per_class[c]["recall"] == pytest.approx(r[i], abs=1e-4)
        assert est.per_class[c]["f1"] == pytest.approx(f[i], abs=1e-4)
        assert est.per_class[c]["support"] == s[i]


def test_time_cap_stops_adding_repeats(bbc: tuple[list[str], list[str]]) -> None:
    texts, y = bbc[0][:25], bbc[1][:25]
    # the clock reads 10, 20, 30, …: repeats start at 20 and 30 (< 25 s after the start at 10), not at 40
    est = repeated_cv(_fast(), texts, y, n_repeats=5, time_cap_s=25.0, clock=_ticking(10.0), n_bootstrap=100)
    assert (est.n_repeats, est.n_repeats_planned, est.stopped) == (3, 5, "time cap")
    assert len(est.repeat_scores) == 3
    # a cap already spent still runs the first repeat
    est = repeated_cv(_fast(), texts, y, n_repeats=5, time_cap_s=0.0, clock=_ticking(1.0), n_bootstrap=100)
    assert (est.n_repeats, est.stopped) == (1, "time cap")
    # a job waiting for the worker stops it too
    est = repeated_cv(_fast(), texts, y, n_repeats=5, should_stop=lambda: True, n_bootstrap=100)
    assert (est.n_repeats, est.stopped) == (1, "job waiting")


def test_multilabel_reuters_micro_f1(reuters: tuple[list[str], list[list[str]]]) -> None:
    texts, y = reuters[0][:40], reuters[1][:40]
    est = repeated_cv(_fast(), texts, y, metric="f1_micro", n_repeats=1, n_bootstrap=300, at_least_one=True)
    assert est.task == "multi" and est.method == "repeated 5-fold"
    assert est.accuracy.name == "f1_micro" and est.metric is None  # the project metric is micro-F1 itself
    assert est.accuracy.low <= est.accuracy.value <= est.accuracy.high
    # micro-F1 from the table's pooled counts: tp = recall * support, fp from precision
    tp = fp = fn = 0.0
    for row in est.per_class.values():
        t = row["recall"] * row["support"]
        tp += t
        fn += row["support"] - t
        fp += t / row["precision"] - t if row["precision"] else 0.0
    assert 2 * tp / (2 * tp + fp + fn) == pytest.approx(est.accuracy.value, abs=0.02)  # table rounded to 4 places


def test_a_fold_with_one_class_answers_it(tweets: tuple[list[str], list[str]]) -> None:
    texts = tweets[0][:6]
    y = ["A", "A", "A", "A", "A", "B"]  # leaving out the only B leaves one class: the answer is A
    est = repeated_cv(_fast(), texts, y, n_bootstrap=100)
    assert est.n_fallback_folds == 1
    assert est.per_class["B"]["recall"] == 0.0


def test_expected_agreement() -> None:
    p = np.array([[0.7, 0.3], [0.4, 0.6]])
    chosen = np.array([[1, 0], [0, 1]])
    assert expected_agreement(p, chosen, multi=False).tolist() == pytest.approx([0.7, 0.6])
    pm = np.array([[0.9, 0.2, 0.6]])
    assert expected_agreement(pm, np.array([[1, 0, 1]]), multi=True).tolist() == pytest.approx([(0.9 + 0.8 + 0.6) / 3])
    assert expected_agreement(np.zeros((0, 2)), np.zeros((0, 2)), multi=False).shape == (0,)


def test_binary_f1_is_the_positive_rows_f1(tweets: tuple[list[str], list[str]]) -> None:
    """Two repeats pooled: the binary F1 is the positive class's row of the table."""
    texts, y = tweets[0][:30], tweets[1][:30]
    est = repeated_cv(_fast(), texts, y, metric="f1", n_repeats=2, n_bootstrap=100)
    assert est.metric is not None and est.metric.positive == "1"
    row = est.per_class["1"]
    assert est.metric.value == pytest.approx(row["f1"], abs=1e-4)
    # F1 from the row's precision and recall
    p, r = row["precision"], row["recall"]
    assert row["f1"] == pytest.approx(2 * p * r / (p + r), abs=1e-3)
