"""Budgeted search: Optuna TPE over (feature configuration, model, hyper-parameters), scored by k-fold CV.

* Folds are stratified (single-label) and k adapts to the rarest class; features are fitted once per fold and
  vectorizer configuration and reused by every later trial in the same process (:data:`_FEATURE_CACHE`).
* A trial is pruned after a fold when its running mean fold score is below the median running score of
  the completed trials at the same fold (median stopping rule), or stopped when it exceeds the per-trial
  time limit or the search deadline (checked between folds: a running fit is never interrupted).
* ``n_jobs > 1`` evaluates trials in worker processes (loky; Optuna threads would be held back by the GIL).
  The data set is written once to a temporary file which each worker loads once. With ``deterministic=True``
  trials are asked and told in fixed batches of ``n_jobs`` so that the same data, ``random_state`` and
  ``max_trials`` give the same trials (as long as no time limit is hit); otherwise a new trial starts as
  soon as a worker is free.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
from numpy.typing import NDArray
from sklearn.feature_selection import SelectKBest
from sklearn.model_selection import KFold, StratifiedKFold

from prelabel.automl import features as F
from prelabel.automl.metrics import Task, score
from prelabel.automl.models import (
    OOF_PLATT_MODELS,
    build_model,
    fit_model,
    fit_oof_platt,
    models_for,
    params_to_optuna,
    platt_probabilities,
    predict_proba_aligned,
    suggest_params,
)

logger = logging.getLogger("prelabel.automl")

Config = dict[str, Any]  # {"features": FeatureConfig, "model": str, "params": {...}}
PRUNE_MIN_COMPLETED = 5
FEATURE_CACHE_BYTES = 3 * 1024**3
WORKER_IDLE_TIMEOUT = 120  # seconds an idle worker process is kept for the next fit
KILL_GRACE = 1.0  # seconds past the search deadline before busy workers are killed
KILLED = "killed at the search deadline"
REFIT_RESERVE_TOP = 3  # the search leaves time to refit the slowest of its 3 best trials ...
REFIT_RESERVE_FACTOR = 1.3  # ... with this margin


@dataclass
class SearchData:
    texts: list[str]
    y: NDArray[np.int64]  # class indices (single-label) or indicator matrix (multi-label)
    task: Task
    n_classes: int
    metric: str
    folds: list[tuple[NDArray[np.int64], NDArray[np.int64]]]
    embeddings: NDArray[np.float32] | None
    random_state: int | None
    key: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class TrialResult:
    number: int
    config: Config
    status: str  # ok | pruned | timeout | failed
    score: float = float("nan")
    fold_scores: list[float] = field(default_factory=list)
    oof: NDArray[np.float32] | None = None
    platt: list[tuple[float, float]] | None = None  # OOF-fitted sigmoids of an OOF_PLATT_MODELS member
    fit_time: float = 0.0  # seconds spent fitting models (features excluded)
    duration: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class SearchSpace:
    kinds: tuple[str, ...]
    models: tuple[str, ...]
    task: Task

    def model_group(self, kind: str) -> str:
        return "dense" if F.is_dense(kind) else ("nonneg" if F.is_nonnegative(kind) else "mixed")


def make_folds(
    y: NDArray[np.int64], task: Task, n_splits: int | None, random_state: int | None
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Stratified k-fold for single-label tasks with k adapted to the rarest class (2..5, 3 for large sets);
    shuffled k-fold for multi-label tasks."""
    n = len(y)
    if n_splits is None:
        n_splits = 5 if n < 4000 else 3
    if task == "multilabel":
        k = max(2, min(n_splits, n))
        splitter: Any = KFold(k, shuffle=True, random_state=random_state)
        return [(tr.astype(np.int64), va.astype(np.int64)) for tr, va in splitter.split(np.zeros(n))]
    min_count = int(np.bincount(y).min())
    k = max(2, min(n_splits, min_count))
    if min_count >= 2:
        splitter = StratifiedKFold(k, shuffle=True, random_state=random_state)
        return [(tr.astype(np.int64), va.astype(np.int64)) for tr, va in splitter.split(np.zeros(n), y)]
    splitter = KFold(max(2, min(n_splits, n)), shuffle=True, random_state=random_state)
    return [(tr.astype(np.int64), va.astype(np.int64)) for tr, va in splitter.split(np.zeros(n))]


# ----------------------------------------------------------------------------------------------- caches
_DATA_CACHE: dict[str, SearchData] = {}
_FEATURE_CACHE: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()
_feature_cache_bytes = [0]


