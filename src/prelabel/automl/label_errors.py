"""Label-error detection by confident learning (Northcutt, Jiang & Chuang 2021), from out-of-fold
probabilities.

For each class j the threshold t_j is the mean out-of-fold probability of j over the examples labeled j. An
example is *confidently* of class j when p_j ≥ t_j; among such classes the most probable counts. An example
whose confident class differs from its given label is a likely label error, ranked by the margin
``p[confident] - p[given]``. This is cleanlab's ``find_label_issues(filter_by="confident_learning")`` in a few
lines of numpy (cleanlab itself would pull pandas and more for this). Multi-label tasks: each category is an
independent binary problem (label present / absent) and an example's score is its largest per-category margin.

`disagreements` lists the weaker signal: the out-of-fold argmax differs from the label by at least a margin.
Only numpy is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class LabelIssue:
    index: int  # row of the inputs
    score: float  # margin p[suggested] - p[given], in (0, 1]
    suggested: (
        int  # class index (single-label) or category index whose presence is contradicted (multi-label)
    )


def _check(
    labels: NDArray[np.integer], proba: NDArray[np.floating]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or y.shape[0] != p.shape[0]:
        raise ValueError(f"labels ({y.shape}) and proba ({p.shape}) must describe the same rows.")
    return y, p


def confident_learning_issues(labels: NDArray[np.integer], proba: NDArray[np.floating]) -> list[LabelIssue]:
    """Single-label: `labels` (n,) class indices, `proba` (n, k) out-of-fold probabilities → issues, worst
    first."""
    y, p = _check(labels, proba)
    if y.ndim != 1:
        raise ValueError("confident_learning_issues expects one class index per row; use multilabel_issues.")
    n, k = p.shape
    if n == 0:
        return []
    thresholds = np.full(k, np.inf)
    for j in range(k):
        members = y == j
        if members.any():
            thresholds[j] = p[members, j].mean()
    confident = p >= thresholds[None, :]
    masked = np.where(confident, p, -1.0)
    best = masked.argmax(axis=1)
    has = confident.any(axis=1)
    given_p = p[np.arange(n), y]
    issues = [
        LabelIssue(int(i), float(p[i, best[i]] - given_p[i]), int(best[i]))
        for i in np.flatnonzero(has & (best != y))
        if p[i, best[i]] > given_p[i]
    ]
    issues.sort(key=lambda x: (-x.score, x.index))
    return issues


def multilabel_issues(indicator: NDArray[np.integer], proba: NDArray[np.floating]) -> list[LabelIssue]:
    """Multi-label: `indicator` (n, k) 0/1, `proba` (n, k) per-category probabilities → issues, worst
    first."""
    ind, p = _check(indicator, proba)
    if ind.shape != p.shape:
        raise ValueError(f"indicator {ind.shape} and proba {p.shape} must have the same shape.")
    worst: dict[int, LabelIssue] = {}
    for j in range(p.shape[1]):
        two = np.stack([1.0 - p[:, j], p[:, j]], axis=1)
        for issue in confident_learning_issues(ind[:, j], two):
            cur = worst.get(issue.index)
            if cur is None or issue.score > cur.score:
                worst[issue.index] = LabelIssue(issue.index, issue.score, j)
    return sorted(worst.values(), key=lambda x: (-x.score, x.index))


def disagreements(
    labels: NDArray[np.integer], proba: NDArray[np.floating], *, margin: float
) -> list[LabelIssue]:
    """Single-label rows whose out-of-fold argmax is another class, by at least `margin`."""
    y, p = _check(labels, proba)
    n = p.shape[0]
    if n == 0:
        return []
    top = p.argmax(axis=1)
    gap = p[np.arange(n), top] - p[np.arange(n), y]
    rows = np.flatnonzero((top != y) & (gap >= margin))
    out = [LabelIssue(int(i), float(gap[i]), int(top[i])) for i in rows]
    out.sort(key=lambda x: (-x.score, x.index))
    return out
