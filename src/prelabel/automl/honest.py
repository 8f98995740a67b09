"""Honest early metrics: how right the served classifier's suggestions are, measured by repeated
cross-validation of the whole fitting procedure, with a 90 % interval.

With a few dozen labels a classifier's own cross-validated score is optimistic: a search that compares
hundreds of configurations on the same folds reports the best of them (on 30 disaster tweets: 0.857, with
15 configurations tied there, while 63 % of the suggestions were right), and a decision threshold tuned on the
out-of-fold rows is scored on those rows. `repeated_cv` refits a fresh copy of the served classifier
(`sklearn.base.clone`, so the search, the ensemble, the calibration and the thresholds are all redone) on each
training fold and predicts the held-out fold, the way the served model predicts texts it has not seen:

* folds: leave-one-out under `LEAVE_ONE_OUT_BELOW` labels (one repeat: it is deterministic); otherwise
  `N_REPEATS` x `N_SPLITS`-fold, stratified for single-label targets (each repeat reshuffled, as sklearn's
  `RepeatedStratifiedKFold` does) and plain shuffled k-fold for multi-label targets;
* a time cap: a repeat is started only while less than `time_cap_s` seconds have passed (and `should_stop`
  says nothing waits); the first repeat always runs, and the result says how many ran;
* suggestions as the server shows them: the most probable category (single-label), or the categories passing
  each fold model's thresholds, plus the most probable one for a text none passes when `at_least_one`
  (a required multi-choice job);
* every figure (accuracy or micro-F1, the project metric, and the per-class precision / recall / F1 table) is
  computed from the SAME pooled out-of-fold predictions (each label predicted once per repeat), so the
  headline and the table agree: accuracy = sum of recall * support / n, binary F1 = the positive class's row,
  macro-F1 = the mean of the rows;
* the interval: a percentile bootstrap over the labeled items (not over the pooled rows: an item's
  predictions in different repeats are not independent), `N_BOOTSTRAP` resamples of the n items with
  replacement, each item bringing all its out-of-fold predictions; the 5th and 95th percentiles of the metric.
  The interval is widened to include the point estimate when a skewed bootstrap distribution leaves it outside.

`expected_agreement` is the other estimate the dashboard shows: the probability, per text, that the chosen
suggestion is right if the probabilities are calibrated.

numpy / scikit-learn only; nothing here knows about the database.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from prelabel.automl.label_counts import LEAVE_ONE_OUT_BELOW

N_SPLITS = 5
N_REPEATS = 5
TIME_CAP_S = 20.0
N_BOOTSTRAP = 2000
CONFIDENCE = 0.90
SUPPORTED_METRICS = ("accuracy", "f1", "f1_macro", "f1_micro", "f1_samples")

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass
class Figure:
    """One estimated figure: its name, the point estimate and the interval around it."""

    name: str
    value: float
    low: float
    high: float
    positive: str | None = None  # binary F1: the class it is the F1 of


@dataclass
class HonestEstimate:
    task: str  # "single" | "multi"
    method: str  # "leave-one-out" | "repeated stratified 5-fold" | "repeated 5-fold"
    n_labels: int
    n_splits: int
    n_repeats: int  # repeats that ran
    n_repeats_planned: int
    stopped: str | None  # why fewer repeats ran than planned: "time cap" | "job waiting" | None
    seconds: float
    accuracy: Figure  # accuracy (single-label) or micro-F1 (multi-label)
    metric: Figure | None  # the project metric, None when it is the one above or not supported here
    per_class: dict[str, dict[str, float | int]]
    repeat_scores: list[float] = field(default_factory=list)  # accuracy / micro-F1 of each repeat
    n_fallback_folds: int = 0  # training folds that could not be fitted (one class only): constant answer
    confidence: float = CONFIDENCE
    interval: str = "percentile bootstrap over the labeled items"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["accuracy"] = _round_figure(out["accuracy"])
        if out["metric"] is not None:
            out["metric"] = _round_figure(out["metric"])
        out["repeat_scores"] = [round(v, 6) for v in self.repeat_scores]
        out["seconds"] = round(self.seconds, 3)
        return out

    @property
    def headline(self) -> Figure:
        """The project metric when it differs from accuracy / micro-F1, else that one."""
        return self.metric or self.accuracy


def _round_figure(d: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in d.items()}


# --- folds -------------------------------------------------------------------------------------------------
def _folds(
    n: int, y_strat: IntArray | None, n_splits: int, repeat: int, random_state: int, loo: bool
) -> list[tuple[IntArray, IntArray]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    idx = np.arange(n)
    if loo:
        return [(np.delete(idx, i), np.array([i])) for i in range(n)]
    k = max(2, min(n_splits, n))
    seed = random_state + repeat
    with warnings.catch_warnings():  # a class rarer than k: sklearn warns, the folds are still usable
        warnings.simplefilter("ignore", UserWarning)
        if y_strat is not None and np.bincount(y_strat).max() >= k:
            split = StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(n), y_strat)
        else:
            split = KFold(k, shuffle=True, random_state=seed).split(np.zeros(n))
        return [(tr.astype(np.int64), va.astype(np.int64)) for tr, va in split]


# --- one fold ----------------------------------------------------------------------------------------------
def _columns(est: Any, classes: list[str]) -> list[int | None]:
    """For each global class, its column in the fitted estimator's probabilities (None: not learned)."""
    col = {str(c): i for i, c in enumerate(getattr(est, "classes_", []))}
    return [col.get(c) for c in classes]


