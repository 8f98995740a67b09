"""Active-learning query strategies: which unlabeled texts a labeler should see first.

Modelled on small-text: a strategy is a class with `score()` (one number per pool item, higher = ask first)
and `query(ctx, n)` (the indices of the n best); confidence-based strategies override only `confidence()`.
Everything a strategy may use is passed in one `QueryContext` (per-job probability matrices, optional feature
matrix, a seeded RNG), so strategies take no positional argument lists and never touch a global RNG.

A project may have several jobs (each with its own model): a pool item's uncertainty is the mean over jobs.
Multi-label jobs are scored per category as independent binary problems around each category's decision
threshold, and a row is as uncertain as its most uncertain category; a required job, whose decision names its
most probable category when none passes, gets margins around that decision (`fallback_margins`).

Strategies (by name, see `make_strategy`):

* ``random``            uniform random order (the baseline);
* ``least_confidence``  1 - max probability;
* ``margin``            "breaking ties": 1 - (top probability - second probability);
* ``entropy``           normalised Shannon entropy of the probability row;
* ``mix``               margin uncertainty, weighted by how typical of the pool each item is (`density`), among
  the most uncertain candidates, spread over k-means clusters of the feature space (round-robin over clusters,
  most uncertain first in each), with a share of random picks; representative picks while a project has few
  labels (`cold_start`).

A project reaches the strategy (setting `queue_strategy`), the mix's random share (`queue_random_share`) and its
batch (the labels the retrain trigger waits for); the mix's other parameters are constructor arguments whose
defaults are what every project runs, and `prelabel bench loop --mix-options` passes others to compare variants.

Before any model exists, `representatives` picks the texts a first model should learn from: the most central
item of each k-means cluster of the texts' sentence vectors (a "diverse" initial queue order).

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
    thresholds: per job, the per-category decision thresholds of a multi-choice job (None or absent: 0.5),
        so that a category's uncertainty is measured around the threshold the model actually predicts with.
    n_labeled: how many assets are labeled (None: unknown), for strategies with a cold-start phase.
    at_least_one: per job, whether a multi-choice job's decision names its most probable category when none
        passes its threshold (a required job: what the pre-annotation shows), so that margin uncertainty is
        measured around that decision too (`fallback_margins`); absent: False for every job.
    labeled_features: optional features of the labeled items (same space as `features`: a matrix, or a
        callable without arguments returning it, called only when needed), so that the mix's cold start can tell which
        regions of the pool its labels already cover.
    """

    proba: Sequence[NDArray[np.floating]]
    multi_label: Sequence[bool] = ()
    features: Any = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    thresholds: Sequence[NDArray[np.floating] | None] = ()
    n_labeled: int | None = None
    at_least_one: Sequence[bool] = ()
    labeled_features: Any = None

    def __post_init__(self) -> None:
        if not self.proba:
            raise ValueError("QueryContext needs at least one probability matrix (one per job).")
        if not self.multi_label:
            self.multi_label = [False] * len(self.proba)
        if len(self.multi_label) != len(self.proba):
            raise ValueError(
                f"QueryContext.multi_label has {len(self.multi_label)} entries for {len(self.proba)} jobs."
            )
        if self.at_least_one and len(self.at_least_one) != len(self.proba):
            raise ValueError(
                f"QueryContext.at_least_one has {len(self.at_least_one)} entries for {len(self.proba)} jobs."
            )
        if self.thresholds and len(self.thresholds) != len(self.proba):
            raise ValueError(
                f"QueryContext.thresholds has {len(self.thresholds)} entries for {len(self.proba)} jobs."
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

    `confidence(proba, multi_label)` returns one value per row in [0, 1] (1 = certain); a multi-choice row is as
    confident as its least confident category (`_multi_confidence`). A tiny random jitter (below 1e-9) breaks
    exact ties reproducibly.
    """

    def confidence(self, proba: FloatArray, multi_label: bool) -> FloatArray:
        raise NotImplementedError

    def confidence_at_least_one(self, proba: FloatArray) -> FloatArray:
        """The confidence of a multi-choice job whose decision falls back on its most probable category (see
        `QueryContext.at_least_one`); strategies without a rule of their own score it as any multi-choice job."""
        return self.confidence(proba, True)

    def uncertainty(self, ctx: QueryContext) -> FloatArray:
        """Mean over jobs of 1 - confidence, in [0, 1].

        A multi-choice job's probabilities are first re-centred on its per-category thresholds (a category
        predicted at threshold t is a coin flip at p = t, not at 0.5: p ↦ 0.5 ± 0.5 · distance to t / room on
        that side), then `confidence` sees them as at threshold 0.5.
        """
        total = np.zeros(ctx.n_pool)
        for j, (p, ml) in enumerate(zip(ctx.proba, ctx.multi_label, strict=True)):
            pa = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
            if ml and ctx.thresholds and ctx.thresholds[j] is not None:
                pa = recentre(pa, np.asarray(ctx.thresholds[j], dtype=np.float64))
            if ml and ctx.at_least_one and ctx.at_least_one[j]:
                total += 1.0 - self.confidence_at_least_one(pa)
            else:
                total += 1.0 - self.confidence(pa, ml)
        return np.asarray(total / len(ctx.proba), dtype=np.float64)

    def score(self, ctx: QueryContext) -> FloatArray:
        return self.uncertainty(ctx) + ctx.rng.random(ctx.n_pool) * 1e-9


def recentre(proba: FloatArray, thresholds: FloatArray) -> FloatArray:
    """Map independent per-category probabilities piecewise-linearly so that each category's threshold
    becomes 0.5 (0 and 1 stay put)."""
    t = np.clip(np.asarray(thresholds, dtype=np.float64), 1e-6, 1 - 1e-6)[None, :]
    below = 0.5 * proba / t
    above = 0.5 + 0.5 * (proba - t) / (1.0 - t)
    return np.asarray(np.clip(np.where(proba < t, below, above), 0.0, 1.0), dtype=np.float64)


def _multi_confidence(per_category: FloatArray) -> FloatArray:
    """A multi-choice row's confidence from its per-category binary confidences: the least confident category
    (the "minimum margin over labels" of multi-label active learning, Brinker 2006), so that one undecided
    category among many obvious negatives is not averaged away."""
    if per_category.shape[1] == 0:
        return np.ones(per_category.shape[0])
    return np.asarray(per_category.min(axis=1), dtype=np.float64)


def fallback_margins(proba: FloatArray) -> FloatArray:
    """Per-category margins (0 = the decision is a coin flip, 1 = sure) of a multi-choice decision at
    threshold 0.5 that names the most probable category when none passes.

    A category's margin is how far its probability must move (in units of |2p - 1|) before its membership in
    the predicted set flips. Where two or more categories pass, that is |2p - 1| as for independent
    categories. Where none passes, the set is {the most probable}, and every category's membership flips as
    soon as another overtakes the top one: category j's margin is top - p_j, the top's top - second (a row of
    low probabilities whose two best are close is a coin flip between them, not a sure "nothing"). Where the
    top one alone passes, it stays chosen below 0.5 until overtaken: max(2 top - 1, top - second).
    """
    p = np.asarray(proba, dtype=np.float64)
    margins = np.abs(2.0 * p - 1.0)
    n, k = p.shape
    if n == 0 or k < 2:
        return margins
    top_i = p.argmax(axis=1)
    top2 = -np.partition(-p, 1, axis=1)[:, :2]
    top, second = top2[:, 0], top2[:, 1]
    n_pass = (p >= 0.5).sum(axis=1)
    none = n_pass == 0
    margins[none] = top[none, None] - p[none]
    margins[none, top_i[none]] = top[none] - second[none]
    one = np.flatnonzero(n_pass == 1)
    margins[one, top_i[one]] = np.maximum(2.0 * top[one] - 1.0, top[one] - second[one])
    return np.clip(margins, 0.0, 1.0)


def _binary_stack(proba: FloatArray) -> FloatArray:
    """(n, k) independent probabilities → (n, k, 2) binary distributions."""
    return np.stack([1.0 - proba, proba], axis=-1)


class LeastConfidence(ConfidenceBasedQueryStrategy):
    name = "least_confidence"

    def confidence(self, proba: FloatArray, multi_label: bool) -> FloatArray:
        if multi_label:
            return _multi_confidence(np.maximum(proba, 1.0 - proba))
        return np.asarray(proba.max(axis=1), dtype=np.float64)


class BreakingTies(ConfidenceBasedQueryStrategy):
    """Margin sampling: the gap between the two most probable categories."""

    name = "margin"

    def confidence(self, proba: FloatArray, multi_label: bool) -> FloatArray:
        if multi_label:
            return _multi_confidence(np.abs(2.0 * proba - 1.0))
        if proba.shape[1] < 2:
            return np.ones(proba.shape[0])
        top2 = -np.partition(-proba, 1, axis=1)[:, :2]
        return np.asarray(top2[:, 0] - top2[:, 1], dtype=np.float64)

    def confidence_at_least_one(self, proba: FloatArray) -> FloatArray:
        return _multi_confidence(fallback_margins(proba))


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
            return _multi_confidence(1.0 - self._entropy(_binary_stack(proba)))
        sums = proba.sum(axis=1, keepdims=True)
        dist = proba / np.where(sums > 0, sums, 1.0)
        return np.asarray(1.0 - self._entropy(dist), dtype=np.float64)


class DiversityMix(QueryStrategy):
    """Uncertainty with diversity and exploration.

    The `candidate_factor * batch` most uncertain items (by margin uncertainty, `BreakingTies`) are clustered
    with k-means on the feature matrix (TruncatedSVD first when it is sparse or wide); the queue then takes
    clusters round-robin, the most uncertain item of each cluster first, so a batch covers different regions
    instead of many near duplicates. A `random_share` of the positions is given to uniformly random pool items.
    Items beyond the candidates follow in order of uncertainty. Without features it degrades to uncertainty +
    random share.

    With `density` β > 0, the `max_candidates` most uncertain items are first re-ranked by uncertainty *
    typicality^β (`typicality`: mean cosine similarity to the nearest neighbours in a sample of the pool), so
    that the candidates are uncertain items that stand for many others rather than outliers — "information
    density", Settles & Craven 2008 — in single-choice projects (see `dense`).

    While fewer than `cold_start` items are labeled (single-choice projects, see `cold`), the batch goes to the
    most typical item of each region no label covers yet (`uncovered_typical`, TypiClust) when the context
    has the labeled items' features, else to the most central items of k-means clusters of a pool sample.

    The defaults are what every project runs (docs/loop.md measured them); `MIX_OPTIONS` names the parameters
    a benchmark may vary.
    """

    name = "mix"

    def __init__(
        self,
        *,
        random_share: float = 0.0,
        batch: int = 20,
        n_clusters: int | None = None,
        candidate_factor: int = 10,
        max_candidates: int = 2000,
        cold_start: int = 25,
        density: float = 1.0,
    ) -> None:
        if density < 0:
            raise ValueError(f"density must be >= 0; got {density}.")
        if not 0.0 <= random_share <= 1.0:
            raise ValueError(f"random_share must be from 0 to 1; got {random_share}.")
        if batch < 1 or candidate_factor < 1 or max_candidates < 1 or cold_start < 0:
            raise ValueError("batch, candidate_factor and max_candidates must be positive, cold_start >= 0.")
        self.uncertainty = BreakingTies()
        self.random_share = random_share
        self.batch = batch
        self.n_clusters = n_clusters
        self.candidate_factor = candidate_factor
        self.max_candidates = max_candidates
        self.cold_start = cold_start
        self.density = density

    def options(self) -> dict[str, float]:
        """The values of `MIX_OPTIONS` this strategy runs with."""
        return {key: getattr(self, key) for key in MIX_OPTIONS}

    def __repr__(self) -> str:
        return (
            f"DiversityMix(random_share={self.random_share}, batch={self.batch}, "
            f"candidate_factor={self.candidate_factor}, cold_start={self.cold_start}, density={self.density})"
        )

    def cold(self, ctx: QueryContext) -> bool:
        """In the cold-start phase (fewer than `cold_start` labels, features known, no multi-choice job):
        representative picks. Multi-choice jobs are left out as in `dense`: typical picks drift to the common
        categories, and the phase was measured on single-choice data sets only (docs/loop.md)."""
        return (
            ctx.features is not None and ctx.n_labeled is not None and ctx.n_labeled < self.cold_start
            and not any(ctx.multi_label)
        )

    def dense(self, ctx: QueryContext) -> bool:
        """Whether uncertainty is weighted by typicality: `density` > 0, features known, no multi-choice job.

        Multi-choice jobs are left out: their informative items are often the atypical ones (a rare category's
        texts), and on Reuters the weighted picks learned more slowly from 30 labels on (docs/loop.md)."""
        return self.density > 0 and ctx.features is not None and not any(ctx.multi_label)

    def _order(self, ctx: QueryContext) -> NDArray[np.int64]:
        by_unc = self._by_uncertainty(ctx)
        head = self._head(ctx, by_unc)
        placed = set(head)
        order = head + [int(i) for i in by_unc if int(i) not in placed]
        if self.random_share > 0:
            order = _interleave_random(order, self.random_share, ctx.rng)
        return np.asarray(order, dtype=np.int64)

    def _by_uncertainty(self, ctx: QueryContext) -> NDArray[np.int64]:
        """The pool, most uncertain first; with `dense`, the `max_candidates` most uncertain re-ranked by
        uncertainty * typicality^density (an outlier the model is unsure of teaches it about itself only)."""
        unc = self.uncertainty.score(ctx)
        by_unc = np.argsort(-unc, kind="stable")
        if not self.dense(ctx):
            return np.asarray(by_unc, dtype=np.int64)
        pre = by_unc[: min(ctx.n_pool, self.max_candidates)]
        weighted = unc[pre] * typicality(ctx.features, pre, ctx.n_pool, ctx.rng) ** self.density
        return np.concatenate([pre[np.argsort(-weighted, kind="stable")], by_unc[len(pre):]]).astype(np.int64)

    def _head(self, ctx: QueryContext, by_unc: NDArray[np.int64]) -> list[int]:
        """The first picks: the cold start's representative items, else the most uncertain candidates
        round-robin over their k-means clusters (in uncertainty order without features)."""
        n = ctx.n_pool
        n_cand = min(n, max(self.batch, min(self.max_candidates, self.candidate_factor * self.batch)))
        k = self.n_clusters or max(2, min(self.batch, n_cand // 5))
        if self.cold(ctx) and ctx.labeled_features is not None and bool(ctx.n_labeled):
            # knowing the labels: the uncovered regions' most typical items (TypiClust)
            return uncovered_typical(ctx, self.batch, self.max_candidates + 1000)
        if self.cold(ctx) and n_cand >= 2 * k:
            # too few labels for the model's uncertainty to mean much: each cluster's most central item of a
            # random sample of the pool (representative and diverse), round-robin over clusters
            cand = np.sort(ctx.rng.choice(n, size=n_cand, replace=False)).astype(np.int64)
            labels, dist = _cluster(ctx.features, cand, k, ctx.rng)
            return [int(cand[p]) for p in _round_robin(labels, np.argsort(dist, kind="stable"))]
        cand = by_unc[:n_cand]
        if ctx.features is None or n_cand < 2 * k:
            return [int(i) for i in cand]
        labels, _ = _cluster(ctx.features, cand, k, ctx.rng)
        # each cluster's items most uncertain first (cand is sorted so)
        return [int(cand[p]) for p in _round_robin(labels, np.arange(n_cand))]

    def score(self, ctx: QueryContext) -> FloatArray:
        order = self._order(ctx)
        scores = np.empty(ctx.n_pool, dtype=np.float64)
        scores[order] = 1.0 - np.arange(ctx.n_pool) / max(ctx.n_pool, 1)
        return scores


def _round_robin(labels: NDArray[np.int64], preference: NDArray[np.int64]) -> NDArray[np.int64]:
    """Positions ordered round-robin over clusters: first every cluster's best item (by `preference`, a
    permutation of the positions, best first), then every cluster's second, and so on."""
    n = len(labels)
    rank_in_cluster = np.zeros(n, dtype=np.int64)
    seen: dict[int, int] = {}
    for pos in preference:
        c = int(labels[pos])
        rank_in_cluster[pos] = seen.get(c, 0)
        seen[c] = rank_in_cluster[pos] + 1
    pref_rank = np.empty(n, dtype=np.int64)
    pref_rank[preference] = np.arange(n)
    return np.asarray(np.lexsort((pref_rank, rank_in_cluster)), dtype=np.int64)


