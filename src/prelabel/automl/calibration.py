"""Post-hoc calibration of the ensemble's probabilities, chosen on out-of-fold data.

Candidates: ``none``, ``sigmoid`` (Platt scaling on the logit for binary and per label for multi-label;
temperature scaling for multi-class, its one-parameter multi-class analogue), ``isotonic`` (per class /
label, renormalised for multi-class) and ``temperature`` (one parameter for the whole task, shared by every
label of a multi-label task; it never changes which class is most probable nor the order of the rows, so it
is safe with a few dozen labels, where the estimator offers it instead of the others). Each candidate is
cross-fitted on the out-of-fold probabilities (fit on k-1 folds, apply to the held-out fold) so that its error
is measured on rows it has not seen; the one with the lowest log loss wins, so a calibrator is only used when
it actually lowers the error. A model on fewer than 20 labels gets `leave_one_out_temperature` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import KFold, StratifiedKFold

from prelabel.automl.metrics import Decision, Task, expected_calibration_error, label_scores, log_loss

METHODS = ("none", "sigmoid", "isotonic")
# a single-label calibrator may cost at most this much macro-F1 of the most-probable-class predictions out of fold
MAX_DECISION_LOSS = 0.02
ALL_METHODS = (*METHODS, "temperature")
_CLIP = 1e-4


def platt(
    z: NDArray[np.floating], t: NDArray[np.integer], l2: float = 1e-4, weight: NDArray[np.floating] | None = None
) -> tuple[float, float]:
    """Parameters (a, b) of p = sigmoid(a z + b) by Newton's method on the log loss (tiny L2 on a), with
    Platt's (1999) smoothed targets (N+ + 1)/(N+ + 2) and 1/(N- + 2), so that separable scores (e.g. the
    vote counts of a multi-class SVM) give a finite slope instead of diverging. `weight`: per-row weights of
    the loss (mean 1; None: all 1)."""
    z = np.asarray(z, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    sw = np.ones(len(z)) if weight is None else np.asarray(weight, dtype=np.float64)
    n_pos = float(t.sum())
    n_neg = float(len(t) - n_pos)
    t = np.where(t > 0.5, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(a: float, b: float) -> float:  # log loss (stable form) + the L2 term
        m = a * z + b
        return float(np.sum(sw * (np.logaddexp(0.0, m) - t * m)) + 0.5 * l2 * a * a)

    # Newton's method with a backtracking line search (Lin, Lin & Weng 2007): plain Newton steps diverge
    # when the start saturates the sigmoid (e.g. large positive decision values)
    a, b = 0.0, float(np.log((n_neg + 1.0) / (n_pos + 1.0)))
    current = loss(a, b)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(a * z + b, -50, 50)))
        w = sw * np.maximum(p * (1 - p), 1e-12)
        r = sw * (p - t)
        g = np.array([r @ z + l2 * a, r.sum()])
        h = np.array([[w @ (z * z) + l2, w @ z], [w @ z, w.sum() + 1e-12]])
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            break
        size = 1.0
        while size > 1e-10:
            na, nb = a - size * step[0], b - size * step[1]
            new = loss(na, nb)
            if new < current + 1e-4 * size * float(g @ -step):
                break
            size /= 2.0
        else:
            break
        a, b, current = na, nb, new
        if np.abs(size * step).max() < 1e-8:
            break
    return float(a), float(b)


def _logit(p: NDArray[np.floating]) -> NDArray[np.float64]:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.asarray(np.log(p / (1 - p)))


def _as_distributions(p: NDArray[np.floating], task: Task) -> NDArray[np.float64]:
    """Rows of class probabilities; a multi-label task's (row, label) probabilities become two-class rows."""
    arr = np.asarray(p, dtype=np.float64)
    if task == "multilabel":
        q = arr.ravel()
        return np.column_stack([1.0 - q, q])
    return arr