def _nbytes(m: Any) -> int:
    if hasattr(m, "data") and hasattr(m, "indices"):
        return int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes)
    return int(getattr(m, "nbytes", 0))


def _cache_put(key: tuple[Any, ...], value: tuple[Any, Any]) -> None:
    _FEATURE_CACHE[key] = value
    _feature_cache_bytes[0] += _nbytes(value[0]) + _nbytes(value[1])
    while _feature_cache_bytes[0] > FEATURE_CACHE_BYTES and len(_FEATURE_CACHE) > 1:
        _, old = _FEATURE_CACHE.popitem(last=False)
        _feature_cache_bytes[0] -= _nbytes(old[0]) + _nbytes(old[1])


def clear_caches() -> None:
    _DATA_CACHE.clear()
    _FEATURE_CACHE.clear()
    _feature_cache_bytes[0] = 0


def fold_features(data: SearchData, feat: F.FeatureConfig, fold: int) -> tuple[Any, Any]:
    """Training and validation matrices of one fold, built from cached vectorizer outputs."""
    tr, va = data.folds[fold]
    blocks_tr: list[Any] = []
    blocks_va: list[Any] = []
    for part in F.parts(feat["kind"]):
        if part == "emb":
            assert data.embeddings is not None, "embedding features requested without embeddings"
            blocks_tr.append(data.embeddings[tr])
            blocks_va.append(data.embeddings[va])
            continue
        vkey = (data.key, fold, F.vectorizer_key(part, feat))
        if vkey in _FEATURE_CACHE:
            _FEATURE_CACHE.move_to_end(vkey)
            xtr, xva = _FEATURE_CACHE[vkey]
        else:
            vec = F.make_vectorizer(part, feat, len(tr))
            xtr = vec.fit_transform([data.texts[i] for i in tr])
            xva = vec.transform([data.texts[i] for i in va])
            _cache_put(vkey, (xtr, xva))
        if part == "word" and data.task != "multilabel" and feat["word"].get("select"):
            skey = (*vkey, "select", feat["word"]["select"])
            if skey in _FEATURE_CACHE:
                _FEATURE_CACHE.move_to_end(skey)
                xtr, xva = _FEATURE_CACHE[skey]
            else:
                sel: SelectKBest | None = F.make_selector(feat, xtr.shape[1])
                if sel is not None:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        sel.fit(xtr, data.y[tr])
                    xtr, xva = sel.transform(xtr), sel.transform(xva)
                _cache_put(skey, (xtr, xva))
        blocks_tr.append(xtr)
        blocks_va.append(xva)
    return F.combine(blocks_tr, feat), F.combine(blocks_va, feat)


def evaluate(
    data: SearchData,
    config: Config,
    number: int = 0,
    deadline: float = float("inf"),
    trial_limit: float = float("inf"),
    prune_bars: Sequence[float | None] = (),
) -> TrialResult:
    """Cross-validate one configuration; out-of-fold probabilities are returned for completed trials."""
    start = time.time()
    result = TrialResult(number=number, config=config, status="ok")
    feat = F.normalize_config(config["features"])
    width = data.y.shape[1] if data.task == "multilabel" else data.n_classes
    oof = np.zeros((len(data.texts), width), dtype=np.float32)
    # kernel SVM: raw out-of-fold decision values, one sigmoid per class fitted on them after the last fold
    oof_raw = np.zeros(oof.shape) if config.get("model") in OOF_PLATT_MODELS and data.task != "multilabel" else None
    k = len(data.folds)
    running = 0.0
    try:
        for i, (tr, va) in enumerate(data.folds):
            xtr, xva = fold_features(data, feat, i)
            t0 = time.time()
            seen = np.unique(data.y[tr]) if data.task != "multilabel" else None
            if seen is not None and len(seen) < 2:  # degenerate fold (tiny data): predict the only class
                p = np.zeros((len(va), data.n_classes))
                p[:, seen[0]] = 1.0
                if oof_raw is not None:
                    oof_raw[va] = np.where(p > 0, 10.0, -10.0)
            else:
                model = build_model(config, data.task, data.random_state)
                fit_model(model, xtr, data.y[tr])
                p = predict_proba_aligned(model, xva, data.task, data.n_classes)
                if oof_raw is not None:
                    oof_raw[va] = model.decision_values(xva, data.n_classes)
            result.fit_time += time.time() - t0
            oof[va] = p
            fs = score(data.y[va], p, data.task, data.metric)
            result.fold_scores.append(fs)
            running += fs
            if i == k - 1:
                break
            now = time.time()
            if now > deadline:
                result.status = "timeout"
                result.error = "search budget exhausted"
                break
            if now - start > trial_limit:
                result.status = "timeout"
                result.error = f"per-trial limit of {trial_limit:.1f} s exceeded"
                break
            bar = prune_bars[i] if i < len(prune_bars) else None
            if bar is not None and running / (i + 1) < bar:
                result.status = "pruned"
                break
    except Exception as exc:  # a configuration that cannot be fitted on these data is a failed trial
        result.status = "failed"
        result.error = f"{type(exc).__name__}: {exc}"
    result.duration = time.time() - start
    if result.status == "ok":
        if oof_raw is not None:
            result.platt = fit_oof_platt(oof_raw, data.y)
            oof = platt_probabilities(oof_raw, result.platt).astype(np.float32)
        result.score = score(data.y, oof, data.task, data.metric)
        result.oof = oof
    elif result.fold_scores:
        result.score = float(np.mean(result.fold_scores))
    return result


