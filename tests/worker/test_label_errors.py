"""Confident learning finds planted label errors in out-of-fold probabilities."""

from __future__ import annotations

import numpy as np

from prelabel.automl.label_errors import confident_learning_issues, disagreements, multilabel_issues


def _proba(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k) * 0.5, n) * 0.3
    p[np.arange(n), y] += 0.7
    return y, p / p.sum(axis=1, keepdims=True)


def test_planted_mislabels_are_found_and_ranked_first() -> None:
    y, p = _proba(300, 3, 0)
    planted = [5, 77, 150]
    noisy = y.copy()
    for i in planted:  # items the model is sure about, carrying another class's label
        p[i] = 0.025
        p[i, y[i]] = 0.95
        noisy[i] = (y[i] + 1) % 3
    issues = confident_learning_issues(noisy, p)
    found = [x.index for x in issues]
    assert set(found[:3]) == set(planted)
    for x in issues:
        if x.index in planted:
            assert x.suggested == y[x.index] and 0 < x.score <= 1


def test_clean_labels_give_no_issue() -> None:
    y, p = _proba(200, 4, 1)
    assert confident_learning_issues(y, p) == []


def test_disagreements_respect_the_margin() -> None:
    y = np.array([0, 0, 1])
    p = np.array([[0.2, 0.8], [0.45, 0.55], [0.1, 0.9]])
    assert [x.index for x in disagreements(y, p, margin=0.5)] == [0]
    assert [x.index for x in disagreements(y, p, margin=0.05)] == [0, 1]


def test_multilabel_flags_a_missing_category() -> None:
    rng = np.random.default_rng(2)
    ind = (rng.random((200, 3)) < 0.3).astype(int)
    p = np.clip(ind * 0.85 + rng.random((200, 3)) * 0.1, 0, 1)
    wrong = ind.copy()
    wrong[9, 1] = 1 - wrong[9, 1]
    issues = multilabel_issues(wrong, p)
    assert issues and issues[0].index == 9 and issues[0].suggested == 1
