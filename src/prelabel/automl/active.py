"""Active-learning query strategies: which unlabeled texts a labeler should see first.

Modelled on small-text: a strategy is a class with `score()` (one number per pool item, higher = ask first)
and `query(ctx, n)` (the indices of the n best); confidence-based strategies override only `confidence()`.
Everything a strategy may use is passed in one `QueryContext` (per-job probability matrices, optional feature
matrix, a seeded RNG), so strategies take no positional argument lists and never touch a global RNG.

A project may have several jobs (each with its own model): a pool item's uncertainty is the mean over jobs.
Multi-label jobs are scored per category as independent binary problems (mean over categories).

Strategies (by name, see `make_strategy`):

* ``random``            uniform random order (the baseline);
* ``least_confidence``  1 - max probability;
* ``margin``            "breaking ties": 1 - (top probability - second probability);
* ``entropy``           normalised Shannon entropy of the probability row;
* ``mix``               margin uncertainty among the most uncertain candidates, spread over k-means clusters
of
  the feature space (round-robin over clusters, most uncertain first in each), with a share of random picks.

Only numpy, scipy and scikit-learn are imported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


class EmptyPoolError(ValueError):
    """The pool to query from is empty."""


@dataclass
class QueryContext:
    """The inputs of one query.

    proba: one matrix per job, (n_pool, n_categories); rows sum to one for single-choice jobs, columns are
        independent per-category probabilities for multi-choice jobs.
    multi_label: per job, whether it is multi-choice (same length as `proba`).
    features: optional (n_pool, d) feature matrix (sparse or dense) for diversity strategies, or a callable
        taking an array of pool row indices and returning their rows (so only the candidates get featurised).
    rng: the seeded random generator used for random picks and tie-breaking.
    """

    proba: Sequence[NDArray[np.floating]]
    multi_label: Sequence[bool] = ()
    features: Any = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def __post_init__(self) -> None:
        if not self.proba:
            raise ValueError("QueryContext needs at least one probability matrix (one per job).")
        if not self.multi_label:
            self.multi_label = [False] * len(self.proba)
        if len(self.multi_label) != len(self.proba):
            raise ValueError(
                f"QueryContext.multi_label has {len(self.multi_label)} entries for {len(self.proba)} jobs."
            )
        sizes = {np.asarray(p).shape[0] for p in self.proba}
        if len(sizes) != 1:
            raise ValueError(f"Every job's probability matrix must have one row per pool item; got {sizes}.")

    @property
    def n_pool(self) -> int:
        return int(np.asarray(self.proba[0]).shape[0])


class QueryStrategy:
    """Base class: `score` gives every pool item a priority (higher first); `query` takes the n best."""

    name: ClassVar[str] = "base"

    def score(self, ctx: QueryContext) -> FloatArray:
        raise NotImplementedError

    def query(self, ctx: QueryContext, n: int) -> NDArray[np.int64]:
        """Indices of the `n` pool items to label first (fewer if the pool is smaller)."""
        if ctx.n_pool == 0:
            raise EmptyPoolError("The pool is empty: every asset is labeled.")
        if n < 1:
            raise ValueError(f"query needs n >= 1; got {n}.")
        scores = self.score(ctx)
        order = np.argsort(-scores, kind="stable")
        return np.asarray(order[: min(n, ctx.n_pool)], dtype=np.int64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class RandomSampling(QueryStrategy):
    name = "random"

    def score(self, ctx: QueryContext) -> FloatArray:
        return np.asarray(ctx.rng.random(ctx.n_pool), dtype=np.float64)


class ConfidenceBasedQueryStrategy(QueryStrategy):
    """Asks for the items the model is least confident about; subclasses define `confidence` only.

    `confidence(proba, multi_label)` returns one value per row in [0, 1] (1 = certain). A tiny random jitter
    (below 1e-9) breaks exact ties reproducibly.
    """

    def confidence(self, proba: FloatArray, multi_label: bool) -> FloatArray:
        raise NotImplementedError

    def uncertainty(self, ctx: QueryContext) -> FloatArray:
        """Mean over jobs of 1 - confidence, in [0, 1]."""
        total = np.zeros(ctx.n_pool)
        for p, ml in zip(ctx.proba, ctx.multi_label, strict=True):
            pa = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
            total += 1.0 - self.confidence(pa, ml)
        return np.asarray(total / len(ctx.proba), dtype=np.float64)

    def score(self, ctx: QueryContext) -> FloatArray:
        return self.uncertainty(ctx) + ctx.rng.random(ctx.n_pool) * 1e-9


def _binary_stack(proba: FloatArray) -> FloatArray:
    """(n, k) independent probabilities → (n, k, 2) binary distributions."""
    return np.stack([1.0 - proba, proba], axis=-1)


class LeastConfidence(ConfidenceBasedQueryStrategy):
    name = "least_confidence"

    def confidence(self, proba: FloatArray, multi_label: bool) -> FloatArray:
        if multi_label:
            return np.asarray(np.maximum(proba, 1.0 - proba).mean(axis=1), dtype=np.float64)
        return np.asarray(proba.max(axis=1), dtype=np.float64)


class BreakingTies(ConfidenceBasedQueryStrategy):
    """Margin sampling: the gap between the two most probable categories."""

    name = "margin"

    def confidence(self, proba: FloatArray, multi_label: bool) -> FloatArray:
        if multi_label:
            return np.asarray(np.abs(2.0 * proba - 1.0).mean(axis=1), dtype=np.float64)
        if proba.shape[1] < 2:
            return np.ones(proba.shape[0])
        top2 = -np.partition(-proba, 1, axis=1)[:, :2]
        return np.asarray(top2[:, 0] - top2[:, 1], dtype=np.float64)


class PredictionEntropy(ConfidenceBasedQueryStrategy):
    name = "entropy"

    @staticmethod
    def _entropy(dist: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(dist > 0, np.log(dist), 0.0)
        ent = -(dist * logs).sum(axis=-1)
        k = dist.shape[-1]
        return np.asarray(ent / np.log(k) if k > 1 else np.zeros_like(ent), dtype=np.float64)

    def confidence(self, proba: FloatArray, multi_label: bool) -> FloatArray:
        if multi_label:
            return np.asarray(1.0 - self._entropy(_binary_stack(proba)).mean(axis=1), dtype=np.float64)
        sums = proba.sum(axis=1, keepdims=True)
        dist = proba / np.where(sums > 0, sums, 1.0)
        return np.asarray(1.0 - self._entropy(dist), dtype=np.float64)


class DiversityMix(QueryStrategy):
    """Uncertainty with diversity and exploration.

    The `candidate_factor * batch` most uncertain items (by `uncertainty`) are clustered with k-means on the
    feature matrix (TruncatedSVD first when it is sparse or wide); the queue then takes clusters round-robin,
    the most uncertain item of each cluster first, so a batch covers different regions instead of many near
    duplicates. A `random_share` of the positions is given to uniformly random pool items. Items beyond the
    candidates follow in order of uncertainty. Without features it degrades to uncertainty + random share.
    """

    name = "mix"

    def __init__(
        self,
        uncertainty: ConfidenceBasedQueryStrategy | None = None,
        *,
        random_share: float = 0.1,
        batch: int = 20,
        n_clusters: int | None = None,
        candidate_factor: int = 10,
        max_candidates: int = 2000,
    ) -> None:
        if not 0.0 <= random_share <= 1.0:
            raise ValueError(f"random_share must be from 0 to 1; got {random_share}.")
        self.uncertainty = uncertainty or BreakingTies()
        self.random_share = random_share
        self.batch = batch
        self.n_clusters = n_clusters
        self.candidate_factor = candidate_factor
        self.max_candidates = max_candidates

    def __repr__(self) -> str:
        return f"DiversityMix({self.uncertainty!r}, random_share={self.random_share})"

    def _order(self, ctx: QueryContext) -> NDArray[np.int64]:
        n = ctx.n_pool
        unc = self.uncertainty.score(ctx)
        by_unc = np.argsort(-unc, kind="stable")
        n_cand = min(n, max(self.batch, min(self.max_candidates, self.candidate_factor * self.batch)))
        cand = by_unc[:n_cand]
        k = self.n_clusters or max(2, min(self.batch, n_cand // 5))
        head: list[int]
        if ctx.features is not None and n_cand >= 2 * k:
            labels = _cluster(ctx.features, cand, k, ctx.rng)
            # round-robin over clusters, each cluster's items most uncertain first (cand is already sorted)
            rank_in_cluster = np.zeros(n_cand, dtype=np.int64)
            seen: dict[int, int] = {}
            for pos, c in enumerate(labels):
                rank_in_cluster[pos] = seen.get(int(c), 0)
                seen[int(c)] = rank_in_cluster[pos] + 1
            head_pos = np.lexsort((np.arange(n_cand), rank_in_cluster))
            head = [int(cand[p]) for p in head_pos]
        else:
            head = [int(i) for i in cand]
        rest = [int(i) for i in by_unc[n_cand:]]
        order = head + rest
        if self.random_share > 0:
            order = _interleave_random(order, self.random_share, ctx.rng)
        return np.asarray(order, dtype=np.int64)

    def score(self, ctx: QueryContext) -> FloatArray:
        order = self._order(ctx)
        scores = np.empty(ctx.n_pool, dtype=np.float64)
        scores[order] = 1.0 - np.arange(ctx.n_pool) / max(ctx.n_pool, 1)
        return scores


def _cluster(features: Any, rows: NDArray[np.int64], k: int, rng: np.random.Generator) -> NDArray[np.int64]:
    import scipy.sparse as sp
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    x = features(rows) if callable(features) else features[rows]
    seed = int(rng.integers(0, 2**31 - 1))
    if sp.issparse(x) or x.shape[1] > 100:
        n_comp = max(2, min(50, x.shape[1] - 1, x.shape[0] - 1))
        x = TruncatedSVD(n_components=n_comp, random_state=seed).fit_transform(x)
    x = normalize(np.asarray(x, dtype=np.float64))
    km = KMeans(n_clusters=k, n_init=1, random_state=seed, max_iter=50)
    return np.asarray(km.fit_predict(x), dtype=np.int64)


def _interleave_random(order: list[int], share: float, rng: np.random.Generator) -> list[int]:
    """Give every ~1/share-th position to a random not-yet-placed item."""
    n = len(order)
    n_random = round(share * n)
    if n_random == 0:
        return order
    picks = set(int(i) for i in rng.choice(np.asarray(order), size=n_random, replace=False))
    every = max(1, round(1.0 / share))
    rest = [i for i in order if i not in picks]
    rand = [i for i in order if i in picks]
    rng.shuffle(rand)
    out: list[int] = []
    ri = 0
    qi = 0
    for pos in range(n):
        if (pos % every == every - 1 and ri < len(rand)) or qi >= len(rest):
            out.append(rand[ri])
            ri += 1
        else:
            out.append(rest[qi])
            qi += 1
    return out


STRATEGIES: dict[str, type[QueryStrategy]] = {
    "random": RandomSampling,
    "least_confidence": LeastConfidence,
    "margin": BreakingTies,
    "entropy": PredictionEntropy,
    "mix": DiversityMix,
}


def make_strategy(name: str, *, random_share: float = 0.1, batch: int = 20) -> QueryStrategy:
    """A fresh strategy by name (see the module docstring)."""
    if name not in STRATEGIES:
        raise ValueError(f"Unknown query strategy {name!r}; choose one of {sorted(STRATEGIES)}.")
    if name == "mix":
        return DiversityMix(random_share=random_share, batch=batch)
    return STRATEGIES[name]()
