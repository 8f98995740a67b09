"""Metrics, thresholds, ensemble selection, calibration and models on small real data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.model_selection import cross_val_predict

from prelabel.automl.calibration import choose_calibration
from prelabel.automl.ensemble import caruana_selection
from prelabel.automl.metrics import _best_f1_threshold, expected_calibration_error, fit_decision, score
from prelabel.automl.models import NBSVMClassifier, SigmoidCalibrated, build_model


@pytest.fixture(scope="module")
def tfidf(tweets: tuple[list[str], list[str]]) -> tuple[object, np.ndarray]:
    texts, y = tweets
    return TfidfVectorizer(min_df=2).fit_transform(texts), np.array([int(v) for v in y])


def test_best_f1_threshold_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1)
    best, th = _best_f1_threshold(y, p)
    brute = max(f1_score(y, (p >= t).astype(int)) for t in np.unique(p))
    assert best == pytest.approx(brute)
    assert f1_score(y, (p >= th).astype(int)) == pytest.approx(best)


def test_ece() -> None:
    y = np.array([1, 1, 0, 0])
    perfect = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    assert expected_calibration_error(y, perfect, "binary") == pytest.approx(0.0)
    # always 0.8 confident, right half of the time → ECE 0.3
    p = np.array([[0.2, 0.8], [0.8, 0.2], [0.2, 0.8], [0.8, 0.2]])
    y2 = np.array([1, 1, 0, 0])
    assert expected_calibration_error(y2, p, "binary") == pytest.approx(0.3)


def test_decision_thresholds_improve_f1(tfidf: tuple[object, np.ndarray]) -> None:
    x, y = tfidf
    oof = cross_val_predict(
        build_model({"model": "cnb", "params": {"alpha": 1.0}}, "binary", 0),
        x,
        y,
        cv=3,
        method="predict_proba",
    )
    dec = fit_decision(y, oof, "binary", "f1")
    assert dec.thresholds is not None
    assert score(y, oof, "binary", "f1", dec) >= f1_score(y, oof.argmax(axis=1)) - 1e-12


def test_caruana_picks_complementary_members(tfidf: tuple[object, np.ndarray]) -> None:
    x, y = tfidf
    oofs = [
        cross_val_predict(build_model(cfg, "binary", 0), x, y, cv=3, method="predict_proba")
        for cfg in (
            {"model": "logreg", "params": {"C": 4.0, "class_weight": "none"}},
            {"model": "mnb", "params": {"alpha": 0.1}},
            {"model": "sgd", "params": {"alpha": 1e-4, "class_weight": "none"}},
        )
    ]
    weights, blended = caruana_selection(oofs, y, "binary", "log_loss", n_iterations=10)
    assert abs(sum(weights.values()) - 1.0) < 1e-9
    assert blended >= max(score(y, p, "binary", "log_loss") for p in oofs) - 1e-12


def test_calibration_chosen_only_when_it_helps(tfidf: tuple[object, np.ndarray]) -> None:
    x, y = tfidf
    oof = cross_val_predict(
        build_model({"model": "mnb", "params": {"alpha": 0.01}}, "binary", 0),
        x,
        y,
        cv=3,
        method="predict_proba",
    )
    _cal, crossed, rep = choose_calibration(y, oof, "binary")
    assert rep["method"] in ("sigmoid", "isotonic")  # NB is over-confident: calibration must help
    assert rep["log_loss_after"] < rep["log_loss_before"]
    assert rep["ece_after"] < rep["ece_before"]
    assert crossed.shape == oof.shape
    # an already calibrated input keeps "none" or barely changes
    rng = np.random.default_rng(0)
    p1 = rng.random(2000)
    yy = (rng.random(2000) < p1).astype(int)
    _, _, rep2 = choose_calibration(yy, np.column_stack([1 - p1, p1]), "binary")
    assert rep2["log_loss_after"] <= rep2["log_loss_before"] + 1e-12


@pytest.mark.parametrize(
    "model",
    [
        NBSVMClassifier(C=2.0),
        SigmoidCalibrated(
            build_model(
                {"model": "ridge", "params": {"alpha": 1.0, "class_weight": "none"}}, "binary", 0
            ).estimator,
            random_state=0,
        ),
    ],
)
def test_custom_models_probabilities(model: object, bbc: tuple[list[str], list[str]]) -> None:
    texts, y = bbc
    x = TfidfVectorizer(min_df=2).fit_transform(texts)
    yi = np.unique(y, return_inverse=True)[1]
    p = cross_val_predict(model, x, yi, cv=3, method="predict_proba")  # type: ignore[arg-type]
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert (p.argmax(axis=1) == yi).mean() > 0.8


@pytest.mark.parametrize("which", ["tweets", "bbc"])
def test_kernel_svm_is_calibrated_on_out_of_fold_decision_values(
    which: str, request: pytest.FixtureRequest
) -> None:
    from sklearn.decomposition import TruncatedSVD

    from prelabel.automl.metrics import expected_calibration_error as ece
    from prelabel.automl.search import SearchData, evaluate, make_folds

    texts, labels = request.getfixturevalue(which)
    y = np.unique(labels, return_inverse=True)[1].astype(np.int64)
    task = "binary" if y.max() == 1 else "multiclass"
    # a real dense representation of the texts (LSA) stands in the place of sentence embeddings
    dense = TruncatedSVD(64, random_state=0).fit_transform(TfidfVectorizer(min_df=2).fit_transform(texts))
    data = SearchData(texts, y, task, int(y.max()) + 1, "accuracy", make_folds(y, task, 3, 0), dense, 0)
    config = {"features": {"kind": "emb"}, "model": "svc", "params": {"C": 1.0, "class_weight": "none"}}
    res = evaluate(data, config)
    assert res.status == "ok" and res.oof is not None and res.platt is not None
    assert len(res.platt) == data.n_classes
    np.testing.assert_allclose(res.oof.sum(axis=1), 1.0, atol=1e-5)
    assert (res.oof.argmax(axis=1) == y).mean() > 0.6
    # the sigmoids fitted on the out-of-fold decision values are much better calibrated than squashing the
    # raw decision values (which is what the model gives before `set_platt`)
    from prelabel.automl.models import platt_probabilities

    raw_oof = np.zeros(res.oof.shape)
    for tr, va in data.folds:
        raw_oof[va] = build_model(config, task, 0).fit(dense[tr], y[tr]).decision_values(dense[va], data.n_classes)
    identity = platt_probabilities(raw_oof, [(1.0, 0.0)] * data.n_classes)
    assert ece(y, res.oof.astype(np.float64), task) < 0.6 * ece(y, identity, task)
    # a model refitted on every row takes those sigmoids: probabilities follow its decision values
    model = build_model(config, task, 0).fit(dense, y)
    model.set_platt(res.platt)
    raw = model.decision_values(dense[:5], data.n_classes)
    np.testing.assert_allclose(model.predict_proba(dense[:5]), platt_probabilities(raw, res.platt))


def test_platt_converges_on_saturating_and_separable_scores() -> None:
    from prelabel.automl.calibration import platt

    rng = np.random.default_rng(0)
    # large positive scores (vote counts of a multi-class SVM): plain Newton from a=1, b=0 diverged here
    t = rng.integers(0, 2, 200)
    z = 3.0 + t + rng.normal(0, 0.8, 200)
    a, b = platt(z, t)
    assert np.isfinite([a, b]).all() and 0 < a < 20
    p = 1 / (1 + np.exp(-(a * z + b)))
    assert abs(p.mean() - t.mean()) < 0.02  # a fitted logistic model matches the base rate
    # separable scores: Platt's smoothed targets keep the slope finite
    a2, _ = platt(np.r_[np.zeros(50), np.ones(50)], np.r_[np.zeros(50), np.ones(50)].astype(int))
    assert np.isfinite(a2) and a2 < 50


@pytest.mark.parametrize(
    "config",
    [
        {"kind": "word+char", "word": {"ngram_max": 2, "min_df": 2}, "char": {"ngram_max": 4}},
        {"kind": "word", "word": {"ngram_max": 2, "min_df": 1, "select": "chi2"}},
    ],
)
def test_featurizer_fit_transform_matches_fit_then_transform(
    config: dict[str, object], tweets: tuple[list[str], list[str]]
) -> None:
    from prelabel.automl.features import TextFeaturizer, normalize_config

    texts, labels = tweets
    y = np.array([int(v) for v in labels])
    a = TextFeaturizer(normalize_config(config)).fit_transform(texts, y)
    b = TextFeaturizer(normalize_config(config)).fit(texts, y).transform(texts)
    assert a.shape == b.shape
    assert abs(a - b).max() < 1e-12


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
def test_temperature_sharpens_flat_probabilities_without_changing_any_prediction(task: str) -> None:
    from prelabel.automl.calibration import Calibrator

    rng = np.random.default_rng(0)
    k = {"binary": 2, "multiclass": 4, "multilabel": 3}[task]
    logits = rng.normal(0, 3, (400, k))
    if task == "multilabel":
        true = 1 / (1 + np.exp(-logits))
        y = (rng.random(true.shape) < true).astype(int)
        flat = 1 / (1 + np.exp(-logits / 4))  # a regularised model's too-timid probabilities
    else:
        true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = np.array([rng.choice(k, p=row) for row in true])
        flat = np.exp(logits / 4) / np.exp(logits / 4).sum(axis=1, keepdims=True)
    cal = Calibrator("temperature", task).fit(y, flat)  # type: ignore[arg-type]
    out = cal.transform(flat)
    assert len(cal.params) == 1 and 0.15 < cal.params[0] < 0.4  # the 1/4 flattening undone (T ≈ 0.25)
    assert out.shape == flat.shape
    before = expected_calibration_error(y, flat, task)  # type: ignore[arg-type]
    assert expected_calibration_error(y, out, task) < before / 3  # type: ignore[arg-type]
    if task == "multilabel":
        assert np.array_equal(np.argsort(out, axis=0), np.argsort(flat, axis=0))  # each label's ranking kept
        assert np.array_equal(out >= 0.5, flat >= 0.5)
    else:
        assert np.array_equal(out.argmax(axis=1), flat.argmax(axis=1))
        assert np.allclose(out.sum(axis=1), 1.0)


def test_few_labels_get_temperature_scaling_from_twenty_labels(bbc: tuple[list[str], list[str]]) -> None:
    from prelabel.automl import AutoTextClassifier

    texts, y = bbc
    # 40 labels: flat logistic-regression probabilities, sharpened by one temperature; same predictions
    est = AutoTextClassifier(mode="fast").fit(texts[:40], y[:40])
    raw = AutoTextClassifier(mode="fast", calibration="none").fit(texts[:40], y[:40])
    assert est.calibration_["method"] == "temperature"
    assert est.calibration_["log_loss_after"] < est.calibration_["log_loss_before"]
    held_out, truth = texts[40:], y[40:]
    p, p_raw = est.predict_proba(held_out), raw.predict_proba(held_out)
    assert np.array_equal(p.argmax(axis=1), p_raw.argmax(axis=1))
    idx = np.array([list(est.classes_).index(v) for v in truth])
    assert expected_calibration_error(idx, p, "multiclass") < expected_calibration_error(idx, p_raw, "multiclass")
    # under 20 labels the temperature comes from leave-one-out probabilities instead (next test)
    assert AutoTextClassifier(mode="fast").fit(texts[:19], y[:19]).calibration_["fitted_on"] == "leave-one-out"


def test_under_twenty_labels_a_leave_one_out_temperature_makes_the_first_model_less_timid(
    bbc: tuple[list[str], list[str]],
) -> None:
    from prelabel.automl import AutoTextClassifier

    texts, y = bbc
    # a project's first model: 15 labels, three per class, words and sentence vectors (the trainer's fast tier)
    first: list[int] = []
    for cls in sorted(set(y)):
        first += [i for i, v in enumerate(y) if v == cls][3:6]
    rest = [i for i in range(len(y)) if i not in first]
    tr_texts, tr_y = [texts[i] for i in first], [y[i] for i in first]
    est = AutoTextClassifier(mode="fast", fast_features="word+emb").fit(tr_texts, tr_y)
    raw = AutoTextClassifier(mode="fast", fast_features="word+emb", calibration="none").fit(tr_texts, tr_y)
    rep = est.calibration_
    assert rep["method"] == "temperature" and rep["fitted_on"] == "leave-one-out" and rep["rows"] == 15
    assert est.calibrator_.params[0] < 1.0  # sharpened
    p, p_raw = est.predict_proba([texts[i] for i in rest]), raw.predict_proba([texts[i] for i in rest])
    assert np.array_equal(p.argmax(axis=1), p_raw.argmax(axis=1))  # no prediction changes
    assert p.max(axis=1).mean() > p_raw.max(axis=1).mean() + 0.1
    # the queue ranks by the model's own probabilities (the temperature is for the confidence shown)
    assert np.allclose(est.ranking_proba(p), p_raw, atol=1e-6)
    assert np.array_equal(raw.ranking_proba(p_raw), p_raw)
    idx = np.array([list(est.classes_).index(y[i]) for i in rest])
    assert expected_calibration_error(idx, p, "multiclass") < expected_calibration_error(idx, p_raw, "multiclass") - 0.1
    # the out-of-fold probabilities it reports are leave-one-out ones, each with a temperature fitted without it
    assert est.oof_proba_.shape == (15, 5) and np.allclose(est.oof_proba_.sum(axis=1), 1.0)
    # explicit folds keep k-fold probabilities and no calibration under 20 labels
    assert "fitted_on" not in AutoTextClassifier(mode="fast", cv=2).fit(tr_texts, tr_y).calibration_


def test_leave_one_out_temperature_leaves_out_singleton_classes_and_is_held_in_by_its_prior() -> None:
    from prelabel.automl.calibration import leave_one_out_temperature

    rng = np.random.default_rng(0)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3])  # class 3 has one label
    logits = rng.normal(0, 0.3, (12, 4))
    logits[np.arange(12), y] += 0.8  # right on every row, but timid: top probability about 0.4
    flat = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    flat[11] = [0.4, 0.3, 0.2, 0.1]  # the singleton's row, predicted without its class: wrong
    cal, crossed, rep = leave_one_out_temperature(y, flat, "multiclass")
    assert rep["rows"] == 11 and cal.method == "temperature" and cal.params[0] < 0.5
    assert np.array_equal(crossed[11], flat[11])  # left as it was
    assert rep["ece_after"] < rep["ece_before"] and rep["log_loss_after"] < rep["log_loss_before"]
    # each row's calibrated probabilities come from a temperature fitted without it
    assert not np.allclose(crossed[:11], cal.transform(flat[:11]))
    # ten rows, every one right: maximum likelihood sharpens without end (T = e^-3); the prior holds it in
    right = np.tile([0.6, 0.4], (10, 1))
    right[5:] = [0.4, 0.6]
    ys = np.array([0] * 5 + [1] * 5)
    held, _, _ = leave_one_out_temperature(ys, right, "binary")
    free, _, _ = leave_one_out_temperature(ys, right, "binary", prior_sd=1e6)
    assert free.params[0] < 0.06 and 0.06 < held.params[0] < 1.0
    # rows that look like coin flips would flatten the model; leave-one-out rows cannot show that, so: nothing
    coin = np.tile([0.9, 0.1], (10, 1))
    flat_cal, flat_crossed, flat_rep = leave_one_out_temperature(np.array([0, 1] * 5), coin, "binary")
    assert flat_cal.method == "none" and flat_rep["method"] == "none" and np.array_equal(flat_crossed, coin)
    # fewer than two usable rows: nothing to fit
    none, same, _ = leave_one_out_temperature(np.array([0, 1, 2]), flat[:3, :3] / flat[:3, :3].sum(1, keepdims=True),
                                              "multiclass")
    assert none.method == "none" and same.shape == (3, 3)


def test_a_calibrator_that_would_predict_one_class_everywhere_is_not_used() -> None:
    # out-of-fold probabilities as on labels chosen by active learning: overconfident and barely better than
    # chance. A sigmoid fitted there has the lower log loss but flattens every row to the label prior (0.4),
    # so the most probable class would be "0" for every asset
    rng = np.random.default_rng(0)
    y = np.array([1] * 32 + [0] * 48)
    s = (2 * y - 1) * 0.3 + rng.normal(0, 1, len(y))
    p1 = 1 / (1 + np.exp(-2 * s))
    oof = np.column_stack([1 - p1, p1])
    _cal, crossed, rep = choose_calibration(y, oof, "binary")
    assert rep["candidates"]["sigmoid"]["log_loss"] < rep["candidates"]["none"]["log_loss"]
    assert "sigmoid" in rep["rejected"] and rep["method"] != "sigmoid"
    assert len(set(crossed.argmax(axis=1).tolist())) == 2  # both classes still predicted
    # asked for explicitly, a sigmoid is still fitted
    _, _, forced = choose_calibration(y, oof, "binary", ("sigmoid",))
    assert forced["method"] == "sigmoid"


def test_word_weight_scales_only_the_word_block(tweets: tuple[list[str], list[str]]) -> None:
    from prelabel.automl.features import TextFeaturizer, describe, normalize_config

    texts = tweets[0][:50]
    emb = np.random.default_rng(0).normal(size=(50, 384)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    plain = {"kind": "word+emb", "word": {"min_df": 1}}
    assert "word_weight" not in normalize_config({**plain, "word_weight": 1.0})  # the default is left out
    half = normalize_config({**plain, "word_weight": 0.25})
    assert half["word_weight"] == 0.25 and "x0.25" in describe(half)
    a = TextFeaturizer(normalize_config(plain)).fit_transform(texts, embeddings=emb).toarray()
    b = TextFeaturizer(half).fit_transform(texts, embeddings=emb).toarray()
    words = a.shape[1] - 384
    np.testing.assert_allclose(b[:, :words], 0.25 * a[:, :words], rtol=1e-6)
    np.testing.assert_allclose(b[:, words:], a[:, words:])  # the sentence vectors keep their weight
    np.testing.assert_allclose(np.linalg.norm(b[:, :words], axis=1), 0.25, rtol=1e-5)  # rows were unit TF-IDF
    for bad in (0.0, 1.5, -1.0):
        with pytest.raises(ValueError, match="word_weight must be in"):
            normalize_config({**plain, "word_weight": bad})


def _two_class(p0: np.ndarray) -> np.ndarray:
    return np.column_stack([p0, 1.0 - p0])


def test_pool_weights_match_the_labeled_rows_to_the_pools_confidence() -> None:
    from prelabel.automl.calibration import MAX_POOL_WEIGHT, pool_weights

    rng = np.random.default_rng(0)
    pool = _two_class(rng.uniform(0.5, 1.0, 2000))
    # labeled rows drawn like the pool (random sampling): weights stay near 1
    same = pool_weights(_two_class(rng.uniform(0.5, 1.0, 300)), pool)
    assert abs(same.mean() - 1) < 1e-9 and np.percentile(same, 90) < 1.5 and np.percentile(same, 10) > 0.6
    # labeled rows that are mostly hard cases (active learning): the few confident ones weigh more
    conf = np.concatenate([rng.uniform(0.5, 0.58, 40), rng.uniform(0.9, 1.0, 10)])
    w = pool_weights(_two_class(conf), pool)
    assert abs(w.mean() - 1) < 1e-9
    assert w[40:].min() > 2 * w[:40].max()
    assert w.max() <= MAX_POOL_WEIGHT * 1.5  # capped (then renormalised to mean 1)


def test_weights_act_like_repeated_rows_in_the_temperature_and_isotonic_fits() -> None:
    from prelabel.automl.calibration import Calibrator

    rng = np.random.default_rng(1)
    p = _two_class(rng.uniform(0.5, 0.8, 60))
    y = (rng.random(60) > p[:, 0]).astype(np.int64)
    w = rng.integers(1, 4, 60).astype(np.float64)
    rep = np.repeat(np.arange(60), w.astype(int))
    for method in ("temperature", "isotonic"):
        weighted = Calibrator(method, "binary").fit(y, p, w).transform(p)
        repeated = Calibrator(method, "binary").fit(y[rep], p[rep]).transform(p)
        np.testing.assert_allclose(weighted, repeated, atol=1e-4)
    assert not np.allclose(
        Calibrator("temperature", "binary").fit(y, p, w).transform(p),
        Calibrator("temperature", "binary").fit(y, p).transform(p),
    )


def test_choose_calibration_with_pool_weights_is_chosen_for_the_pool() -> None:
    """Labels chosen by uncertainty: 40 coin flips the model gets half right and 10 easy rows it always gets
    right, while the pool it predicts is mostly easy rows. Unweighted, the coin flips decide and the timid
    probabilities stay; weighted to the pool, a temperature sharpens them and the pool's ECE falls."""
    from prelabel.automl.calibration import pool_weights

    rng = np.random.default_rng(2)
    hard = rng.uniform(0.6, 0.66, 40)
    easy = rng.uniform(0.68, 0.75, 10)
    oof = _two_class(np.concatenate([hard, easy]))
    y = np.concatenate([np.arange(40) % 2, np.zeros(10)]).astype(np.int64)
    pool_p0 = np.concatenate([rng.uniform(0.6, 0.66, 200), rng.uniform(0.68, 0.75, 1800)])
    pool = _two_class(pool_p0)
    pool_y = np.concatenate([np.arange(200) % 2, np.zeros(1800)]).astype(np.int64)
    methods = ("none", "temperature")
    plain, _, rep_plain = choose_calibration(y, oof, "binary", methods, 0)
    weighted, _, rep_w = choose_calibration(y, oof, "binary", methods, 0, sample_weight=pool_weights(oof, pool))
    assert rep_plain["method"] == "none"
    assert rep_w["method"] == "temperature" and weighted.params[0] < 1.0
    ece_plain = expected_calibration_error(pool_y, plain.transform(pool), "binary")
    ece_w = expected_calibration_error(pool_y, weighted.transform(pool), "binary")
    assert ece_w < ece_plain - 0.05, (ece_plain, ece_w)


