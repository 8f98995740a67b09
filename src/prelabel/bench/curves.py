"""The measures `prelabel bench loop` reads off a learning curve, and the paired comparison with random.

A curve is a list of (labels, score) points, one per retrain, in label order. The retrain grid (`grid`) is the
list of label counts after which the schedule retrains; it is the same for every strategy of a benchmark run.

* `sustained_crossing`: the labels after which the curve stays at or above a target until the end of the
  horizon (the first point that touches the line does not count when a later one falls below it again).
* `normalised_area`: the mean over the grid of the score of the newest model at each count (0 before the first
  model), divided by the full-data score: 1.0 means the full-data score from the first retrain on. The grid is
  the retrain schedule, so with growing batches the early, sparse-label phase weighs more.
* `paired_ratio`: a strategy's labels ÷ random's on the same seed, a miss bounded by the horizon.
* `bootstrap_median_ci`: a percentile bootstrap interval of the median (numpy only, a fixed seed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Curve = Sequence[tuple[int, float]]

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def first_crossing(curve: Curve, target: float) -> int | None:
    """The labels of the first point at or above `target` (None: none)."""
    return next((n for n, score in curve if score >= target), None)


def sustained_crossing(curve: Curve, target: float) -> int | None:
    """The labels of the first point from which every later point is at or above `target` (None when the last
    point is below it: the curve never stays above the line within the horizon)."""
    hit: int | None = None
    for n, score in curve:
        if score < target:
            hit = None
        elif hit is None:
            hit = n
    return hit


def step_scores(curve: Curve, grid: Sequence[int]) -> list[float]:
    """At each grid count, the score of the newest point at or below it (0.0 before the first point)."""
    out: list[float] = []
    i, current = 0, 0.0
    for g in grid:
        while i < len(curve) and curve[i][0] <= g:
            current = curve[i][1]
            i += 1
        out.append(current)
    return out


def mean_step_score(curve: Curve, grid: Sequence[int]) -> float:
    """The mean over `grid` of `step_scores` (0.0 for an empty grid)."""
    scores = step_scores(curve, grid)
    return float(np.mean(scores)) if scores else 0.0


def normalised_area(curve: Curve, grid: Sequence[int], full: float) -> float:
    """`mean_step_score` ÷ the full-data score (0.0 when that is 0)."""
    return mean_step_score(curve, grid) / full if full > 0 else 0.0


def paired_ratio(labels: int | None, base: int | None, horizon: int) -> tuple[float | None, str]:
    """A strategy's labels-to-target ÷ the baseline's on the same seed, and what kind of value it is: "" exact,
    "<=" an upper bound (the baseline never stayed above the line: it would need more than `horizon` labels),
    ">=" a lower bound (the strategy never did). (None, "") when neither did: nothing to compare."""
    if labels is not None and base is not None:
        return labels / base, ""
    if labels is not None:
        return labels / horizon, "<="
    if base is not None:
        return horizon / base, ">="
    return None, ""


def bootstrap_median_ci(
    values: Sequence[float], *, n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED, level: float = 0.95
) -> tuple[float, float] | None:
    """The percentile bootstrap interval of the median of `values` (None when empty): `n_resamples` resamples
    with replacement drawn by `numpy.random.default_rng(seed)`, so the same values give the same interval."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return None
    rng = np.random.default_rng(seed)
    medians = np.median(x[rng.integers(0, x.size, size=(n_resamples, x.size))], axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(low), float(high)