def _fold_predictions(
    clf: Any,
    texts: list[str],
    targets: list[Any],
    train: IntArray,
    valid: IntArray,
    classes: list[str],
    multi: bool,
    at_least_one: bool,
    unlabeled: Sequence[str] | None,
    params: dict[str, Any] | None,
) -> tuple[IntArray, bool]:
    """Predictions for the held-out rows: class indices (single) or a 0/1 matrix (multi), and whether the
    fold fell back to a constant answer because its training rows could not be fitted."""
    from sklearn.base import clone

    k = len(classes)
    tr_texts = [texts[i] for i in train]
    tr_y = [targets[i] for i in train]
    va_texts = [texts[i] for i in valid]
    if multi:
        present = {c for t in tr_y for c in t}
        fallback = not present
    else:
        counts: dict[str, int] = {}
        for t in tr_y:
            counts[t] = counts.get(t, 0) + 1
        fallback = len(counts) < 2
    est = None
    if not fallback:
        est = clone(clf)
        if params:
            est.set_params(**params)
        try:
            if unlabeled is not None:
                est.fit(tr_texts, tr_y, unlabeled=unlabeled)
            else:
                est.fit(tr_texts, tr_y)
        except ValueError:  # the estimator refuses these rows (e.g. required labels missing): constant answer
            est, fallback = None, True
    if est is None:
        if multi:
            return np.zeros((len(valid), k), dtype=np.int64), fallback
        # the one answer the training rows know (the most frequent one)
        best = max(sorted(counts), key=lambda c: counts[c]) if counts else classes[0]
        return np.full(len(valid), classes.index(best), dtype=np.int64), fallback
    raw = np.asarray(est.predict_proba(va_texts), dtype=np.float64)
    proba = np.zeros((len(valid), k))
    cols = _columns(est, classes)
    for j, c in enumerate(cols):
        if c is not None:
            proba[:, j] = raw[:, c]
    if not multi:
        return proba.argmax(axis=1).astype(np.int64), False
    th = np.full(k, 0.5)
    tuned = getattr(est, "thresholds_", None)
    if tuned is not None:
        for j, c in enumerate(cols):
            if c is not None and c < len(tuned):
                th[j] = float(tuned[c])
    pred = (proba >= th[None, :]).astype(np.int64)
    if at_least_one and k:
        empty = np.flatnonzero(pred.sum(axis=1) == 0)
        pred[empty, proba[empty].argmax(axis=1)] = 1
    return pred, False


# --- scores from counts ------------------------------------------------------------------------------------
@dataclass
class _Counts:
    """Per labeled item, summed over the repeats: correct (exact) predictions, per-class TP / FP / FN, and
    the sum of the per-row sample F1 (multi-label)."""

    correct: FloatArray  # (n,)
    tp: FloatArray  # (n, k)
    fp: FloatArray  # (n, k)
    fn: FloatArray  # (n, k)
    sample_f1: FloatArray  # (n,)


def _counts(truth: IntArray, preds: list[IntArray], k: int, multi: bool) -> _Counts:
    n = truth.shape[0]
    tp, fp, fn = np.zeros((n, k)), np.zeros((n, k)), np.zeros((n, k))
    correct, sample_f1 = np.zeros(n), np.zeros(n)
    ind = truth if multi else np.eye(k, dtype=np.int64)[truth]
    for p in preds:
        pi = p if multi else np.eye(k, dtype=np.int64)[p]
        tp += (pi == 1) & (ind == 1)
        fp += (pi == 1) & (ind == 0)
        fn += (pi == 0) & (ind == 1)
        correct += (pi == ind).all(axis=1)
        if multi:
            t_row = ((pi == 1) & (ind == 1)).sum(axis=1)
            denom = pi.sum(axis=1) + ind.sum(axis=1)
            sample_f1 += np.where(denom > 0, 2 * t_row / np.maximum(denom, 1), 0.0)
    return _Counts(correct, tp, fp, fn, sample_f1)


