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
  most uncertain first in each), with a share of random picks.

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
    label_counts: per job, the labeled assets of each category in the order of its probability columns (None
        or absent: unknown), so that the mix can look for a class the labels have barely seen.
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
    label_counts: Sequence[NDArray[np.integer] | None] = ()
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
        if self.label_counts and len(self.label_counts) != len(self.proba):
            raise ValueError(
                f"QueryContext.label_counts has {len(self.label_counts)} entries for {len(self.proba)} jobs."
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

    `confidence(proba, multi_label)` returns one value per row in [0, 1] (1 = certain). A tiny random jitter
    (below 1e-9) breaks exact ties reproducibly. `multi_reduce` says how a multi-choice row's per-category
    confidences become one ("min" or "mean", see `_multi_confidence`).
    """

    def __init__(self, multi_reduce: str = "min") -> None:
        if multi_reduce not in MULTI_REDUCTIONS:
            raise ValueError(f"multi_reduce must be one of {list(MULTI_REDUCTIONS)}; got {multi_reduce!r}.")
        self.multi_reduce = multi_reduce

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


MULTI_REDUCTIONS = ("min", "mean")


def _multi_confidence(per_category: FloatArray, reduce: str = "min") -> FloatArray:
    """A multi-choice row's confidence from its per-category binary confidences. "min": the least confident
    category (the "minimum margin over labels" of multi-label active learning, Brinker 2006); "mean": the mean
    over categories, so 1 - confidence is the expected share of the row's category decisions that are wrong
    (what micro-F1 counts), to which the obvious negatives add almost nothing."""
    if per_category.shape[1] == 0:
        return np.ones(per_category.shape[0])
    if reduce == "mean":
        return np.asarray(per_category.mean(axis=1), dtype=np.float64)
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
            return _multi_confidence(np.maximum(proba, 1.0 - proba), self.multi_reduce)
        return np.asarray(proba.max(axis=1), dtype=np.float64)


class BreakingTies(ConfidenceBasedQueryStrategy):
    """Margin sampling: the gap between the two most probable categories."""

    name = "margin"

    def confidence(self, proba: FloatArray, multi_label: bool) -> FloatArray:
        if multi_label:
            return _multi_confidence(np.abs(2.0 * proba - 1.0), self.multi_reduce)
        if proba.shape[1] < 2:
            return np.ones(proba.shape[0])
        top2 = -np.partition(-proba, 1, axis=1)[:, :2]
        return np.asarray(top2[:, 0] - top2[:, 1], dtype=np.float64)

    def confidence_at_least_one(self, proba: FloatArray) -> FloatArray:
        return _multi_confidence(fallback_margins(proba), self.multi_reduce)


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
            return _multi_confidence(1.0 - self._entropy(_binary_stack(proba)), self.multi_reduce)
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

    With `density` β > 0, the `max_candidates` most uncertain items are first re-ranked by uncertainty *
    typicality^β (`typicality`: mean cosine similarity to the nearest neighbours in a sample of the pool), so
    that the candidates are uncertain items that stand for many others rather than outliers — "information
    density", Settles & Craven 2008 — in single-choice projects (see `dense`). `density_until` > 0 limits that
    to projects with fewer labels.

    While fewer than `cold_start` items are labeled (single-choice projects, see `cold`), the batch goes to the
    most typical item of each region no label covers yet (`uncovered_typical`, TypiClust) when the context
    has the labeled items' features, else to the most central items of k-means clusters of a pool sample.

    While a single-choice job's labels are lopsided — its rarest labeled class has fewer than `RARE_MIN` labels
    and less than half its even share — every other one of the first `rare_share * batch` positions goes to
    the pool items the model finds most likely to be of that class (a model trained on one disaster tweet
    among ten predicts "no disaster" everywhere, so its uncertainty points nowhere useful; Attenberg & Provost
    2010 call this guided learning). `rare_share` 0 turns it off.
    """

    RARE_MIN: ClassVar[int] = 10

    name = "mix"

    def __init__(
        self,
        uncertainty: ConfidenceBasedQueryStrategy | None = None,
        *,
        random_share: float = 0.0,
        batch: int = 20,
        n_clusters: int | None = None,
        candidate_factor: int = 10,
        max_candidates: int = 2000,
        cold_start: int = 0,
        rare_share: float = 0.0,
        density: float = 0.0,
        density_until: int = 0,
        multi_reduce: str = "min",
        diversity: str = "kmeans",
    ) -> None:
        if diversity not in DIVERSITIES:
            raise ValueError(f"diversity must be one of {list(DIVERSITIES)}; got {diversity!r}.")
        if density < 0 or density_until < 0:
            raise ValueError(f"density and density_until must be >= 0; got {density}, {density_until}.")
        if not 0.0 <= random_share <= 1.0:
            raise ValueError(f"random_share must be from 0 to 1; got {random_share}.")
        if not 0.0 <= rare_share <= 1.0:
            raise ValueError(f"rare_share must be from 0 to 1; got {rare_share}.")
        if batch < 1 or candidate_factor < 1 or max_candidates < 1 or cold_start < 0:
            raise ValueError("batch, candidate_factor and max_candidates must be positive, cold_start >= 0.")
        self.uncertainty = uncertainty or BreakingTies(multi_reduce)
        self.random_share = random_share
        self.batch = batch
        self.n_clusters = n_clusters
        self.candidate_factor = candidate_factor
        self.max_candidates = max_candidates
        self.cold_start = cold_start
        self.rare_share = rare_share
        self.density = density
        self.density_until = density_until
        self.diversity = diversity

    def __repr__(self) -> str:
        return (
            f"DiversityMix({self.uncertainty!r}, random_share={self.random_share}, batch={self.batch}, "
            f"candidate_factor={self.candidate_factor}, cold_start={self.cold_start}, rare_share={self.rare_share}, "
            f"density={self.density}, density_until={self.density_until}, diversity={self.diversity!r})"
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
        """Whether uncertainty is weighted by typicality now: `density` > 0, features known, no multi-choice
        job, and fewer than `density_until` labels when that is set.

        Multi-choice jobs are left out: their informative items are often the atypical ones (a rare category's
        texts), and on Reuters the weighted picks learned more slowly from 30 labels on (docs/loop.md)."""
        if self.density <= 0 or ctx.features is None or any(ctx.multi_label):
            return False
        return not self.density_until or (ctx.n_labeled is not None and ctx.n_labeled < self.density_until)

    def _order(self, ctx: QueryContext) -> NDArray[np.int64]:
        n = ctx.n_pool
        unc = self.uncertainty.score(ctx)
        by_unc = np.argsort(-unc, kind="stable")
        typ: FloatArray | None = None
        pre = by_unc[: min(n, self.max_candidates)]
        uncovered = self.cold(ctx) and ctx.labeled_features is not None and bool(ctx.n_labeled)
        if self.dense(ctx):
            # information density (Settles & Craven 2008): among the most uncertain items, prefer those that
            # stand for many others; an outlier the model is unsure of teaches it about itself only
            typ = typicality(ctx.features, pre, n, ctx.rng)
            weighted = unc[pre] * typ**self.density
            by_unc = np.concatenate([pre[np.argsort(-weighted, kind="stable")], by_unc[len(pre):]])
        n_cand = min(n, max(self.batch, min(self.max_candidates, self.candidate_factor * self.batch)))
        k = self.n_clusters or max(2, min(self.batch, n_cand // 5))
        head: list[int]
        if self.diversity == "categories" and not self.cold(ctx):
            # each category's decision gets its own examples: the categories take turns, each offering the
            # item it is least sure of (Esuli & Sebastiani 2009's per-category rankings, round-robin)
            head = [int(i) for i in category_round_robin(ctx, n_cand)]
            placed = set(head)
            rest = [int(i) for i in by_unc if int(i) not in placed]
        elif self.diversity == "badge" and ctx.features is not None and not self.cold(ctx) and len(pre) > 1:
            # BADGE (Ash et al. 2020): k-means++ seeding over gradient embeddings, so that a batch is both
            # uncertain (long gradients) and diverse (gradients pointing different ways)
            weight = None if typ is None else typ**self.density
            picks = badge(ctx, pre, min(len(pre), 2 * self.batch), weight)
            head = [int(i) for i in pre[picks]]
            placed = set(head)
            rest = [int(i) for i in by_unc if int(i) not in placed]
        elif uncovered:
            # cold start knowing the labels: the uncovered regions' most typical items (TypiClust)
            head = uncovered_typical(ctx, self.batch, self.max_candidates + 1000)
            placed = set(head)
            rest = [int(i) for i in by_unc if int(i) not in placed]
        elif self.cold(ctx) and n_cand >= 2 * k:
            # cold start: the model has seen too few labels for its uncertainty to mean much; cluster a
            # random sample of the pool and ask for each cluster's most central item first (representative
            # and diverse), round-robin over clusters
            cand = np.sort(ctx.rng.choice(n, size=n_cand, replace=False)).astype(np.int64)
            labels, dist = _cluster(ctx.features, cand, k, ctx.rng)
            head = [int(cand[p]) for p in _round_robin(labels, np.argsort(dist, kind="stable"))]
            placed = set(head)
            rest = [int(i) for i in by_unc if int(i) not in placed]
        else:
            cand = by_unc[:n_cand]
            if ctx.features is not None and n_cand >= 2 * k:
                labels, _ = _cluster(ctx.features, cand, k, ctx.rng)
                # round-robin over clusters, each cluster's items most uncertain first (cand is sorted so)
                head = [int(cand[p]) for p in _round_robin(labels, np.arange(n_cand))]
            else:
                head = [int(i) for i in cand]
            rest = [int(i) for i in by_unc[n_cand:]]
        order = head + rest
        rare = self._rare_picks(ctx)
        if rare:
            placed = set(rare)
            others = [i for i in order if i not in placed]
            mixed: list[int] = []
            for k, pick in enumerate(rare):  # rare picks at positions 0, 2, 4, ...
                mixed.append(pick)
                if k < len(others):
                    mixed.append(others[k])
            order = mixed + others[len(rare):]
        if self.random_share > 0:
            order = _interleave_random(order, self.random_share, ctx.rng)
        return np.asarray(order, dtype=np.int64)

    def _rare_picks(self, ctx: QueryContext) -> list[int]:
        """The pool items most likely of a lopsided single-choice job's rarest labeled class (see above)."""
        n_rare = round(self.rare_share * self.batch)
        if n_rare == 0 or not ctx.label_counts:
            return []
        picks: list[int] = []
        for p, multi, counts in zip(ctx.proba, ctx.multi_label, ctx.label_counts, strict=True):
            if multi or counts is None:
                continue
            c = np.asarray(counts, dtype=np.float64)
            seen = np.flatnonzero(c > 0)
            if len(seen) < 2:
                continue
            r = int(seen[np.argmin(c[seen])])
            if c[r] >= self.RARE_MIN or c[r] >= c.sum() / (2 * len(seen)):
                continue
            chosen = set(picks)
            for i in np.argsort(-np.asarray(p)[:, r], kind="stable"):
                if len(picks) >= n_rare:
                    break
                if int(i) not in chosen:
                    picks.append(int(i))
                    chosen.add(int(i))
        return picks[:n_rare]

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


def category_confidence(ctx: QueryContext) -> FloatArray:
    """Per pool item and category (every job's categories side by side), how sure the model is of that
    category's decision, in [0, 1]: for a multi-choice job |2p - 1| after re-centring on the category's
    threshold; for a single-choice job |p_c - max over the other categories|, the margin of the race
    between c and its strongest rival (small only where c is the winner or the runner-up of a close race)."""
    parts: list[FloatArray] = []
    for j, (p, ml) in enumerate(zip(ctx.proba, ctx.multi_label, strict=True)):
        pa = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
        if ml:
            if ctx.thresholds and ctx.thresholds[j] is not None:
                pa = recentre(pa, np.asarray(ctx.thresholds[j], dtype=np.float64))
            parts.append(np.abs(2.0 * pa - 1.0))
        elif pa.shape[1] >= 2:
            top2 = -np.partition(-pa, 1, axis=1)[:, :2]
            rival = np.where(pa >= top2[:, :1], top2[:, 1:2], top2[:, :1])
            parts.append(np.abs(pa - rival))
    if not parts:
        return np.ones((ctx.n_pool, 0))
    return np.asarray(np.hstack(parts), dtype=np.float64)


def category_round_robin(ctx: QueryContext, n: int) -> NDArray[np.int64]:
    """`n` distinct pool items taken from per-category rankings in turn: the item whose decision on category 1
    is least sure, then category 2's, …, then every category's second, skipping items already taken. The
    categories go in order of how unsure their most uncertain item is; ties by the random generator."""
    conf = category_confidence(ctx) + ctx.rng.random((ctx.n_pool, 1)) * 1e-9
    n = min(n, ctx.n_pool)
    k = conf.shape[1]
    if k == 0:  # no job with two categories: nothing to be unsure about
        return np.asarray(ctx.rng.permutation(ctx.n_pool)[:n], dtype=np.int64)
    depth = n
    if depth < ctx.n_pool:
        top = np.argpartition(conf, depth - 1, axis=0)[:depth]
    else:
        top = np.tile(np.arange(ctx.n_pool)[:, None], (1, k))
    ranks = np.take_along_axis(conf, top, axis=0).argsort(axis=0, kind="stable")
    ranked = np.take_along_axis(top, ranks, axis=0)  # (depth, k): each category's items, least sure first
    cat_order = np.argsort(conf[ranked[0], np.arange(k)], kind="stable")
    taken: list[int] = []
    seen: set[int] = set()
    for row in ranked:
        for c in cat_order:
            i = int(row[c])
            if i not in seen:
                seen.add(i)
                taken.append(i)
                if len(taken) == n:
                    return np.asarray(taken, dtype=np.int64)
    return np.asarray(taken, dtype=np.int64)


def gradient_embedding(ctx: QueryContext, rows: NDArray[np.int64]) -> FloatArray:
    """The last-layer gradient factor of each of `rows` under its own predicted label, per job concatenated:
    p - onehot(argmax p) for single-choice jobs, and for multi-choice jobs each category as a binary output
    around its threshold (recentred p - [recentred p ≥ 0.5]). Its length grows with the model's uncertainty."""
    parts: list[FloatArray] = []
    for j, (p, ml) in enumerate(zip(ctx.proba, ctx.multi_label, strict=True)):
        pa = np.clip(np.asarray(p, dtype=np.float64)[rows], 0.0, 1.0)
        if ml:
            if ctx.thresholds and ctx.thresholds[j] is not None:
                pa = recentre(pa, np.asarray(ctx.thresholds[j], dtype=np.float64))
            parts.append(pa - (pa >= 0.5))
        else:
            onehot = np.zeros_like(pa)
            if pa.shape[1]:
                onehot[np.arange(len(rows)), np.argmax(pa, axis=1)] = 1.0
            parts.append(pa - onehot)
    return np.asarray(np.hstack(parts), dtype=np.float64)


def badge(
    ctx: QueryContext, rows: NDArray[np.int64], m: int, weight: FloatArray | None = None
) -> NDArray[np.int64]:
    """`m` positions into `rows` chosen by k-means++ seeding over the gradient embeddings g ⊗ x (BADGE, Ash
    et al. 2020): g from `gradient_embedding` (times `weight`, e.g. typicality, when given) and x the rows'
    features (TruncatedSVD to ≤ 50 dimensions, L2-normalised). The longest embedding comes first, then each
    next one with probability proportional to its squared distance to the nearest one chosen.

    The outer products are never built: ||g⊗x - h⊗y||² = |g|²|x|² + |h|²|y|² - 2 (g·h)(x·y)."""
    x = _reduced(ctx.features, rows, int(ctx.rng.integers(0, 2**31 - 1)))
    g = gradient_embedding(ctx, rows)
    if weight is not None:
        g = g * np.asarray(weight, dtype=np.float64)[:, None]
    n = len(rows)
    m = min(m, n)
    sq = (g * g).sum(axis=1) * (x * x).sum(axis=1)
    chosen = [int(np.argmax(sq))]
    d2 = np.full(n, np.inf)
    while len(chosen) < m:
        c = chosen[-1]
        d2 = np.minimum(d2, np.maximum(sq + sq[c] - 2.0 * (g @ g[c]) * (x @ x[c]), 0.0))
        d2[chosen] = 0.0
        total = d2.sum()
        if total <= 1e-12:  # every remaining embedding coincides with a chosen one: most uncertain next
            left = [i for i in range(n) if i not in set(chosen)]
            chosen.extend(left[: m - len(chosen)])
            break
        chosen.append(int(ctx.rng.choice(n, p=d2 / total)))
    return np.asarray(chosen, dtype=np.int64)


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


# The mix's parameters besides random_share (a project setting) and batch (from the trigger); the benchmark
# may override them (`prelabel bench loop --mix-options`) to compare variants.
# how the mix spreads a batch: "kmeans" clusters the most uncertain candidates and takes them round-robin;
# "badge" seeds k-means++ over gradient embeddings (see `badge`); "categories" lets the categories take turns,
# each offering the item it is least sure of (see `category_round_robin`)
DIVERSITIES = ("kmeans", "badge", "categories")

MIX_DEFAULTS: dict[str, Any] = {
    "candidate_factor": 10, "cold_start": 25, "rare_share": 0.0, "density": 1.0, "density_until": 0,
    "multi_reduce": "min", "diversity": "kmeans",
}

STRATEGIES: dict[str, type[QueryStrategy]] = {
    "random": RandomSampling,
    "least_confidence": LeastConfidence,
    "margin": BreakingTies,
    "entropy": PredictionEntropy,
    "mix": DiversityMix,
}


def make_strategy(name: str, *, random_share: float = 0.0, batch: int = 20, **mix: Any) -> QueryStrategy:
    """A fresh strategy by name (see the module docstring). `batch`: about how many labels the next model
    will wait for (the mix spreads that many picks over clusters); `mix`: DiversityMix parameters over
    `MIX_DEFAULTS` (e.g. `cold_start`: the representative phase lasts while fewer assets are labeled)."""
    if name not in STRATEGIES:
        raise ValueError(f"Unknown query strategy {name!r}; choose one of {sorted(STRATEGIES)}.")
    if name == "mix":
        return DiversityMix(random_share=random_share, batch=batch, **{**MIX_DEFAULTS, **mix})
    return STRATEGIES[name]()