def _fit_temperature(
    y: NDArray[np.integer],
    dist: NDArray[np.float64],
    prior_sd: float | None = None,
    max_t: float = np.e**3,
    weight: NDArray[np.floating] | None = None,
) -> float:
    """The temperature of lowest log loss in [e^-3, `max_t`]; with `prior_sd`, the most probable one under a
    normal prior on log T (mean 0, that standard deviation), so that a handful of rows move it less far.
    `weight`: per-row weights of the loss (None: all 1)."""
    logp = np.log(np.clip(dist, 1e-9, 1.0))
    rows = np.arange(len(y))
    sw = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64)

    def nll(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        if prior_sd is None:
            return float((sw * (lse - z[rows, y])).sum() / sw.sum())
        return float((sw * (lse - z[rows, y])).sum() + log_t * log_t / (2.0 * prior_sd * prior_sd))

    res = minimize_scalar(nll, bounds=(-3.0, min(3.0, float(np.log(max_t)))), method="bounded")
    return float(np.exp(res.x))


def _apply_temperature(dist: NDArray[np.float64], t: float) -> NDArray[np.float64]:
    z = np.log(np.clip(dist, 1e-9, 1.0)) / t
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(z / z.sum(axis=1, keepdims=True))


def undo_temperature(p: NDArray[np.floating], t: float) -> NDArray[np.float64]:
    """Rows of class probabilities before a temperature `t` was applied (zero columns stay zero)."""
    arr = np.asarray(p, dtype=np.float64)
    z = np.where(arr > 0, t * np.log(np.clip(arr, 1e-300, 1.0)), -np.inf)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(z / z.sum(axis=1, keepdims=True), dtype=np.float64)


@dataclass
class Calibrator:
    method: str
    task: Task
    params: list[Any] = field(default_factory=list)
    max_t: float = float(np.e**3)  # the largest temperature `fit` may choose (1: it only sharpens)

    def fit(
        self, y: NDArray[np.integer], p: NDArray[np.floating], sample_weight: NDArray[np.floating] | None = None
    ) -> Calibrator:
        """Fit on rows `p` with labels `y`; `sample_weight`: per-row weights (None: all 1)."""
        self.params = []
        if self.method == "none":
            return self
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if self.method == "temperature" or (self.task == "multiclass" and self.method == "sigmoid"):
            t = np.asarray(y).ravel().astype(np.int64) if self.task == "multilabel" else np.asarray(y)
            if w is not None and self.task == "multilabel":  # a row's weight for each of its labels
                w = np.repeat(w, np.asarray(p).shape[1])
            self.params = [_fit_temperature(t, _as_distributions(p, self.task), max_t=self.max_t, weight=w)]
            return self
        for j, col, t in self._columns(y, p):
            if t.min() == t.max():
                self.params.append(None)
                continue
            if self.method == "sigmoid":
                self.params.append(platt(_logit(col), t, weight=w))
            else:
                iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(col, t, sample_weight=w)
                self.params.append(iso)
            del j
        return self

    def _columns(
        self, y: NDArray[np.integer], p: NDArray[np.floating]
    ) -> list[tuple[int, NDArray[np.floating], NDArray[np.integer]]]:
        if self.task == "binary":
            return [(1, p[:, 1], (y == 1).astype(int))]
        if self.task == "multilabel":
            return [(j, p[:, j], y[:, j]) for j in range(p.shape[1])]
        return [(j, p[:, j], (y == j).astype(int)) for j in range(p.shape[1])]

    def transform(self, p: NDArray[np.floating]) -> NDArray[np.float64]:
        p = np.asarray(p, dtype=np.float64)
        if self.method == "none":
            return np.asarray(p, dtype=np.float64)
        if self.method == "temperature" or (self.task == "multiclass" and self.method == "sigmoid"):
            scaled = _apply_temperature(_as_distributions(p, self.task), self.params[0])
            return scaled[:, 1].reshape(p.shape) if self.task == "multilabel" else scaled
        cols = [1] if self.task == "binary" else list(range(p.shape[1]))
        out = p.copy()
        for j, prm in zip(cols, self.params, strict=True):
            if prm is None:
                continue
            if self.method == "sigmoid":
                a, b = prm
                out[:, j] = 1.0 / (1.0 + np.exp(-np.clip(a * _logit(p[:, j]) + b, -50, 50)))
            else:
                out[:, j] = prm.predict(p[:, j])
        out = np.clip(out, _CLIP, 1 - _CLIP)
        if self.task == "binary":
            out[:, 0] = 1.0 - out[:, 1]
        elif self.task == "multiclass":
            out = out / out.sum(axis=1, keepdims=True)
        return out


# the prior on log T of a temperature fitted on a first model's leave-one-out probabilities (see below)
FEW_LABELS_PRIOR_SD = 2.0


def leave_one_out_temperature(
    y: NDArray[np.integer], loo: NDArray[np.floating], task: Task, prior_sd: float = FEW_LABELS_PRIOR_SD
) -> tuple[Calibrator, NDArray[np.float64], dict[str, Any]]:
    """A temperature for a single-label model on fewer than 20 labels, from its leave-one-out probabilities
    `loo` (each row predicted by the model fitted on all the other rows).

    Such a model is far too timid (BBC news, 10 labels: mean confidence 0.36 on held-out articles it gets right
    85 % of the time), and k-fold probabilities cannot show it: two folds of ten labels over five classes leave
    one label per class to learn from, far weaker than the model itself, so a temperature fitted there
    flattens further. Leave-one-out rows come from models of nearly the model's own strength. Rows of a class
    with a single label are left out (their class was absent from the model that predicted them). Even so,
    each of those models knows one label less than the model, which matters when a class has two or three, so
    they can show that the model is too timid but not that it is too sure: the temperature only sharpens
    (T ≤ 1), and it is the most probable one under a normal prior on log T (sd `prior_sd`), so that ten rows
    move it less far than many would. Chosen on 59 first models of BBC news, SMS spam and the disaster tweets
    (docs/loop.md, "Honest confidence").

    Returns the calibrator (fitted on every usable row), the calibrated `loo` rows, each with a temperature
    fitted without that row (so the ECE reported is measured on rows the temperature has not seen), and a
    report in the shape of `choose_calibration`'s."""
    rows_in: NDArray[np.float64] = np.asarray(loo, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    dist = _as_distributions(rows_in, task)
    usable = np.bincount(y, minlength=dist.shape[1])[y] >= 2
    t_all = _fit_temperature(y[usable], dist[usable], prior_sd, max_t=1.0) if usable.sum() >= 2 else 1.0
    # too few usable rows, or they do not say that the model is too timid: nothing to do
    calibrator = Calibrator("temperature", task, [t_all]) if t_all < 1.0 - 1e-3 else Calibrator("none", task)
    crossed = rows_in.copy()
    if calibrator.method != "none":
        rows = np.flatnonzero(usable)
        for i in rows:
            others = rows[rows != i]
            t = _fit_temperature(y[others], dist[others], prior_sd, max_t=1.0)
            crossed[i] = _apply_temperature(dist[i : i + 1], t)[0]
    report = {
        "method": calibrator.method,
        "fitted_on": "leave-one-out",
        "rows": int(usable.sum()),
        "ece_before": expected_calibration_error(y, rows_in, task),
        "ece_after": expected_calibration_error(y, crossed, task),
        "log_loss_before": log_loss(y, rows_in, task),
        "log_loss_after": log_loss(y, crossed, task),
        "candidates": {},
        "rejected": [],
    }
    return calibrator, crossed, report


def _splits(
    y: NDArray[np.integer], oof: NDArray[np.floating], task: Task, n_splits: int, random_state: int | None
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """The folds a calibrator is cross-fitted on: stratified when every class has `n_splits` rows."""
    if task == "multilabel" or np.bincount(y).min() < n_splits:
        return list(KFold(min(n_splits, max(2, len(oof))), shuffle=True, random_state=random_state).split(oof))
    return list(StratifiedKFold(n_splits, shuffle=True, random_state=random_state).split(oof, y))


def choose_calibration(
    y: NDArray[np.integer],
    oof: NDArray[np.floating],
    task: Task,
    methods: tuple[str, ...] = METHODS,
    random_state: int | None = 0,
    n_splits: int = 5,
    sample_weight: NDArray[np.floating] | None = None,
    max_temperature: float = float(np.e**3),
) -> tuple[Calibrator, NDArray[np.float64], dict[str, Any]]:
    """Pick the calibration with the lowest cross-fitted log loss. Returns the calibrator fitted on all
    out-of-fold rows, the cross-fitted calibrated out-of-fold probabilities and a report.

    `sample_weight` (e.g. `pool_weights`) weights the rows in every fit and in the log loss that chooses, so
    that the choice is made for the texts the model will predict rather than for the labeled ones.
    `max_temperature` 1 lets the temperature candidate only sharpen (see `AutoTextClassifier`)."""
    oof = np.asarray(oof, dtype=np.float64)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    splits = _splits(y, oof, task, n_splits, random_state)
    candidates: dict[str, NDArray[np.float64]] = {"none": np.asarray(oof, dtype=np.float64)}
    for method in methods:
        if method == "none":
            continue
        crossed = np.zeros_like(oof)
        for tr, va in splits:
            cal = Calibrator(method, task, max_t=max_temperature).fit(y[tr], oof[tr], None if w is None else w[tr])
            crossed[va] = cal.transform(oof[va])
        candidates[method] = crossed
    losses = {m: log_loss(y, p, task, w) for m, p in candidates.items()}
    eces = {m: expected_calibration_error(y, p, task) for m, p in candidates.items()}
    allowed = [m for m in candidates if m == "none" or m in methods]
    rejected: list[str] = []
    if task != "multilabel" and "none" in methods and set(methods) - {"none", "temperature"}:
        # Platt and isotonic may move the most probable class. Labels chosen by active learning are the hard
        # cases, on which out-of-fold probabilities look barely better than chance; a sigmoid fitted there
        # flattens every probability to the label prior and the model predicts the majority class for every
        # asset (disaster tweets, 80 labels: F1 0.68 → 0.00 on held-out data). Such a candidate is not used.
        def f1(p: NDArray[np.float64]) -> float:
            return label_scores(y, Decision().predict(p, task), task)["f1_macro"]

        floor = f1(candidates["none"]) - MAX_DECISION_LOSS
        rejected = [m for m in allowed if m not in ("none", "temperature") and f1(candidates[m]) < floor]
        allowed = [m for m in allowed if m not in rejected] or ["none"]
    best = min(allowed, key=lambda m: (losses[m], m != "none"))
    if "none" not in methods and best == "none" and len(allowed) > 1:
        best = min((m for m in allowed if m != "none"), key=lambda m: losses[m])
    calibrator = Calibrator(best, task, max_t=max_temperature).fit(y, oof, w)
    report = {
        "method": best,
        "ece_before": eces["none"],
        "ece_after": eces[best],
        "log_loss_before": losses["none"],
        "log_loss_after": losses[best],
        "candidates": {m: {"ece": eces[m], "log_loss": losses[m]} for m in candidates},
        "rejected": rejected,  # candidates that would have changed too many predictions
    }
    return calibrator, candidates[best], report


# `pool_weights`: quantile bins of the pool's confidence, and the largest weight a labeled row may get
POOL_BINS = 5
MAX_POOL_WEIGHT = 5.0


def pool_weights(
    oof: NDArray[np.floating], pool: NDArray[np.floating], n_bins: int = POOL_BINS, max_weight: float = MAX_POOL_WEIGHT
) -> NDArray[np.float64]:
    """Weights for the labeled rows of a single-label task so that their out-of-fold top-class confidence
    `oof` is spread like the model's confidence on the unlabeled `pool` rows (both uncalibrated).

    Active learning labels the texts the model is least sure of, so the out-of-fold rows are mostly hard
    cases and a calibrator chosen on them is chosen for hard cases: on SMS spam the mix's models on 30-75
    labels kept their timid probabilities ("none" had the lower out-of-fold log loss) and showed a held-out
    ECE of 0.22-0.25 where a temperature gave 0.03-0.08 (docs/loop.md, "Honest confidence"). Which texts
    get labeled depends on how sure the model is of them, so within a confidence level the labeled rows are
    as good a sample as any and only the mix of levels is off: each row gets the pool's share of its
    confidence bin (`n_bins` quantile bins of the pool) over the labeled rows' share, at most `max_weight`
    (a handful of easy labeled rows would otherwise carry the whole fit); mean 1. Bins without a labeled
    row cannot be represented; random sampling gets weights near 1."""
    c_oof = np.asarray(oof, dtype=np.float64).max(axis=1)
    c_pool = np.asarray(pool, dtype=np.float64).max(axis=1)
    n = len(c_oof)
    if n == 0 or len(c_pool) == 0:
        return np.ones(n)
    edges = np.unique(np.quantile(c_pool, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))
    b_oof = np.searchsorted(edges, c_oof, side="right")
    b_pool = np.searchsorted(edges, c_pool, side="right")
    k = len(edges) + 1
    share_pool = np.bincount(b_pool, minlength=k) / len(c_pool)
    share_oof = np.bincount(b_oof, minlength=k) / n
    w = share_pool[b_oof] / share_oof[b_oof]
    w = np.minimum(w / w.mean(), max_weight)
    return np.asarray(w / w.mean(), dtype=np.float64)


def sharpen_for_pool(
    y: NDArray[np.integer],
    oof: NDArray[np.floating],
    task: Task,
    weight: NDArray[np.floating],
    max_t: float,
    random_state: int | None = 0,
    n_splits: int = 5,
) -> tuple[float, NDArray[np.float64], float]:
    """A temperature for a single-label task's out-of-fold rows weighted to the pool (`pool_weights`), at most
    `max_t` (the temperature already chosen without weights, 1 for none): the labels active learning chose
    over-represent the hard cases, so the pool can call for a sharper temperature, never for a flatter one.
    Returns the temperature fitted on every row, the rows cross-fitted with temperatures fitted without them
    (same folds as `choose_calibration`), and their weighted log loss."""
    oof = np.asarray(oof, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    dist = _as_distributions(oof, task)
    crossed = np.zeros_like(oof)
    for tr, va in _splits(y, oof, task, n_splits, random_state):
        t = _fit_temperature(y[tr], dist[tr], max_t=max_t, weight=w[tr])
        crossed[va] = _apply_temperature(dist[va], t)
    return _fit_temperature(y, dist, max_t=max_t, weight=w), crossed, log_loss(y, crossed, task, w)