def _ratio(a: FloatArray, b: FloatArray) -> FloatArray:
    return np.where(b > 0, a / np.where(b > 0, b, 1.0), 0.0)


def _scores(
    w: FloatArray, c: _Counts, n_repeats: int, multi: bool, names: Sequence[str], positive: int
) -> dict[str, FloatArray]:
    """The figures for item weights `w` (b, n): all ones for the point estimate, bootstrap counts otherwise."""
    rows = w.sum(axis=1) * n_repeats
    tp, fp, fn = w @ c.tp, w @ c.fp, w @ c.fn  # (b, k)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    present = (2 * tp + fp + fn) > 0  # as sklearn: classes in the truth or the predictions
    macro = _ratio((f1 * present).sum(axis=1), present.sum(axis=1).astype(np.float64))
    out: dict[str, FloatArray] = {"accuracy": _ratio(w @ c.correct, rows), "f1_macro": macro}
    if multi:
        out["f1_micro"] = _ratio(2 * tp.sum(axis=1), (2 * tp + fp + fn).sum(axis=1))
        out["f1_samples"] = _ratio(w @ c.sample_f1, rows)
    elif len(names) == 2:
        out["f1"] = f1[:, positive]
    return {k: v for k, v in out.items() if k in names}


def _per_class(c: _Counts, classes: list[str], truth: IntArray, multi: bool) -> dict[str, dict[str, float | int]]:
    tp, fp, fn = c.tp.sum(axis=0), c.fp.sum(axis=0), c.fn.sum(axis=0)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    support = truth.sum(axis=0) if multi else np.bincount(truth, minlength=len(classes))
    return {
        cls: {
            "precision": round(float(precision[j]), 4),
            "recall": round(float(recall[j]), 4),
            "f1": round(float(f1[j]), 4),
            "support": int(support[j]),
        }
        for j, cls in enumerate(classes)
    }