def test_sharpen_for_pool_only_ever_sharpens() -> None:
    from prelabel.automl.calibration import pool_weights, sharpen_for_pool
    from prelabel.automl.metrics import log_loss

    rng = np.random.default_rng(2)
    oof = _two_class(np.concatenate([rng.uniform(0.6, 0.66, 40), rng.uniform(0.68, 0.75, 10)]))
    y = np.concatenate([np.arange(40) % 2, np.zeros(10)]).astype(np.int64)
    easy_pool = _two_class(np.concatenate([rng.uniform(0.6, 0.66, 200), rng.uniform(0.68, 0.75, 1800)]))
    w = pool_weights(oof, easy_pool)
    t, crossed, loss = sharpen_for_pool(y, oof, "binary", w, max_t=1.0)
    assert t < 0.9 and loss < log_loss(y, oof, "binary", w)  # sharper, and better for the pool out of fold
    assert crossed.shape == oof.shape and np.allclose(crossed.sum(axis=1), 1.0)
    assert sharpen_for_pool(y, oof, "binary", w, max_t=0.5)[0] <= 0.5 + 1e-6
    # a pool of coin flips asks for flatter probabilities: the temperature stays at the cap
    hard_pool = _two_class(rng.uniform(0.6, 0.66, 2000))
    t_hard, _, _ = sharpen_for_pool(y, oof, "binary", pool_weights(oof, hard_pool), max_t=1.0)
    assert t_hard == pytest.approx(1.0, abs=1e-3)


