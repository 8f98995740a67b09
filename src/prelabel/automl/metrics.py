"""Metrics on probability matrices: scores with tuned decision thresholds, ECE, log loss.

Every function takes integer-encoded targets: ``y`` is a 1-D array of class indices for single-label tasks
and a binary indicator matrix (n_samples x n_labels) for multi-label tasks. Probabilities are
(n_samples x n_classes) for single-label tasks (rows sum to one) and (n_samples x n_labels) per-label
probabilities for multi-label tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from prelabel.automl.label_counts import MIN_POSITIVES_TO_TUNE

Task = Literal["binary", "multiclass", "multilabel"]

SINGLE_LABEL_METRICS = ("accuracy", "f1", "f1_macro", "log_loss")
MULTILABEL_METRICS = ("f1_micro", "f1_samples", "f1_macro", "accuracy", "log_loss")
ALL_METRICS = ("auto", "accuracy", "f1", "f1_macro", "f1_micro", "f1_samples", "log_loss")

_EPS = 1e-7


@dataclass(frozen=True)
class Decision:
    """How probabilities become labels: a threshold on the positive class (binary) or per label
    (multi-label); argmax otherwise. `at_least_one` (multi-label): a text no label passes the threshold of
    gets its most probable label, as a required multi-choice job's pre-annotation does."""

    thresholds: NDArray[np.float64] | None = None
    at_least_one: bool = False

    def predict(self, proba: NDArray[np.floating], task: Task) -> NDArray[np.int64]:
        if task == "multilabel":
            th = self.thresholds if self.thresholds is not None else np.full(proba.shape[1], 0.5)
            pred = (proba >= th[None, :]).astype(np.int64)
            if self.at_least_one and pred.shape[1] > 0:
                empty = np.flatnonzero(pred.sum(axis=1) == 0)
                pred[empty, np.asarray(proba)[empty].argmax(axis=1)] = 1
            return pred
        if task == "binary" and self.thresholds is not None:
            return (proba[:, 1] >= self.thresholds[0]).astype(np.int64)
        return np.asarray(proba.argmax(axis=1), dtype=np.int64)

    def to_list(self) -> list[float] | None:
        return None if self.thresholds is None else [float(t) for t in self.thresholds]


def default_metric(task: Task) -> str:
    return {"binary": "f1", "multiclass": "f1_macro", "multilabel": "f1_micro"}[task]


def resolve_metric(metric: str, task: Task) -> str:
    """Map ``"auto"`` to the task's default metric and reject metrics that do not fit the task."""
    if metric == "auto":
        return default_metric(task)
    allowed: tuple[str, ...] = MULTILABEL_METRICS if task == "multilabel" else SINGLE_LABEL_METRICS
    if task == "multiclass" and metric == "f1":
        allowed = ("accuracy", "f1_macro", "log_loss")
    if metric not in allowed:
        raise ValueError(
            f"The 'metric' parameter of AutoTextClassifier must be one of {sorted(allowed)} for a {task} "
            f"task. Got {metric!r} instead."
        )
    return metric


def _best_f1_threshold(y: NDArray[np.integer], p: NDArray[np.floating]) -> tuple[float, float]:
    """Threshold on ``p`` maximising the F1 of the positive class (y == 1); returns (f1, threshold)."""
    n_pos = int(y.sum())
    if n_pos == 0:
        return 0.0, 1.0
    order = np.argsort(-p, kind="mergesort")
    ps = p[order]
    ys = y[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(ys) + 1)
    f1 = 2.0 * tp / (k + n_pos)
    # only cut between distinct probability values
    distinct = np.r_[ps[1:] < ps[:-1], True]
    f1 = np.where(distinct, f1, -1.0)
    i = int(np.argmax(f1))
    lower = ps[i + 1] if i + 1 < len(ps) else 0.0
    threshold = float((ps[i] + lower) / 2.0) if i + 1 < len(ps) else float(ps[i])
    return float(f1[i]), min(max(threshold, 1e-6), 1.0)


def _label_thresholds(y: NDArray[np.integer], proba: NDArray[np.floating], micro: bool) -> NDArray[np.float64]:
    """Per-label thresholds: each label's best F1 (exact for macro-F1); for micro-F1 a few rounds of
    coordinate ascent on the pooled counts follow. Labels with fewer than MIN_POSITIVES_TO_TUNE positives keep
    0.5: a threshold tuned on one or two positives is noise."""
    n, n_labels = y.shape
    ths = np.full(n_labels, 0.5)
    tunable = [j for j in range(n_labels) if y[:, j].sum() >= MIN_POSITIVES_TO_TUNE]
    for j in tunable:
        ths[j] = _best_f1_threshold(y[:, j], proba[:, j])[1]
    if not micro or not tunable:
        return ths
    pred = proba >= ths[None, :]
    tp_j = (pred & (y == 1)).sum(axis=0).astype(np.float64)
    fp_j = (pred & (y == 0)).sum(axis=0).astype(np.float64)
    pos_j = y.sum(axis=0).astype(np.float64)
    for _ in range(2):
        for j in tunable:
            tp_rest = tp_j.sum() - tp_j[j]
            fp_rest = fp_j.sum() - fp_j[j]
            pos_all = pos_j.sum()
            order = np.argsort(-proba[:, j], kind="mergesort")
            ps, ys = proba[order, j], y[order, j]
            tp = np.r_[0.0, np.cumsum(ys)]
            fp = np.r_[0.0, np.cumsum(1 - ys)]
            f1 = 2 * (tp_rest + tp) / (2 * (tp_rest + tp) + (fp_rest + fp) + (pos_all - tp_rest - tp))
            distinct = np.r_[True, ps[1:] < ps[:-1], True]  # a cut after k rows needs ps[k-1] > ps[k]
            f1 = np.where(distinct, f1, -1.0)
            k = int(np.argmax(f1))
            if k == 0:
                ths[j] = min(1.0, float(ps[0]) + 1e-6)
            elif k == n:
                ths[j] = max(1e-6, float(ps[-1]))
            else:
                ths[j] = float((ps[k - 1] + ps[k]) / 2)
            tp_j[j], fp_j[j] = tp[k], fp[k]
    return ths


