"""Multi-label: per-label probabilities and thresholds tuned out of fold."""

from __future__ import annotations

import numpy as np

from prelabel.automl import AutoTextClassifier


def test_multilabel_fit_predict(reuters: tuple[list[str], list[list[str]]]) -> None:
    texts, labels = reuters
    est = AutoTextClassifier(time_budget=60, max_trials=3, feature_sets=["word"]).fit(texts, labels)
    assert est.task_ == "multilabel"
    assert est.metric_ == "f1_micro"
    n_labels = len({lab for ls in labels for lab in ls})
    assert list(est.classes_) == sorted({lab for ls in labels for lab in ls})
    proba = est.predict_proba(texts[:40])
    assert proba.shape == (40, n_labels)
    assert ((proba >= 0) & (proba <= 1)).all()
    pred = est.predict(texts[:40])
    assert pred.shape == (40, n_labels)
    assert set(np.unique(pred)) <= {0, 1}
    assert est.thresholds_ is not None and len(est.thresholds_) == n_labels
    sets = est.predict_label_sets(texts[:40])
    assert sets[0] == [c for c, on in zip(est.classes_, pred[0], strict=True) if on]
    assert est.oof_proba_.shape == (len(texts), n_labels)
    assert est.score(texts, labels) > 0.6  # micro-F1 on training texts
    # members are selected on log loss (cheap and proper), the thresholds tuned on the blend afterwards
    assert est.search_info_["ensemble_selection"]["metric"] == "log_loss"
    refits = est.search_info_["refit_seconds"]
    assert [r["member"] for r in refits] and len(refits) == len(est.ensemble_)


def test_multilabel_fast_mode(reuters: tuple[list[str], list[list[str]]]) -> None:
    texts, labels = reuters
    est = AutoTextClassifier(time_budget=0).fit(texts[:100], labels[:100])
    assert est.mode_ == "fast"
    assert est.predict(texts[:5]).shape[0] == 5


def test_indicator_matrix_targets(reuters: tuple[list[str], list[list[str]]]) -> None:
    texts, labels = reuters
    classes = sorted({lab for ls in labels for lab in ls})
    ind = np.array([[int(c in ls) for c in classes] for ls in labels])
    est = AutoTextClassifier(time_budget=0).fit(texts, ind)
    assert list(est.classes_) == list(range(len(classes)))


def test_at_least_one_label_per_text(reuters: tuple[list[str], list[list[str]]]) -> None:
    import pytest

    texts, labels = reuters
    est = AutoTextClassifier(time_budget=0, at_least_one=True).fit(texts[:150], labels[:150])
    assert est.decision_.at_least_one
    pred = est.predict(texts[150:250])
    assert (pred.sum(axis=1) >= 1).all()
    assert all(sets for sets in est.predict_label_sets(texts[150:250]))
    with pytest.raises(ValueError, match=r"at least one label per text\. Got 1 text\(s\) without a label at index 3"):
        AutoTextClassifier(time_budget=0, at_least_one=True).fit(texts[:40], [*labels[:3], [], *labels[4:40]])
    # single-label tasks ignore it
    single = AutoTextClassifier(time_budget=0, at_least_one=True).fit(texts[:40], [ls[0] for ls in labels[:40]])
    assert not single.decision_.at_least_one
