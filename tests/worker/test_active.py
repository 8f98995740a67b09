"""Query strategies on toy probabilities: their order, tie-breaking, determinism, multi-label, diversity."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from prelabel.automl.active import (
    MIX_OPTIONS,
    BreakingTies,
    DiversityMix,
    EmptyPoolError,
    LeastConfidence,
    PredictionEntropy,
    QueryContext,
    RandomSampling,
    fallback_margins,
    make_strategy,
    recentre,
    uncovered_typical,
)

P = np.array(
    [
        [0.98, 0.01, 0.01],  # 0 certain
        [0.50, 0.49, 0.01],  # 1 tie between two: smallest margin
        [0.34, 0.33, 0.33],  # 2 flat: least confident, highest entropy
        [0.60, 0.20, 0.20],  # 3
        [0.55, 0.45, 0.00],  # 4
    ]
)


def ctx(p: np.ndarray = P, **kw: object) -> QueryContext:
    return QueryContext([p], **kw)  # type: ignore[arg-type]


def test_least_confidence_asks_the_flattest_row_first() -> None:
    assert LeastConfidence().query(ctx(), 5).tolist() == [2, 1, 4, 3, 0]


def test_margin_breaks_ties_first() -> None:
    assert BreakingTies().query(ctx(), 5).tolist() == [1, 2, 4, 3, 0]


def test_entropy_prefers_spread_probability() -> None:
    order = PredictionEntropy().query(ctx(), 5).tolist()
    assert order[0] == 2 and order[-1] == 0
    # rows 1 and 4 have two-way uncertainty: entropy ranks the three-way row 3 between them or after
    assert set(order[1:4]) == {1, 3, 4}


def test_several_jobs_average_uncertainty() -> None:
    second = np.array([[0.5, 0.5], [0.99, 0.01], [0.99, 0.01], [0.99, 0.01], [0.99, 0.01]])
    c = QueryContext([P, second])
    # row 0 is certain for job 1 but a coin flip for job 2; row 1 is the reverse (margin 0.01 vs 0.0)
    order = BreakingTies().query(c, 5).tolist()
    assert order.index(0) < order.index(3) and order.index(0) < order.index(4)


def test_multilabel_uses_per_category_binary_uncertainty() -> None:
    p = np.array([[0.95, 0.02, 0.01], [0.5, 0.5, 0.02], [0.6, 0.02, 0.9]])
    for strat in (LeastConfidence(), BreakingTies(), PredictionEntropy()):
        order = strat.query(QueryContext([p], [True]), 3).tolist()
        assert order[0] == 1 and order[-1] == 0, type(strat).__name__


def test_random_is_seeded_and_a_permutation() -> None:
    a = RandomSampling().score(ctx(rng=np.random.default_rng(7)))
    b = RandomSampling().score(ctx(rng=np.random.default_rng(7)))
    c = RandomSampling().score(ctx(rng=np.random.default_rng(8)))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert sorted(RandomSampling().query(ctx(), 5).tolist()) == [0, 1, 2, 3, 4]


def test_exact_ties_are_broken_reproducibly() -> None:
    p = np.tile([[0.5, 0.5]], (6, 1))
    o1 = BreakingTies().query(QueryContext([p], rng=np.random.default_rng(1)), 6).tolist()
    o2 = BreakingTies().query(QueryContext([p], rng=np.random.default_rng(1)), 6).tolist()
    assert o1 == o2 and sorted(o1) == list(range(6))


def test_mix_spreads_the_batch_over_clusters() -> None:
    rng = np.random.default_rng(0)
    # two tight clusters in feature space; every point of cluster A is more uncertain than any point of B
    feats = np.vstack(
        [rng.normal(0, 0.01, (40, 2)) + np.array([5, 0]), rng.normal(0, 0.01, (40, 2)) + np.array([0, 5])]
    )
    margin_a = rng.uniform(0.0, 0.1, 40)
    margin_b = rng.uniform(0.2, 0.3, 40)
    top = (1 + np.concatenate([margin_a, margin_b])) / 2
    p = np.stack([top, 1 - top], axis=1)
    c = QueryContext([p], features=feats, rng=np.random.default_rng(0))
    plain = BreakingTies().query(c, 10).tolist()
    assert all(i < 40 for i in plain)  # pure uncertainty takes cluster A only
    mixed = DiversityMix(random_share=0.0, batch=10, n_clusters=2).query(c, 10).tolist()
    assert sum(i < 40 for i in mixed) == 5 and sum(i >= 40 for i in mixed) == 5


def test_mix_random_share_and_full_ordering() -> None:
    p = np.random.default_rng(3).dirichlet([1, 1], 200)
    scores = DiversityMix(random_share=0.2, batch=20).score(QueryContext([p]))
    assert len(np.unique(scores)) == 200  # a strict order over the whole pool
    first20 = np.argsort(-scores)[:20]
    most_uncertain = set(BreakingTies().query(QueryContext([p]), 40).tolist())
    outside = [i for i in first20 if i not in most_uncertain]
    assert 1 <= len(outside) <= 8  # about one in five comes from the random share


def test_errors() -> None:
    with pytest.raises(EmptyPoolError):
        BreakingTies().query(QueryContext([np.zeros((0, 2))]), 1)
    with pytest.raises(ValueError, match="Unknown query strategy"):
        make_strategy("bald")
    with pytest.raises(ValueError, match="one row per pool item"):
        QueryContext([np.zeros((3, 2)), np.zeros((4, 2))])
    assert isinstance(make_strategy("mix"), DiversityMix)


def test_mix_accepts_a_feature_callable_for_candidates_only() -> None:
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(300, 5))
    p = rng.dirichlet([1, 1, 1], 300)
    asked: list[int] = []

    def featurise(rows: np.ndarray) -> np.ndarray:
        asked.extend(int(r) for r in rows)
        return feats[rows]

    strat = DiversityMix(random_share=0.1, batch=10, density=0.0)  # typicality would featurise a pool sample
    a = strat.score(QueryContext([p], features=feats, rng=np.random.default_rng(5)))
    b = strat.score(QueryContext([p], features=featurise, rng=np.random.default_rng(5)))
    assert np.array_equal(a, b)
    assert len(asked) == 100  # 10 x batch candidates, not the whole pool


def test_multilabel_uncertainty_is_measured_around_each_categorys_threshold() -> None:
    # category 0 is predicted at threshold 0.2: p = 0.2 there is a coin flip, p = 0.5 is a confident yes
    p = np.array([[0.5, 0.0], [0.2, 0.0], [0.9, 0.0]])
    th = np.array([0.2, 0.5])
    assert recentre(p, th)[:, 0].tolist() == pytest.approx([0.5 + 0.5 * 0.3 / 0.8, 0.5, 0.5 + 0.5 * 0.7 / 0.8])
    for strat in (LeastConfidence(), BreakingTies(), PredictionEntropy()):
        at_half = strat.query(QueryContext([p], [True]), 3).tolist()
        at_threshold = strat.query(QueryContext([p], [True], thresholds=[th]), 3).tolist()
        assert at_half[0] == 0 and at_threshold[0] == 1, type(strat).__name__
    # a single-choice job ignores thresholds (None), several jobs may mix both kinds
    single = np.array([[0.5, 0.5], [0.9, 0.1], [0.8, 0.2]])
    c = QueryContext([single, p], [False, True], thresholds=[None, th])
    assert BreakingTies().query(c, 3).tolist()[-1] == 2
    with pytest.raises(ValueError, match="thresholds"):
        QueryContext([p], [True], thresholds=[th, th])


def test_multilabel_row_is_as_uncertain_as_its_most_uncertain_category() -> None:
    # row 0: one undecided category among 19 obvious negatives; row 1: every category mildly unsure
    p = np.full((2, 20), 0.02)
    p[0, 7] = 0.5
    p[1, :] = 0.25
    # the mean over categories would put row 1 first (mean |2p-1| 0.5 vs 0.91); the least sure category decides
    assert np.abs(2 * p - 1).mean(axis=1).argmin() == 1
    assert BreakingTies().query(QueryContext([p], [True]), 2).tolist() == [0, 1]


def test_fallback_margins_follow_the_decision_that_names_the_most_probable_category() -> None:
    p = np.array(
        [
            [0.30, 0.28, 0.05],  # none passes: a coin flip between the two best, whatever 0.5 says
            [0.45, 0.10, 0.05],  # none passes, one clear favourite
            [0.70, 0.20, 0.10],  # the top one alone passes: chosen below 0.5 too until overtaken
            [0.60, 0.55, 0.10],  # two pass: independent categories
            [0.52, 0.49, 0.10],  # the top one alone passes, the second nearly passes and nearly overtakes
        ]
    )
    m = fallback_margins(p)
    assert m[0].tolist() == pytest.approx([0.02, 0.02, 0.25])
    assert m[1].tolist() == pytest.approx([0.35, 0.35, 0.40])
    assert m[2].tolist() == pytest.approx([0.50, 0.60, 0.80])
    assert m[3].tolist() == pytest.approx([0.20, 0.10, 0.80])
    assert m[4].tolist() == pytest.approx([0.04, 0.02, 0.80])
    assert fallback_margins(np.zeros((0, 3))).shape == (0, 3)
    assert fallback_margins(np.array([[0.2], [0.7]])).ravel().tolist() == pytest.approx([0.6, 0.4])


def test_required_multilabel_job_is_uncertain_where_its_pre_annotation_is() -> None:
    # row 0: two low categories within 0.01 of each other: the served set is a coin flip between them;
    # row 1: one category at 0.45 and nothing else: around 0.5 it looks undecided, yet the fallback names it
    p = np.array([[0.20, 0.19, 0.01], [0.45, 0.02, 0.01], [0.95, 0.02, 0.01]])
    plain = BreakingTies().query(QueryContext([p], [True]), 3).tolist()
    required = BreakingTies().query(QueryContext([p], [True], at_least_one=[True]), 3).tolist()
    assert plain[0] == 1 and required[0] == 0
    assert plain[-1] == required[-1] == 2
    # other strategies have no rule of their own: the flag leaves them as they were
    for strat in (LeastConfidence(), PredictionEntropy()):
        a = strat.uncertainty(QueryContext([p], [True]))
        b = strat.uncertainty(QueryContext([p], [True], at_least_one=[True]))
        assert a.tolist() == b.tolist()
    # single-choice jobs ignore the flag; its length must match the jobs
    single = np.array([[0.5, 0.5], [0.9, 0.1], [0.8, 0.2]])
    a = BreakingTies().uncertainty(QueryContext([single], [False]))
    b = BreakingTies().uncertainty(QueryContext([single], [False], at_least_one=[True]))
    assert a.tolist() == b.tolist()
    with pytest.raises(ValueError, match="at_least_one"):
        QueryContext([p], [True], at_least_one=[True, False])


def _tfidf_sample(datasets: Path, n: int) -> tuple[list[str], list[str], np.ndarray]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    with (datasets / "bbc_news" / "train.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rows = [rows[i] for i in np.random.default_rng(0).choice(len(rows), n, replace=False)]  # the file is sorted
    texts = [r["text"] for r in rows]
    labels = [r["label"] for r in rows]
    return texts, labels, TfidfVectorizer(sublinear_tf=True, min_df=2).fit_transform(texts)


def test_mix_cold_start_asks_for_representative_items_of_different_clusters(datasets: Path) -> None:
    _texts, labels, x = _tfidf_sample(datasets, 300)
    # an uninformed model (10 labels): it is "most unsure" about one topic only, as early models often are
    topic = labels[0]
    unsure = np.array([0.52 if y == topic else 0.9 for y in labels])
    p = np.stack([unsure, 1 - unsure], axis=1)
    warm = DiversityMix(random_share=0.0, batch=10, cold_start=30)
    hot = warm.query(QueryContext([p], features=x, rng=np.random.default_rng(0), n_labeled=40), 10).tolist()
    cold = warm.query(QueryContext([p], features=x, rng=np.random.default_rng(0), n_labeled=10), 10).tolist()
    # after the cold start: the most uncertain items, spread over clusters of the uncertain candidates
    assert sum(labels[i] == topic for i in hot) >= 6, [labels[i] for i in hot]
    # cold start: cluster centres of the whole pool, so the first batch covers most of the 5 topics
    assert len({labels[i] for i in cold}) >= 4 and sum(labels[i] == topic for i in cold) <= 4, cold
    assert not warm.cold(QueryContext([p], n_labeled=10))  # no features: no cold start
    assert not warm.cold(QueryContext([p], features=x))  # unknown label count: no cold start
    full = warm.score(QueryContext([p], features=x, rng=np.random.default_rng(0), n_labeled=10))
    assert len(np.unique(full)) == 300  # still a strict order over the whole pool


def test_cold_start_knowing_the_labels_asks_for_the_regions_they_do_not_cover(datasets: Path) -> None:
    _texts, labels, x = _tfidf_sample(datasets, 300)
    topics = sorted(set(labels))
    # ten labels, all from two topics: the pool's other three topics are what a labeler should see next
    known = topics[:2]
    lab_rows = [i for i, y in enumerate(labels) if y in known][:10]
    pool = np.array([i for i in range(len(labels)) if i not in set(lab_rows)])
    pool_x, lab_x = x[pool], x[lab_rows]
    p = np.tile([0.6, 0.4], (len(pool), 1))  # an uninformed model: uncertainty points nowhere
    c = QueryContext([p], features=pool_x, rng=np.random.default_rng(0), n_labeled=10, labeled_features=lab_x)
    picks = uncovered_typical(c, 5)
    assert len(picks) == len(set(picks)) == 5
    new_topics = [labels[pool[i]] for i in picks]
    assert sum(t not in known for t in new_topics) >= 4, new_topics
    assert len(set(new_topics) - set(known)) == 3, new_topics  # every uncovered topic
    # the mix in its cold start asks for them first, featurising the labeled items only then
    mix = DiversityMix(batch=5, cold_start=20, density=0.0)
    called: list[int] = []

    def lazy() -> object:
        called.append(1)
        return lab_x

    order = mix.query(
        QueryContext([p], features=pool_x, rng=np.random.default_rng(0), n_labeled=10, labeled_features=lazy), 5
    )
    assert called and sum(labels[pool[i]] not in known for i in order) >= 4
    hot = QueryContext([p], features=pool_x, rng=np.random.default_rng(0), n_labeled=30, labeled_features=lazy)
    called.clear()
    mix.query(hot, 5)
    assert not called  # after the cold start the labeled items are not featurised


def test_make_strategy_passes_batch_and_cold_start() -> None:
    s = make_strategy("mix", random_share=0.2, batch=37, cold_start=12)
    assert isinstance(s, DiversityMix) and (s.batch, s.cold_start, s.random_share) == (37, 12, 0.2)
    # what every project runs: the constructor's defaults, no module state to rewrite
    default = make_strategy("mix")
    assert isinstance(default, DiversityMix)
    assert default.options() == {"candidate_factor": 10, "cold_start": 25, "density": 1.0}
    assert set(DiversityMix().options()) == set(MIX_OPTIONS)
    with pytest.raises(ValueError, match="positive"):
        DiversityMix(batch=0)
    with pytest.raises(ValueError, match="Only the mix takes options"):
        make_strategy("mix", rare_share=0.5)
    with pytest.raises(ValueError, match="Only the mix takes options"):
        make_strategy("margin", cold_start=0)


def test_typicality_is_high_in_dense_regions_and_low_for_outliers() -> None:
    from prelabel.automl.active import typicality

    rng = np.random.default_rng(0)
    centre = np.zeros(20)
    centre[0] = 3.0
    x = np.vstack([centre + rng.normal(0, 0.1, (300, 20)), rng.normal(0, 1, (5, 20))])  # a blob, 5 outliers
    typ = typicality(x, np.arange(305), 305, np.random.default_rng(1))
    assert typ.shape == (305,) and np.all((typ >= 0) & (typ <= 1))
    assert typ[:300].min() > 0.9 > 0.5 > typ[300:].max()
    # a row of the reference sample does not count itself: one point alone has no neighbour like it
    lone = np.vstack([x[:300], -centre])
    assert typicality(lone, np.array([300]), 301, np.random.default_rng(2), sample=301)[0] == 0.0
    # tiny pools: a defined answer, and the mix still orders every item
    assert typicality(x[:2], np.arange(2), 2, np.random.default_rng(0)).tolist() == [1.0, 1.0]
    assert typicality(x[:3], np.arange(3), 3, np.random.default_rng(0)).shape == (3,)
    p = np.array([[0.5, 0.5], [0.6, 0.4], [0.9, 0.1]])
    order = DiversityMix(batch=1, density=1.0).query(QueryContext([p], features=x[:3], n_labeled=5), 3)
    assert sorted(order.tolist()) == [0, 1, 2]


def test_mix_density_prefers_typical_uncertain_items(datasets: Path) -> None:
    _texts, _labels, x = _tfidf_sample(datasets, 300)
    rng = np.random.default_rng(0)
    # every item equally uncertain but a handful of near-empty, junk rows that are a little more uncertain
    x = x.tolil()
    junk = rng.choice(300, size=20, replace=False)
    for i in junk:
        x[i] = 0
        x[i, int(rng.integers(0, x.shape[1]))] = 1.0  # one rare word: an outlier in the feature space
    x = x.tocsr()
    unsure = np.full(300, 0.6)
    unsure[junk] = 0.55
    p = np.stack([unsure, 1 - unsure], axis=1)
    plain = DiversityMix(batch=10, density=0.0).query(QueryContext([p], features=x, rng=np.random.default_rng(0)), 10)
    dense = DiversityMix(batch=10, density=1.0)
    picked = dense.query(QueryContext([p], features=x, rng=np.random.default_rng(0), n_labeled=20), 10)
    assert len(set(plain.tolist()) & set(junk.tolist())) >= 8  # uncertainty alone asks for the junk
    assert not set(picked.tolist()) & set(junk.tolist())  # weighted by typicality it does not
    assert not dense.dense(QueryContext([p]))  # no features: plain uncertainty
    multi = QueryContext([p, p], multi_label=[False, True], features=x, n_labeled=20)
    assert not dense.dense(multi)  # a multi-choice job: plain uncertainty
    with pytest.raises(ValueError, match="density"):
        DiversityMix(density=-1.0)