def _micro_f1_with_fallback(y: np.ndarray, p: np.ndarray, th: np.ndarray) -> float:
    pred = (p >= th[None, :]).astype(int)
    empty = pred.sum(axis=1) == 0
    pred[empty, p[empty].argmax(axis=1)] = 1
    return float(f1_score(y, pred, average="micro", zero_division=0))


def test_at_least_one_decision_never_predicts_an_empty_set_and_is_tuned_for_it() -> None:
    rng = np.random.default_rng(4)
    n, k = 300, 5
    y = np.zeros((n, k), dtype=int)
    y[np.arange(n), rng.integers(0, k, n)] = 1  # one label per text, a few with two
    y[rng.random(n) < 0.15, 1] = 1
    p = np.clip(0.3 * y + 0.5 * rng.random((n, k)), 0, 1)  # timid: many texts pass no 0.5 threshold
    plain = fit_decision(y, p, "multilabel", "f1_micro")
    aware = fit_decision(y, p, "multilabel", "f1_micro", at_least_one=True)
    assert aware.at_least_one and not plain.at_least_one
    assert aware.thresholds is not None and (aware.thresholds == 0.5).all()  # not tuned: the fallback gives recall
    pred = aware.predict(p, "multilabel")
    assert (pred.sum(axis=1) >= 1).all()
    assert ((p >= 0.5).sum(axis=1) == 0).any()  # the fallback had work to do
    assert score(y, p, "multilabel", "f1_micro", aware) == pytest.approx(
        _micro_f1_with_fallback(y, p, np.full(k, 0.5))
    )
    # a text passing some threshold keeps exactly those labels
    passing = (p >= 0.5).any(axis=1)
    assert np.array_equal(pred[passing], (p[passing] >= 0.5).astype(int))
    empty = ~passing
    assert np.array_equal(pred[empty].argmax(axis=1), p[empty].argmax(axis=1)) and (pred[empty].sum(axis=1) == 1).all()
