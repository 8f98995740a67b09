"""Very few labels and the fast tier: no search, a robust default in about a second.

Speed is measured by `prelabel bench automl` (row "prelabel, 10 labels": time to a first model), never by a
timed assertion here: these tests check that the fast path runs no search at all.
"""

from __future__ import annotations

import numpy as np

from prelabel.automl import AutoTextClassifier


def assert_no_search(est: AutoTextClassifier) -> None:
    """The fast path: one default configuration evaluated, no search run (so no stop reason), one member."""
    assert est.mode_ == "fast"
    assert est.n_trials_ == 1
    assert len(est.leaderboard_) == 1
    assert est.leaderboard_[0]["features"].startswith("word") and est.leaderboard_[0]["model"] == "logreg"
    assert "stop_reason" not in est.search_info_
    assert len(est.ensemble_) == 1


def test_ten_labels_first_model_without_search(tweets: tuple[list[str], list[str]]) -> None:
    texts, y = tweets
    idx = [i for i, v in enumerate(y) if v == "1"][:5] + [i for i, v in enumerate(y) if v == "0"][:5]
    # a large budget: the number of labels alone must send the fit down the fast path
    est = AutoTextClassifier(time_budget=60).fit([texts[i] for i in idx], [y[i] for i in idx])
    proba = est.predict_proba(texts[100:200])
    assert_no_search(est)
    assert "fast_reason" in est.search_info_
    assert proba.shape == (100, 2)
    assert est.oof_proba_.shape == (10, 2)


def test_few_per_class_uses_default(bbc: tuple[list[str], list[str]]) -> None:
    texts, y = bbc
    # 2 examples of one class among plenty of others → no search
    keep = [i for i, v in enumerate(y) if v != "tech"] + [i for i, v in enumerate(y) if v == "tech"][:2]
    est = AutoTextClassifier(time_budget=30).fit([texts[i] for i in keep], [y[i] for i in keep])
    assert_no_search(est)
    assert "tech" in list(est.classes_)


def test_fast_mode_thousands_of_labels(tweets_large: tuple[list[str], list[str]]) -> None:
    texts, y = tweets_large
    est = AutoTextClassifier(time_budget=0).fit(texts[:2000], y[:2000])
    assert_no_search(est)
    assert "fast_reason" not in est.search_info_  # plenty of labels: fast because time_budget=0 asks for it
    assert est.thresholds_ is not None  # binary F1: threshold tuned out of fold
    from sklearn.metrics import f1_score

    assert f1_score(y[2000:], est.predict(texts[2000:]), pos_label="1") > 0.65
    assert same_as_mode_fast(texts[:300], y[:300])


def same_as_mode_fast(texts: list[str], y: list[str]) -> bool:
    a = AutoTextClassifier(time_budget=0).fit(texts, y).predict_proba(texts[:50])
    b = AutoTextClassifier(time_budget=99, mode="fast").fit(texts, y).predict_proba(texts[:50])
    return bool(np.allclose(a, b))


def test_fast_model_weights_classes_so_few_labels_still_predict_the_rare_class() -> None:
    # 40 SMS messages, 8 of them spam: unweighted, the fast model's most probable class is "ham" for
    # (almost) every held-out message; balanced class weights, the default for single-label tasks, find spam
    from automl_samples import sample
    from sklearn.metrics import f1_score

    rows = sample("sms_spam", "train.csv", 640, seed=0)
    train, test = rows[:40], rows[40:]
    assert sum(r["label"] == "spam" for r in train) == 8
    texts, y = [r["text"] for r in train], [r["label"] for r in train]
    held_out, truth = [r["text"] for r in test], [r["label"] for r in test]

    def argmax_f1(est: AutoTextClassifier) -> float:
        pred = est.classes_[est.predict_proba(held_out).argmax(axis=1)]  # what a labeler is shown
        return float(f1_score(truth, pred, pos_label="spam"))

    default = AutoTextClassifier(mode="fast").fit(texts, y)
    unweighted = AutoTextClassifier(mode="fast", fast_class_weight="none").fit(texts, y)
    assert default.leaderboard_[0]["params"]["class_weight"] == "balanced"
    assert unweighted.leaderboard_[0]["params"]["class_weight"] == "none"
    unweighted_f1 = argmax_f1(unweighted)
    assert unweighted_f1 < 0.2
    assert argmax_f1(default) > unweighted_f1 + 0.2  # 0.29 vs 0.0 on this draw; 0.27-0.64 vs 0-0.07 on others