def fit_decision(
    y: NDArray[np.integer], proba: NDArray[np.floating], task: Task, metric: str, at_least_one: bool = False
) -> Decision:
    """Tune decision thresholds on (out-of-fold) probabilities when the metric rewards it (F1 metrics).

    `at_least_one` (multi-label): every text has a label, so a text no label passes gets its most probable
    one, and the thresholds stay at 0.5. The fallback buys the recall that lower tuned thresholds buy
    otherwise, and thresholds tuned on out-of-fold probabilities did not carry over to the refitted model:
    on random samples of Reuters (seeds 0-2, 60-700 labels) and GoEmotions (seeds 0-1, 200-2,000 labels),
    0.5 with the fallback beat thresholds tuned for the fallback (exactly, by coordinate ascent on the
    out-of-fold micro-F1) in 19 of 21 cases and the tuned thresholds without it in 20 of 21 (docs/automl.md)."""
    if task == "multilabel" and at_least_one:
        return Decision(np.full(y.shape[1], 0.5), True)
    if task == "binary" and metric == "f1":
        _, th = _best_f1_threshold(y, proba[:, 1])
        return Decision(np.array([th]))
    if task == "multilabel":
        if metric.startswith("f1"):
            return Decision(_label_thresholds(y, proba, micro=metric in ("f1_micro", "f1_samples")))
        return Decision(np.full(y.shape[1], 0.5))
    return Decision(None)


def log_loss(
    y: NDArray[np.integer],
    proba: NDArray[np.floating],
    task: Task,
    sample_weight: NDArray[np.floating] | None = None,
) -> float:
    """Mean log loss (multi-label: over every (row, label)); `sample_weight`: per-row weights."""
    p = np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1 - _EPS)
    if task == "multilabel":
        rows = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1)
    else:
        p = p / p.sum(axis=1, keepdims=True)
        rows = -np.log(p[np.arange(len(y)), y])
    return float(np.average(rows, weights=sample_weight))


def label_scores(
    y: NDArray[np.integer], pred: NDArray[np.integer], task: Task
) -> dict[str, float]:
    """Accuracy and F1 variants of hard predictions."""
    from sklearn.metrics import accuracy_score, f1_score

    out: dict[str, float] = {"accuracy": float(accuracy_score(y, pred))}
    if task == "binary":
        out["f1"] = float(f1_score(y, pred, pos_label=1, zero_division=0))
        out["f1_macro"] = float(f1_score(y, pred, average="macro", zero_division=0))
    elif task == "multiclass":
        out["f1_macro"] = float(f1_score(y, pred, average="macro", zero_division=0))
    else:
        out["f1_micro"] = float(f1_score(y, pred, average="micro", zero_division=0))
        out["f1_macro"] = float(f1_score(y, pred, average="macro", zero_division=0))
        out["f1_samples"] = float(f1_score(y, pred, average="samples", zero_division=0))
    return out


def score(
    y: NDArray[np.integer],
    proba: NDArray[np.floating],
    task: Task,
    metric: str,
    decision: Decision | None = None,
) -> float:
    """Score where greater is better (log loss is negated). Thresholds are tuned on the same data if
    ``decision`` is None, which is how out-of-fold probabilities of candidates are compared."""
    if metric == "log_loss":
        return -log_loss(y, proba, task)
    if decision is None:
        if task == "binary" and metric == "f1":
            return _best_f1_threshold(y, proba[:, 1])[0]
        decision = fit_decision(y, proba, task, metric)
    pred = decision.predict(proba, task)
    return label_scores(y, pred, task)[metric]


def expected_calibration_error(
    y: NDArray[np.integer], proba: NDArray[np.floating], task: Task, n_bins: int = 15
) -> float:
    """ECE with equal-width bins: top-label confidence for single-label tasks; every (sample, label)
    probability for multi-label tasks."""
    if task == "multilabel":
        conf = np.asarray(proba, dtype=np.float64).ravel()
        correct = np.asarray(y, dtype=np.float64).ravel()
    else:
        proba = np.asarray(proba, dtype=np.float64)
        conf = proba.max(axis=1)
        correct = (proba.argmax(axis=1) == y).astype(np.float64)
    if len(conf) == 0:
        return 0.0
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            total += abs(conf[mask].mean() - correct[mask].mean()) * mask.sum()
    return float(total / len(conf))


def report(
    y: NDArray[np.integer], proba: NDArray[np.floating], task: Task, decision: Decision
) -> dict[str, float]:
    """All test-time numbers the benchmark prints."""
    pred = decision.predict(proba, task)
    out = label_scores(y, pred, task)
    out["ece"] = expected_calibration_error(y, proba, task)
    out["log_loss"] = log_loss(y, proba, task)
    return out