def _warm_up() -> int:
    return os.getpid()


def prewarm_workers(n_jobs: int) -> None:
    """Start the worker processes (and their imports) while the main process prepares the data."""
    if n_jobs <= 1:
        return
    from joblib.externals.loky import get_reusable_executor

    executor = get_reusable_executor(max_workers=n_jobs, timeout=WORKER_IDLE_TIMEOUT)
    for _ in range(n_jobs):
        executor.submit(_warm_up)


def _evaluate_in_worker(
    path: str, config: Config, number: int, deadline: float, trial_limit: float, bars: list[float | None]
) -> TrialResult:
    from threadpoolctl import threadpool_limits

    if path not in _DATA_CACHE:
        for stale in list(_DATA_CACHE):
            del _DATA_CACHE[stale]
        _FEATURE_CACHE.clear()
        _feature_cache_bytes[0] = 0
        _DATA_CACHE[path] = joblib.load(path)
    with threadpool_limits(1):
        return evaluate(_DATA_CACHE[path], config, number, deadline, trial_limit, bars)


# ----------------------------------------------------------------------------------------------- space
def suggest_config(trial: Any, space: SearchSpace) -> Config:
    kind = trial.suggest_categorical("features", space.kinds)
    feat: F.FeatureConfig = {"kind": kind}
    if "word" in F.parts(kind):
        select_choices = ("none",) if space.task == "multilabel" else ("none", "f_classif", "chi2")
        select = trial.suggest_categorical("word_select", select_choices)
        feat["word"] = {
            "ngram_max": trial.suggest_categorical("word_ngram_max", (1, 2, 3)),
            "min_df": trial.suggest_categorical("word_min_df", (1, 2, 3)),
            "max_df": trial.suggest_categorical("word_max_df", (0.5, 1.0)),
            "sublinear": trial.suggest_categorical("word_sublinear", (True, False)),
            "select": None if select == "none" else select,
        }
    if "char" in F.parts(kind):
        feat["char"] = {"ngram_max": trial.suggest_categorical("char_ngram_max", (4, 5))}
    if "emb" in F.parts(kind) and kind != "emb":
        feat["emb_weight"] = trial.suggest_categorical("emb_weight", (0.5, 1.0, 2.0))
    choices = models_for(kind, space.task, space.models)
    model = trial.suggest_categorical(f"model_{space.model_group(kind)}", choices)
    return {"features": F.normalize_config(feat), "model": model, "params": suggest_params(trial, model)}


def config_to_optuna(config: Config, space: SearchSpace) -> dict[str, Any]:
    """Optuna parameter dict of a configuration (for ``study.enqueue_trial``)."""
    feat = F.normalize_config(config["features"])
    kind = feat["kind"]
    out: dict[str, Any] = {"features": kind}
    if "word" in feat:
        w = feat["word"]
        out.update(
            word_ngram_max=w["ngram_max"],
            word_min_df=w["min_df"],
            word_max_df=w["max_df"],
            word_sublinear=w["sublinear"],
            word_select=w["select"] or "none",
        )
    if "char" in feat:
        out["char_ngram_max"] = feat["char"]["ngram_max"]
    if "emb_weight" in feat:
        out["emb_weight"] = feat["emb_weight"]
    out[f"model_{space.model_group(kind)}"] = config["model"]
    out.update(params_to_optuna(config["model"], config.get("params", {})))
    return out