# --- the estimate ------------------------------------------------------------------------------------------
def repeated_cv(
    clf: Any,
    texts: Sequence[str],
    y: Sequence[Any],
    *,
    metric: str | None = None,
    classes: Sequence[str] | None = None,
    positive: str | None = None,
    unlabeled: Sequence[str] | None = None,
    at_least_one: bool = False,
    params: dict[str, Any] | None = None,
    n_splits: int = N_SPLITS,
    n_repeats: int = N_REPEATS,
    leave_one_out_below: int = LEAVE_ONE_OUT_BELOW,
    time_cap_s: float = TIME_CAP_S,
    should_stop: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
    random_state: int = 0,
    n_bootstrap: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
) -> HonestEstimate:
    """Repeated cross-validation of `clf` (fitted or not: each fold fits `clone(clf)`, with `params` set on
    it) on `texts` and targets `y` (one label per text, or a list of labels per text for multi-label).

    metric: the project metric to report beside accuracy / micro-F1 (one of `SUPPORTED_METRICS`; others are
        left out). classes: the class order of the table (default: sorted). positive: the class binary "f1"
        is the F1 of (default: the fitted `clf.classes_[1]`, else the second sorted class, as
        `AutoTextClassifier` scores it). unlabeled: passed to every fit (`AutoTextClassifier.fit`).
    at_least_one: multi-label suggestions name the most probable label when none passes its threshold.
    time_cap_s / should_stop / clock: no repeat is started after `time_cap_s` seconds of `clock`, or when
        `should_stop()` is true; the first one always runs.
    """
    texts_l = list(texts)
    targets = [list(t) if isinstance(t, list | tuple | set | frozenset) else t for t in y]
    if len(texts_l) != len(targets) or not texts_l:
        raise ValueError(f"repeated_cv needs one target per text; got {len(texts_l)} texts, {len(targets)} targets.")
    multi = any(isinstance(t, list) for t in targets)
    if multi and not all(isinstance(t, list) for t in targets):
        raise ValueError("repeated_cv: the targets must be all labels or all label lists.")
    targets = [[str(c) for c in t] if multi else str(t) for t in targets]
    names_: list[str] = [c for t in targets for c in t] if multi else [str(t) for t in targets]
    found: list[str] = sorted(set(names_))
    cls: list[str] = [str(c) for c in classes] if classes is not None else list(found)
    cls += [c for c in found if c not in cls]
    index = {c: i for i, c in enumerate(cls)}
    n, k = len(targets), len(cls)
    if multi:
        truth = np.zeros((n, k), dtype=np.int64)
        for r, t in enumerate(targets):
            truth[r, [index[c] for c in t]] = 1
    else:
        truth = np.array([index[str(t)] for t in targets], dtype=np.int64)

    primary = "f1_micro" if multi else "accuracy"
    wanted = metric if metric in SUPPORTED_METRICS and metric != primary else None
    if wanted == "f1" and (multi or k != 2):
        wanted = None
    pos_name: str | None = None
    if wanted == "f1":
        fitted = [str(c) for c in getattr(clf, "classes_", [])]
        pos_name = positive or (fitted[1] if len(fitted) == 2 else sorted(cls)[1])
    pos = index.get(pos_name, 1) if pos_name is not None else 1

    loo = n < leave_one_out_below
    planned = 1 if loo else max(1, n_repeats)
    strat = None if multi else truth
    start = clock()
    preds: list[IntArray] = []
    stopped: str | None = None
    fallbacks = 0
    for r in range(planned):
        if r > 0:
            if clock() - start >= time_cap_s:
                stopped = "time cap"
                break
            if should_stop is not None and should_stop():
                stopped = "job waiting"
                break
        pred = np.zeros((n, k), dtype=np.int64) if multi else np.zeros(n, dtype=np.int64)
        for train, valid in _folds(n, strat, n_splits, r, random_state, loo):
            p, fell_back = _fold_predictions(
                clf, texts_l, targets, train, valid, cls, multi, at_least_one, unlabeled, params
            )
            pred[valid] = p
            fallbacks += int(fell_back)
        preds.append(pred)
    seconds = clock() - start

    counts = _counts(truth, preds, k, multi)
    names = [primary] + ([wanted] if wanted else [])
    point = _scores(np.ones((1, n)), counts, len(preds), multi, names, pos)
    rng = np.random.default_rng(random_state)
    boot = _scores(
        rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap).astype(np.float64),
        counts, len(preds), multi, names, pos,
    )  # fmt: skip
    lo_q, hi_q = 100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2

    def figure(name: str) -> Figure:
        value = float(point[name][0])
        low, high = (float(v) for v in np.percentile(boot[name], [lo_q, hi_q]))
        return Figure(name, value, min(low, value), max(high, value), pos_name if name == "f1" else None)

    repeat_scores = [
        float(_scores(np.ones((1, n)), _counts(truth, [p], k, multi), 1, multi, [primary], pos)[primary][0])
        for p in preds
    ]
    if loo:
        method = "leave-one-out"
    else:
        kk = max(2, min(n_splits, n))
        method = f"repeated {kk}-fold" if multi else f"repeated stratified {kk}-fold"
    return HonestEstimate(
        task="multi" if multi else "single",
        method=method,
        n_labels=n,
        n_splits=n if loo else max(2, min(n_splits, n)),
        n_repeats=len(preds),
        n_repeats_planned=planned,
        stopped=stopped,
        seconds=seconds,
        accuracy=figure(primary),
        metric=figure(wanted) if wanted else None,
        per_class=_per_class(counts, cls, truth, multi),
        repeat_scores=repeat_scores,
        n_fallback_folds=fallbacks,
        confidence=confidence,
        interval=(
            f"{round(100 * confidence)} % percentile bootstrap over the {n} labeled items "
            f"({n_bootstrap} resamples, each item with its {len(preds)} out-of-fold prediction(s))"
        ),
    )


# --- expected accuracy of the served suggestions -----------------------------------------------------------
def expected_agreement(proba: FloatArray, chosen: NDArray[np.integer], multi: bool) -> FloatArray:
    """Per row, the expected agreement of the suggestion `chosen` (a 0/1 matrix) with the truth if the
    probabilities `proba` are calibrated: single-label, the probability of the chosen category (the
    maximum, as the server chooses it); multi-label, the mean over categories of p where chosen, else 1 - p
    (the expected share of categories decided right)."""
    p = np.asarray(proba, dtype=np.float64)
    c = np.asarray(chosen) == 1
    if p.shape[0] == 0 or p.shape[1] == 0:
        return np.zeros(p.shape[0])
    if multi:
        return np.asarray(np.where(c, p, 1.0 - p).mean(axis=1), dtype=np.float64)
    return np.asarray((p * c).sum(axis=1), dtype=np.float64)
