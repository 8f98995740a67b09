"""scikit-learn estimator contract and input validation."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from prelabel.automl import AutoTextClassifier


def test_sklearn_parameter_checks() -> None:
    est = AutoTextClassifier()
    check_parameters_default_constructible("AutoTextClassifier", est)
    check_no_attributes_set_in_init("AutoTextClassifier", est)
    check_get_params_invariance("AutoTextClassifier", est)
    check_set_params("AutoTextClassifier", est)


def test_clone_keeps_parameters_and_drops_fit_state(tweets: tuple[list[str], list[str]]) -> None:
    texts, y = tweets
    est = AutoTextClassifier(time_budget=0, random_state=3, feature_sets=["word"], max_trials=4)
    est.fit(texts[:60], y[:60])
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "classes_")
    assert hasattr(est, "classes_")


def test_fit_returns_self(tweets: tuple[list[str], list[str]]) -> None:
    texts, y = tweets
    est = AutoTextClassifier(time_budget=0)
    assert est.fit(texts[:40], y[:40]) is est


def test_unfitted_predict_raises() -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        AutoTextClassifier().predict(["a text"])


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"time_budget": -1}, "The 'time_budget' parameter of AutoTextClassifier must be"),
        ({"metric": "auc"}, "The 'metric' parameter of AutoTextClassifier must be"),
        ({"mode": "turbo"}, "The 'mode' parameter of AutoTextClassifier must be"),
        ({"max_trials": 0}, "The 'max_trials' parameter of AutoTextClassifier must be"),
        ({"feature_sets": ["bert"]}, "The 'feature_sets' parameter of AutoTextClassifier must be"),
        ({"models": ["xgboost"]}, "The 'models' parameter of AutoTextClassifier must be"),
    ],
)
def test_invalid_parameters(
    params: dict[str, object], pattern: str, tweets: tuple[list[str], list[str]]
) -> None:
    texts, y = tweets
    with pytest.raises(ValueError, match=re.escape(pattern)):
        AutoTextClassifier(**params).fit(texts[:40], y[:40])  # type: ignore[arg-type]


def test_one_class_only() -> None:
    with pytest.raises(ValueError, match=r"must contain at least 2 classes\. Got 1 class \('spam'\) instead"):
        AutoTextClassifier(time_budget=0).fit(["buy now", "cheap pills", "win money"], ["spam"] * 3)


def test_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match=r"must have one entry per text \(3\)\. Got 2 instead"):
        AutoTextClassifier(time_budget=0).fit(["a b", "c d", "e f"], ["x", "y"])


def test_empty_texts() -> None:
    with pytest.raises(
        ValueError, match=r"must contain non-empty strings\. Got 2 empty text\(s\) at index 1, 3"
    ):
        AutoTextClassifier(time_budget=0).fit(["good", "", "bad", "   "], ["p", "n", "n", "p"])
    with pytest.raises(ValueError, match="must be a non-empty sequence of strings"):
        AutoTextClassifier(time_budget=0).fit([], [])
    with pytest.raises(ValueError, match=r"must be a sequence of strings\. Got int at index 1"):
        AutoTextClassifier(time_budget=0).fit(["a", 3], ["x", "y"])  # type: ignore[list-item]


def test_mixed_label_shapes() -> None:
    with pytest.raises(ValueError, match="all labels or all label lists"):
        AutoTextClassifier(time_budget=0).fit(["a b", "c d"], ["x", ["y"]])


def test_metric_must_fit_task(tweets: tuple[list[str], list[str]]) -> None:
    texts, y = tweets
    with pytest.raises(ValueError, match="The 'metric' parameter of AutoTextClassifier must be one of"):
        AutoTextClassifier(time_budget=0, metric="f1_micro").fit(texts[:40], y[:40])


def test_classes_and_proba_columns_ordered(bbc: tuple[list[str], list[str]]) -> None:
    texts, y = bbc
    est = AutoTextClassifier(time_budget=0).fit(texts, y)
    assert list(est.classes_) == sorted(set(y))
    proba = est.predict_proba(texts[:20])
    assert proba.shape == (20, 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    # the argmax column names the predicted class (the decision for multi-class is argmax)
    assert list(est.predict(texts[:20])) == list(est.classes_[proba.argmax(axis=1)])
    # training texts are mostly recognised: the columns are not shuffled
    assert (est.predict(texts) == np.asarray(y)).mean() > 0.9