def _reduced(features: Any, rows: NDArray[np.int64], seed: int) -> FloatArray:
    """The rows' features, TruncatedSVD to ≤ 50 dimensions when sparse or wide, L2-normalised."""
    import scipy.sparse as sp
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    x = features(rows) if callable(features) else features[rows]
    if sp.issparse(x) or x.shape[1] > 100:
        n_comp = max(2, min(50, x.shape[1] - 1, x.shape[0] - 1))
        x = TruncatedSVD(n_components=n_comp, random_state=seed).fit_transform(x)
    return np.asarray(normalize(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def uncovered_typical(ctx: QueryContext, batch: int, sample: int = 3000) -> list[int]:
    """Up to `batch` pool items, each the most typical of a region no label covers yet (TypiClust, Hacohen et
    al. 2022): k-means over a random sample of the pool together with the labeled items, k = labels + batch;
    the clusters without a labeled item, largest first, each give the member with the most similar
    neighbours (mean cosine similarity to its 20 nearest in the sample). With few labels this asks for the
    texts that stand for many unlabeled ones and are unlike every labeled one."""
    import scipy.sparse as sp
    from sklearn.cluster import KMeans

    n = ctx.n_pool
    lab_x = ctx.labeled_features() if callable(ctx.labeled_features) else ctx.labeled_features
    rows = np.sort(ctx.rng.choice(n, size=min(n, sample), replace=False)).astype(np.int64)
    pool_x = ctx.features(rows) if callable(ctx.features) else ctx.features[rows]
    if sp.issparse(pool_x) or sp.issparse(lab_x):
        both = sp.vstack([pool_x, lab_x]).tocsr()
    else:
        both = np.vstack([np.asarray(pool_x), np.asarray(lab_x)])
    seed = int(ctx.rng.integers(0, 2**31 - 1))
    x = _reduced(both, np.arange(both.shape[0]), seed)
    k = min(int(lab_x.shape[0]) + batch, len(rows))
    if k < 2:
        return [int(r) for r in rows[:batch]]
    labels = np.asarray(KMeans(n_clusters=k, n_init=1, random_state=seed, max_iter=100).fit_predict(x))
    covered = set(labels[len(rows):].tolist())
    px, plabels = x[: len(rows)], labels[: len(rows)]
    n_nb = max(1, min(20, len(rows) - 1))
    sims = px @ px.T
    np.fill_diagonal(sims, -np.inf)
    typical = -np.partition(-sims, n_nb - 1, axis=1)[:, :n_nb].mean(axis=1)
    sizes = np.bincount(plabels, minlength=k)
    out: list[int] = []
    for c in np.argsort(-sizes, kind="stable"):
        if len(out) >= batch or sizes[c] == 0:
            break
        if int(c) in covered:
            continue
        members = np.flatnonzero(plabels == c)
        out.append(int(rows[members[np.argmax(typical[members])]]))
    return out


def _cluster(
    features: Any, rows: NDArray[np.int64], k: int, rng: np.random.Generator
) -> tuple[NDArray[np.int64], FloatArray]:
    """k-means cluster of each row, and its distance to its cluster's centre."""
    from sklearn.cluster import KMeans

    seed = int(rng.integers(0, 2**31 - 1))
    x = _reduced(features, rows, seed)
    km = KMeans(n_clusters=k, n_init=1, random_state=seed, max_iter=50)
    labels = np.asarray(km.fit_predict(x), dtype=np.int64)
    dist = np.linalg.norm(x - km.cluster_centers_[labels], axis=1)
    return labels, np.asarray(dist, dtype=np.float64)


def typicality(
    features: Any, rows: NDArray[np.int64], n_pool: int, rng: np.random.Generator, k: int = 10, sample: int = 1000
) -> FloatArray:
    """How typical each of `rows` is of the pool, in [0, 1]: the mean cosine similarity to its `k` nearest
    neighbours among a random sample of `sample` pool items (TruncatedSVD first for sparse or wide features,
    negative similarities count as 0). High in dense regions, low for outliers (TypiClust, Hacohen et al. 2022,
    uses the same k-nearest-neighbour density)."""
    import scipy.sparse as sp
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    if n_pool < 3:  # no neighbour to compare with: every item is as typical as the next
        return np.ones(len(rows), dtype=np.float64)
    ref = np.sort(rng.choice(n_pool, size=min(n_pool, sample), replace=False)).astype(np.int64)
    union = np.union1d(ref, rows)  # featurised once: on a small pool the two overlap
    x = features(union) if callable(features) else features[union]
    at_ref, at_rows = np.searchsorted(union, ref), np.searchsorted(union, rows)
    if sp.issparse(x) or x.shape[1] > 100:
        n_comp = max(2, min(50, x.shape[1] - 1, len(ref) - 1))
        svd = TruncatedSVD(n_components=n_comp, random_state=int(rng.integers(0, 2**31 - 1)))
        svd.fit(x[at_ref])
        x = svd.transform(x)
    x = normalize(np.asarray(x, dtype=np.float64))
    sims = x[at_rows] @ x[at_ref].T
    in_ref = np.isin(rows, ref)
    k_eff = max(1, min(k, len(ref) - 1))
    # a row that is in the reference sample is its own nearest neighbour (similarity 1): skip that one
    top = -np.partition(-sims, min(k_eff, sims.shape[1] - 1), axis=1)[:, : k_eff + 1]
    top = np.sort(top, axis=1)[:, ::-1]
    mean = np.where(in_ref, top[:, 1 : k_eff + 1].mean(axis=1), top[:, :k_eff].mean(axis=1))
    return np.asarray(np.clip(mean, 0.0, 1.0), dtype=np.float64)


def representatives(features: Any, k: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Rows of `features` for a first model to learn from, before any label: k-means (k clusters, rows
    L2-normalised, so cosine geometry for sentence vectors) and the row nearest each cluster's centre, largest
    cluster first. Returns min(k, distinct rows) row indices without repeats.

    Measured on the shared data sets with MiniLM vectors (docs/loop.md): ten such rows cover every BBC news
    class on every seed, and the first fast model scores far above ten random rows."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import normalize

    x = np.asarray(features, dtype=np.float64)
    n = x.shape[0]
    if n == 0 or k < 1:
        return np.zeros(0, dtype=np.int64)
    x = normalize(x)
    k = min(k, n, len(np.unique(np.round(x, 6), axis=0)))
    if k <= 1:
        return np.asarray([int(rng.integers(0, n))], dtype=np.int64)
    km = KMeans(n_clusters=k, n_init=3, random_state=int(rng.integers(0, 2**31 - 1)), max_iter=100)
    labels = np.asarray(km.fit_predict(x), dtype=np.int64)
    dist = np.linalg.norm(x - km.cluster_centers_[labels], axis=1)
    sizes = np.bincount(labels, minlength=k)
    out: list[int] = []
    for c in np.argsort(-sizes, kind="stable"):
        members = np.flatnonzero(labels == c)
        if len(members):
            out.append(int(members[np.argmin(dist[members])]))
    return np.asarray(out, dtype=np.int64)


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


# The mix's parameters besides random_share and batch (which a project sets): no project setting reaches them,
# `prelabel bench loop --mix-options` varies them to compare variants (see `DiversityMix`).
MIX_OPTIONS = ("candidate_factor", "cold_start", "density")

STRATEGIES: dict[str, type[QueryStrategy]] = {
    "random": RandomSampling,
    "least_confidence": LeastConfidence,
    "margin": BreakingTies,
    "entropy": PredictionEntropy,
    "mix": DiversityMix,
}


def make_strategy(name: str, *, random_share: float = 0.0, batch: int = 20, **mix_options: Any) -> QueryStrategy:
    """A fresh strategy by name (see the module docstring). `batch`: about how many labels the next model
    will wait for (the mix spreads that many picks over clusters); `mix_options`: `MIX_OPTIONS` in place of the
    mix's defaults (a comparison's variant; production passes none)."""
    if name not in STRATEGIES:
        raise ValueError(f"Unknown query strategy {name!r}; choose one of {sorted(STRATEGIES)}.")
    unknown = sorted(set(mix_options) - set(MIX_OPTIONS))
    if unknown or (mix_options and name != "mix"):
        raise ValueError(f"Only the mix takes options, among {list(MIX_OPTIONS)}; got {sorted(mix_options)}.")
    if name == "mix":
        return DiversityMix(random_share=random_share, batch=batch, **mix_options)
    return STRATEGIES[name]()