def config_fits_space(config: Config, space: SearchSpace) -> bool:
    try:
        kind = F.normalize_config(config["features"])["kind"]
    except (KeyError, TypeError, ValueError):
        return False
    return kind in space.kinds and config.get("model") in models_for(kind, space.task, space.models)


def seed_configs(space: SearchSpace) -> list[Config]:
    """Strong, diverse first trials (measured defaults) so that the ensemble has material even on 15 s."""
    w = {**F.DEFAULT_WORD}
    lr = {"C": 4.0, "class_weight": "none"}
    seeds: list[Config] = [
        {"features": {"kind": "word", "word": w}, "model": "logreg", "params": lr},
        {"features": {"kind": "emb"}, "model": "logreg", "params": {"C": 4.0, "class_weight": "none"}},
        {"features": {"kind": "emb"}, "model": "svc", "params": {"C": 1.0, "class_weight": "none"}},
        {"features": {"kind": "word+emb", "word": w, "emb_weight": 1.0}, "model": "logreg", "params": lr},
        {"features": {"kind": "word", "word": w}, "model": "nbsvm", "params": lr},
        {"features": {"kind": "word+char", "word": w, "char": F.DEFAULT_CHAR}, "model": "logreg",
         "params": {"C": 10.0, "class_weight": "none"}},
        {"features": {"kind": "word", "word": {**w, "ngram_max": 1, "min_df": 1}}, "model": "cnb",
         "params": {"alpha": 0.3}},
    ]
    return [s for s in seeds if config_fits_space(s, space)]


# ----------------------------------------------------------------------------------------------- search
def _prune_bars(completed: list[TrialResult], n_folds: int) -> list[float | None]:
    done = [r for r in completed if r.status == "ok" and len(r.fold_scores) == n_folds]
    if len(done) < PRUNE_MIN_COMPLETED:
        return []
    first_check = 1 if n_folds >= 4 else 0
    bars: list[float | None] = []
    for i in range(n_folds - 1):
        if i < first_check:
            bars.append(None)
            continue
        running = [float(np.mean(r.fold_scores[: i + 1])) for r in done]
        bars.append(float(np.median(running)))
    return bars


def _repeat(res: TrialResult) -> TrialResult:
    return TrialResult(
        number=res.number, config=res.config, status="duplicate" if res.status == "ok" else res.status,
        score=res.score, fold_scores=list(res.fold_scores), error="same configuration as an earlier trial",
    )