def test_fast_class_weight_auto_keeps_multilabel_unweighted(reuters: tuple[list[str], list[list[str]]]) -> None:
    import pytest

    from prelabel.automl.estimator import fast_config

    assert fast_config("word", "multilabel")["params"]["class_weight"] == "none"  # thresholds are tuned instead
    assert fast_config("word+emb", "multiclass")["params"]["class_weight"] == "balanced"
    assert fast_config("word", "binary", "none")["params"]["class_weight"] == "none"
    texts, y = reuters
    est = AutoTextClassifier(mode="fast").fit(texts[:60], y[:60])
    assert est.leaderboard_[0]["params"]["class_weight"] == "none"
    with pytest.raises(ValueError, match="fast_class_weight"):
        AutoTextClassifier(mode="fast", fast_class_weight="heavy").fit(texts[:60], y[:60])


def test_the_word_block_grows_with_the_labels() -> None:
    import pytest

    from prelabel.automl.estimator import auto_word_weight, fast_config

    assert [auto_word_weight(n) for n in (1, 10, 30, 100, 5000)] == [0.01, 0.1, 0.3, 1.0, 1.0]
    assert fast_config("word+emb", "binary", word_weight=0.3)["features"]["word_weight"] == 0.3
    assert "word_weight" not in fast_config("word+emb", "binary", word_weight=1.0)["features"]
    assert "word_weight" not in fast_config("word", "binary", word_weight=0.3)["features"]  # no vectors beside it
    with pytest.raises(ValueError, match="fast_word_weight"):
        AutoTextClassifier(mode="fast", fast_word_weight=2.0).fit(["a b", "c d"] * 5, ["x", "y"] * 5)


def test_unlabeled_texts_weight_the_calibration_choice(
    tweets: tuple[list[str], list[str]], reuters: tuple[list[str], list[list[str]]]
) -> None:
    import pytest

    from prelabel.automl import estimator

    texts, y = tweets
    plain = AutoTextClassifier(mode="fast", random_state=0).fit(texts[:60], y[:60])
    assert "weighted_to_pool" not in plain.calibration_
    pooled = AutoTextClassifier(mode="fast", random_state=0).fit(texts[:60], y[:60], unlabeled=texts[60:400])
    info = pooled.calibration_["weighted_to_pool"]
    assert info["pool_rows"] == 340 and 0 < info["effective_rows"] <= 60
    assert set(pooled.calibration_["candidates"]) == {"none", "temperature", "sigmoid", "isotonic"}
    # too few unlabeled texts to say anything: unweighted, as without them
    few = AutoTextClassifier(mode="fast", random_state=0).fit(
        texts[:60], y[:60], unlabeled=texts[60 : 60 + estimator.MIN_POOL_SAMPLE - 1]
    )
    assert "weighted_to_pool" not in few.calibration_
    assert few.calibration_["method"] == plain.calibration_["method"]
    # multi-label tasks are not weighted
    rt, ry = reuters
    multi = AutoTextClassifier(mode="fast", random_state=0).fit(rt[:80], ry[:80], unlabeled=rt[80:300])
    assert "weighted_to_pool" not in multi.calibration_
    with pytest.raises(ValueError, match="sequence of strings"):
        AutoTextClassifier(mode="fast").fit(texts[:60], y[:60], unlabeled="one text")


def test_the_suggested_class_is_the_most_probable_not_the_f1_threshold(tweets: tuple[list[str], list[str]]) -> None:
    texts, y = tweets
    est = AutoTextClassifier(time_budget=0).fit(texts[:40], y[:40])
    assert est.decision_.thresholds is not None  # binary F1: a threshold is tuned, for the reported score
    proba = est.predict_proba(texts[200:600])
    assert list(est.predict(texts[200:600])) == list(est.classes_[proba.argmax(axis=1)])
    thresholded = est.classes_[est.decision_.predict(proba, "binary")]
    assert float(np.mean(est.predict(texts[200:600]) == np.asarray(y[200:600]))) >= float(
        np.mean(thresholded == np.asarray(y[200:600]))
    ) - 0.02  # argmax is at least as often right (a tuned F1 threshold can only trade accuracy for recall)