def run_search(
    data: SearchData,
    space: SearchSpace,
    deadline: float,
    max_trials: int | None,
    trial_limit: float,
    n_jobs: int,
    warm_start: Sequence[Config] = (),
    deterministic: bool = False,
    on_result: Callable[[TrialResult], None] | None = None,
    info: dict[str, Any] | None = None,
    hard_end: float | None = None,
) -> list[TrialResult]:
    """Run trials until ``deadline`` (wall clock, ``time.time()``) or ``max_trials``; returns every result.

    ``hard_end``, when given, is the end of the whole fit: the search then also stops early enough to leave
    the refit of its best trials on all rows (estimated from their cross-validation time) before it.

    ``info``, when given, receives ``stop_reason`` (``"max_trials"`` or ``"deadline"``) and
    ``killed_at_deadline`` (trials still running at the hard deadline, stopped with their worker).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=data.random_state,
            multivariate=True,
            group=True,
            constant_liar=True,
            n_startup_trials=8,
        )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    queued = [c for c in warm_start if config_fits_space(c, space)] + seed_configs(space)
    for cfg in queued:
        study.enqueue_trial(config_to_optuna(cfg, space), skip_if_exists=True)

    results: list[TrialResult] = []
    n_folds = len(data.folds)
    executor: Any = None
    path = ""
    tmpdir: tempfile.TemporaryDirectory[str] | None = None
    if n_jobs > 1:
        from joblib.externals.loky import get_reusable_executor

        tmpdir = tempfile.TemporaryDirectory(prefix="prelabel-automl-")
        path = os.path.join(tmpdir.name, f"data-{data.key}.joblib")
        joblib.dump(data, path)
        executor = get_reusable_executor(max_workers=n_jobs, timeout=WORKER_IDLE_TIMEOUT)

    running: dict[Future[TrialResult], Any] = {}
    asked = 0
    configs: dict[int, Config] = {}
    evaluated: dict[str, TrialResult] = {}  # TPE can propose a configuration again: reuse its result

    def search_deadline() -> float:
        if hard_end is None:
            return deadline
        ok = sorted((r for r in results if r.status == "ok"), key=lambda r: -r.score)[:REFIT_RESERVE_TOP]
        if not ok:
            return deadline
        # a refit on all rows costs about a fold on k/(k-1) times its rows (features included)
        reserve = REFIT_RESERVE_FACTOR * max(r.duration for r in ok) / max(1, n_folds - 1) + 1.0
        return min(deadline, hard_end - reserve)

    def budget_left() -> bool:
        # do not start a trial that cannot finish a typical fold before the deadline
        folds = [r.duration / max(1, len(r.fold_scores)) for r in results if r.fold_scores]
        typical = float(np.median(folds)) if folds else 0.0
        return time.time() + typical < search_deadline() and (max_trials is None or asked < max_trials)

    def ask() -> tuple[Any, Config]:
        nonlocal asked
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = study.ask()
        asked += 1
        configs[trial.number] = suggest_config(trial, space)
        return trial, configs[trial.number]

    def limits(number: int) -> tuple[float, float]:
        # the first batch always completes, so that there is a model even when start-up ate the budget
        return (float("inf"), float("inf")) if number < max(1, n_jobs) else (search_deadline(), trial_limit)

    def tell(trial: Any, res: TrialResult) -> None:
        res.number = trial.number
        results.append(res)
        if res.status in ("ok", "pruned", "failed"):
            evaluated.setdefault(repr(res.config), res)
        if res.status in ("ok", "duplicate"):
            study.tell(trial, res.score)
        elif res.status == "pruned" or res.status == "timeout":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        logger.info(
            "trial %d %s %s/%s score=%.4f %.1fs %s",
            res.number, res.status, F.describe(res.config["features"]), res.config["model"],
            res.score, res.duration, res.error,
        )
        if on_result is not None:
            on_result(res)

    try:
        if executor is None:
            while budget_left():
                trial, cfg = ask()
                if repr(cfg) in evaluated:
                    tell(trial, _repeat(evaluated[repr(cfg)]))
                    continue
                bars = _prune_bars(results, n_folds)
                dl, tl = limits(trial.number)
                tell(trial, evaluate(data, cfg, trial.number, dl, tl, bars))
        else:
            while budget_left() or running:
                if not deterministic or not running:
                    while budget_left() and len(running) < n_jobs:
                        trial, cfg = ask()
                        if repr(cfg) in evaluated:
                            tell(trial, _repeat(evaluated[repr(cfg)]))
                            continue
                        bars = _prune_bars(results, n_folds)
                        dl, tl = limits(trial.number)
                        fut = executor.submit(_evaluate_in_worker, path, cfg, trial.number, dl, tl, bars)
                        running[fut] = trial
                if not running:
                    break
                have_model = any(r.status == "ok" for r in results)
                exempt_running = any(t.number < max(1, n_jobs) for t in running.values())
                timeout = (
                    max(0.0, search_deadline() + KILL_GRACE - time.time())
                    if have_model and not exempt_running
                    else None
                )
                done, _ = wait(
                    list(running),
                    timeout=timeout,
                    return_when=ALL_COMPLETED if deterministic else FIRST_COMPLETED,
                )
                if not done:
                    # hard deadline: stop the workers still busy (they are respawned on the next use)
                    executor.shutdown(wait=False, kill_workers=True)
                    for trial in sorted(running.values(), key=lambda t: t.number):
                        late = TrialResult(
                            trial.number, configs[trial.number], "timeout", error=KILLED
                        )
                        results.append(late)
                        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    running.clear()
                    break
                ordered = sorted(done, key=lambda f: running[f].number)
                for fut in ordered:
                    trial = running.pop(fut)
                    try:
                        res = fut.result()
                    except Exception as exc:  # worker crash (e.g. out of memory)
                        res = TrialResult(trial.number, {}, "failed", error=f"{type(exc).__name__}: {exc}")
                        results.append(res)
                        study.tell(trial, state=optuna.trial.TrialState.FAIL)
                        continue
                    tell(trial, res)
        if info is not None:
            info["stop_reason"] = "max_trials" if max_trials is not None and asked >= max_trials else "deadline"
            info["killed_at_deadline"] = sum(r.error == KILLED for r in results)
    finally:
        if tmpdir is not None:
            with contextlib.suppress(OSError):
                tmpdir.cleanup()
    return results

