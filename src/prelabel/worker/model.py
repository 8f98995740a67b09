"""The seam between the trainer and the AutoML engine: one `AutoTextClassifier` per job of a project.

`ProjectModel.fit` trains each job on the effective labels that answer it (single-choice: the chosen
category; multi-choice: the chosen set), `predict_proba` returns one (n, n_categories) matrix per job in the
interface's category order, and `responses` turns them into prediction json_responses in the domain shape::

    {"JOB": {"categories": [{"name", "confidence", "probability"}], "probabilities": {key: p, ...}}}

Fast tier: the engine's fast mode (a robust default fitted in about a second; word TF-IDF, plus the MiniLM
sentence vectors of the texts already encoded, a word-only fallback for the others). Search tier: a budgeted search
warm-started from the previous version's `best_configs_` per job.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from numpy.typing import NDArray

from prelabel.automl.embeddings import default_cache_dir
from prelabel.automl.zeroshot import ZeroShotPrior
from prelabel.domain import Interface, Job

FloatArray = NDArray[np.float64]
ARTIFACT_FORMAT = 1
MAX_LEADERBOARD = 25
MIN_FOLD_BUDGET_S = 5.0  # a searched classifier's honest estimate: search budget of each fold, at least
SEARCH_REPEATS = 2  # and its repeats at most (each refits the search on every fold)


class NotEnoughLabels(ValueError):
    """No job of the project has labels with at least two different answers yet."""


@dataclass
class TrainingSet:
    """Training rows of one job: asset ids, texts and targets (a category key, or a list of keys)."""

    asset_ids: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    targets: list[Any] = field(default_factory=list)


def training_sets(
    interface: Interface, rows: Sequence[tuple[int, str, dict[str, Any]]]
) -> dict[str, TrainingSet]:
    """Split effective labels ``(asset_id, content, json_response)`` into one training set per job."""
    out = {job.name: TrainingSet() for job in interface.jobs}
    for asset_id, content, response in rows:
        if not content or not content.strip():
            continue
        for job in interface.jobs:
            value = (response or {}).get(job.name)
            if not isinstance(value, dict):
                continue
            names = [c.get("name") for c in value.get("categories", []) if isinstance(c, dict)]
            names = [n for n in names if n in job.category_keys()]
            if job.input == "single":
                if len(names) != 1:
                    continue
                target: Any = names[0]
            else:
                target = names
            ts = out[job.name]
            ts.asset_ids.append(asset_id)
            ts.texts.append(content)
            ts.targets.append(target)
    return out


def _skip_reason(job: Job, ts: TrainingSet) -> str | None:
    if job.input == "single":
        distinct = sorted(set(ts.targets))
        if len(distinct) < 2:
            return (
                f"needs labels with at least 2 different categories; has {len(ts.targets)} label(s) "
                f"of {distinct}"
            )
    else:
        used = sorted({c for t in ts.targets for c in t})
        if not used:
            return "needs at least one label with a category"
    return None


class ProjectModel:
    """One classifier per job; `fit` on effective labels, `predict_proba` per job, picklable via
    `to_bytes`."""

    def __init__(
        self,
        interface: Interface,
        *,
        tier: str = "fast",
        time_budget: float = 30.0,
        warm_start: dict[str, list[dict[str, Any]]] | None = None,
        random_state: int = 0,
        n_jobs: int = 1,
        cache_dir: str | None = None,
        max_trials: int | None = None,
        fast_features: str = "word",
        feature_sets: Sequence[str] | None = None,
        partial_vectors: bool = False,
        zero_shot: bool = True,
    ) -> None:
        self.interface = interface
        self.fast_features = fast_features
        self.partial_vectors = partial_vectors and fast_features == "word+emb"
        self.zero_shot = zero_shot
        self.feature_sets = list(feature_sets) if feature_sets is not None else None
        self.tier = tier
        self.time_budget = time_budget
        self.warm_start = warm_start or {}
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.max_trials = max_trials
        self.models: dict[str, Any] = {}
        self.fallbacks: dict[str, Any] = {}  # word-only models for the texts without sentence vectors yet
        self.priors: dict[str, ZeroShotPrior] = {}  # single-choice jobs: the zero-shot model blended in
        self.skipped: dict[str, str] = {}
        self.train_sets: dict[str, TrainingSet] = {}
        self.fit_seconds: dict[str, float] = {}

    def _estimator(self, job: Job, ts: TrainingSet) -> Any:
        """The job's classifier. A required multi-choice job's pre-annotation always names a category (the
        most probable one when none passes its threshold, `responses`), so its model is fitted for that
        (`at_least_one`: thresholds 0.5 with that fallback) as long as every label names one."""
        from prelabel.automl import AutoTextClassifier

        at_least_one = job.input == "multi" and job.required and all(len(t) > 0 for t in ts.targets)
        if self.tier == "fast":
            return AutoTextClassifier(
                mode="fast",
                time_budget=0,
                random_state=self.random_state,
                cache_dir=self.cache_dir,
                fast_features=self.fast_features,
                at_least_one=at_least_one,
            )
        return AutoTextClassifier(
            time_budget=self.time_budget,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            warm_start=self.warm_start.get(job.name) or None,
            cache_dir=self.cache_dir,
            max_trials=self.max_trials,
            fast_features=self.fast_features,
            feature_sets=self.feature_sets,
            at_least_one=at_least_one,
        )

    def fit(
        self,
        sets: dict[str, TrainingSet],
        *,
        on_job: Callable[[str, int, int], None] | None = None,
        unlabeled: Sequence[str] | None = None,
    ) -> ProjectModel:
        """Fit every job that has usable labels; raises NotEnoughLabels when none has. `unlabeled`: a sample
        of the texts the model will predict, for choosing each job's calibration (`AutoTextClassifier.fit`)."""
        self.train_sets = sets
        jobs = self.interface.jobs
        for i, job in enumerate(jobs):
            if on_job is not None:
                on_job(job.name, i, len(jobs))
            ts = sets.get(job.name, TrainingSet())
            reason = _skip_reason(job, ts)
            if reason is not None:
                self.skipped[job.name] = reason
                continue
            start = time.perf_counter()
            self._fit_job(job, ts, unlabeled)
            self.fit_seconds[job.name] = time.perf_counter() - start
        if not self.models:
            detail = "; ".join(f"job {k!r} {v}" for k, v in self.skipped.items())
            raise NotEnoughLabels(f"Nothing to train yet: {detail}.")
        return self

    def _fit_job(self, job: Job, ts: TrainingSet, unlabeled: Sequence[str] | None) -> None:
        """The job's classifier; with partial vectors also a word-only fallback (the classifier itself only
        sees vectors of its training texts and of the pool sample's encoded texts); for a single-choice job
        on vectors the zero-shot prior, weighted by what it adds out of fold."""
        pool = list(unlabeled or [])
        if self.partial_vectors:
            pool = [x for x, ok in zip(pool, self._has_vectors(pool), strict=True) if ok]
        clf = self._estimator(job, ts).fit(ts.texts, ts.targets, unlabeled=pool or None)
        self.models[job.name] = clf
        if self.partial_vectors:
            word = ProjectModel(self.interface, tier="fast", random_state=self.random_state, zero_shot=False)
            self.fallbacks[job.name] = word._estimator(job, ts).fit(ts.texts, ts.targets)
        if self.zero_shot and job.input == "single" and "emb" in self.fast_features:
            self.priors[job.name] = ZeroShotPrior.fit(
                [c.model_dump() for c in job.categories], job.instruction, ts.texts, ts.targets,
                np.asarray(getattr(clf, "oof_proba_", np.zeros((0, 0))), dtype=np.float64),
                [str(c) for c in clf.classes_], pool, self.cache_dir,
            )

    @classmethod
    def zero_shot_model(
        cls, interface: Interface, unlabeled: Sequence[str], cache_dir: str | None = None
    ) -> ProjectModel:
        """The `zero-shot` tier: per job, a `ZeroShotClassifier` built from the category names, descriptions
        and the job's question, standardised over `unlabeled` (texts with sentence vectors)."""
        from prelabel.automl.zeroshot import ZeroShotClassifier

        model = cls(interface, tier="zero-shot", cache_dir=cache_dir, zero_shot=False)
        for job in interface.jobs:
            model.models[job.name] = ZeroShotClassifier(
                [c.model_dump() for c in job.categories], job.instruction, multi=job.input == "multi",
                cache_dir=cache_dir,
            ).fit(unlabeled)
            model.train_sets[job.name] = TrainingSet()
        return model

    def _has_vectors(self, texts: Sequence[str]) -> NDArray[np.bool_]:
        return has_vectors(texts, self.cache_dir)

    # --- prediction ------------------------------------------------------------------------------------
    def ranking_proba(self, proba: dict[str, FloatArray]) -> dict[str, FloatArray]:
        """Per job, the probabilities the queue ranks by (`AutoTextClassifier.ranking_proba`): those of
        `predict_proba` without a first model's display-only temperature."""
        return {name: self.models[name].ranking_proba(p) for name, p in proba.items()}

    def predict_proba(self, texts: Sequence[str]) -> dict[str, FloatArray]:
        """Per fitted job: (n, n_categories) probabilities in the interface's category order."""
        out: dict[str, FloatArray] = {}
        texts = list(texts)
        with_vectors = self._has_vectors(texts) if self.fallbacks else np.ones(len(texts), dtype=bool)
        for job in self.interface.jobs:
            clf = self.models.get(job.name)
            if clf is None:
                continue
            raw = self._job_proba(job, texts, with_vectors)
            keys = job.category_keys()
            full = np.zeros((len(texts), len(keys)))
            col = {str(c): i for i, c in enumerate(clf.classes_)}
            for j, key in enumerate(keys):
                if key in col:
                    full[:, j] = raw[:, col[key]]
            out[job.name] = np.clip(full, 0.0, 1.0)
        return out

    def _job_proba(self, job: Job, texts: list[str], with_vectors: NDArray[np.bool_]) -> FloatArray:
        """The classifier's probabilities (columns in ``classes_`` order): the zero-shot prior blended in where
        it helps, and the word-only fallback's for texts without vectors."""
        clf = self.models[job.name]
        rows = np.flatnonzero(with_vectors)
        raw = np.zeros((len(texts), len(clf.classes_)))
        if len(rows):
            part = [texts[i] for i in rows]
            p = np.asarray(clf.predict_proba(part), dtype=np.float64)
            prior = self.priors.get(job.name)
            raw[rows] = prior.apply(p, part) if prior is not None else p
        rest = np.flatnonzero(~with_vectors)
        if len(rest):
            raw[rest] = self.fallbacks[job.name].predict_proba([texts[i] for i in rest])
        return raw

    def transform_features(self, job_name: str, texts: Sequence[str]) -> Any:
        """The job's feature matrix of `texts` for the queue's diversity terms: the word-only fallback's when
        the project is only partly encoded (one feature space for every text, and nothing to encode)."""
        clf = self.fallbacks.get(job_name) or self.models[job_name]
        return clf.transform_features(list(texts))

    def thresholds(self, job: Job) -> FloatArray:
        """Per-category decision thresholds of a multi-choice job (0.5 unless tuned out of fold)."""
        clf = self.models[job.name]
        keys = job.category_keys()
        th = np.full(len(keys), 0.5)
        tuned = getattr(clf, "thresholds_", None)
        if tuned is not None:
            col = {str(c): i for i, c in enumerate(clf.classes_)}
            for j, key in enumerate(keys):
                if key in col and col[key] < len(tuned):
                    th[j] = float(tuned[col[key]])
        return th

    def chosen(self, job: Job, p: FloatArray) -> NDArray[np.int64]:
        """The 0/1 matrix of the categories a pre-annotation names, from the job's probabilities: the most
        probable one for a single-choice job; for a multi-choice job those passing their thresholds, and the
        most probable one when none does and the job is required."""
        out = np.zeros(p.shape, dtype=np.int64)
        if p.shape[0] == 0 or p.shape[1] == 0:
            return out
        if job.input == "single":
            out[np.arange(len(p)), p.argmax(axis=1)] = 1
            return out
        out = (p >= self.thresholds(job)[None, :]).astype(np.int64)
        if job.required:
            empty = np.flatnonzero(out.sum(axis=1) == 0)
            out[empty, p[empty].argmax(axis=1)] = 1
        return out

    def responses(self, proba: dict[str, FloatArray]) -> list[tuple[dict[str, Any], float]]:
        """Prediction json_responses and the row confidence (max chosen probability over jobs, 0-1)."""
        n = next(iter(proba.values())).shape[0] if proba else 0
        rows: list[tuple[dict[str, Any], float]] = [({}, 0.0) for _ in range(n)]
        for job in self.interface.jobs:
            p = proba.get(job.name)
            if p is None:
                continue
            keys = job.category_keys()
            chosen = [list(np.flatnonzero(row)) for row in self.chosen(job, p)]
            probs = np.round(p, 6).tolist()  # one conversion per chunk instead of per value
            confs = np.rint(p * 100).astype(int).tolist()
            raw = p.tolist()
            for r in range(n):
                prow, crow = probs[r], confs[r]
                cats = [{"name": keys[j], "confidence": crow[j], "probability": prow[j]} for j in chosen[r]]
                resp, conf = rows[r]
                resp[job.name] = {"categories": cats, "probabilities": dict(zip(keys, prow, strict=True))}
                best = max((raw[r][j] for j in chosen[r]), default=0.0)
                rows[r] = (resp, max(conf, best))
        return rows

    # --- metrics ----------------------------------------------------------------------------------------
    def best_configs(self) -> dict[str, list[dict[str, Any]]]:
        return {name: list(getattr(clf, "best_configs_", []) or []) for name, clf in self.models.items()}

    def job_metrics(self) -> dict[str, Any]:
        from sklearn.metrics import precision_recall_fscore_support

        out: dict[str, Any] = {}
        for job in self.interface.jobs:
            if job.name in self.skipped:
                out[job.name] = {"skipped": self.skipped[job.name]}
                continue
            clf = self.models[job.name]
            ts = self.train_sets[job.name]
            keys = job.category_keys()
            oof = np.asarray(getattr(clf, "oof_proba_", np.zeros((0, 0))), dtype=np.float64)
            per_class: dict[str, dict[str, float]] = {}
            if oof.shape[0] == len(ts.targets) and oof.shape[0] > 0:
                classes = [str(c) for c in clf.classes_]
                if job.input == "single":
                    y_true = ts.targets
                    y_pred = [classes[i] for i in oof.argmax(axis=1)]
                    p, r, f, s = precision_recall_fscore_support(
                        y_true, y_pred, labels=classes, zero_division=0
                    )
                else:
                    th = np.asarray(getattr(clf, "thresholds_", None) or [0.5] * len(classes))
                    y_true_m = np.array([[int(c in t) for c in classes] for t in ts.targets])
                    y_pred_m = (oof >= th[None, :]).astype(int)
                    p, r, f, s = precision_recall_fscore_support(y_true_m, y_pred_m, zero_division=0)
                for i, c in enumerate(classes):
                    per_class[c] = {
                        "precision": round(float(p[i]), 4),
                        "recall": round(float(r[i]), 4),
                        "f1": round(float(f[i]), 4),
                        "support": int(s[i]),
                    }
            cal = getattr(clf, "calibration_", {}) or {}
            board = list(getattr(clf, "leaderboard_", []) or [])  # best first; every trial that ran
            fitted = [str(c) for c in getattr(clf, "classes_", [])]
            out[job.name] = {
                "input": job.input,
                "categories": keys,
                "n_labels": len(ts.targets),
                "metric": getattr(clf, "metric_", None),
                # binary F1 is the F1 of the second of the sorted classes (automl.metrics.label_scores)
                "positive": fitted[1] if getattr(clf, "task_", None) == "binary" and len(fitted) == 2 else None,
                **_trial_counts(board),
                "cv_score": _num(getattr(clf, "best_score_", None)),
                "oof_score": _num(getattr(clf, "oof_score_", None)),
                "ece": _num(cal.get("ece_after")),
                "calibration": _jsonable(cal),
                "per_class": per_class,
                "mode": getattr(clf, "mode_", None),
                "embeddings": (getattr(clf, "search_info_", {}) or {}).get("embeddings"),
                "n_trials": getattr(clf, "n_trials_", None),
                "fit_seconds": round(self.fit_seconds.get(job.name, 0.0), 3),
                "leaderboard": _jsonable(board[:MAX_LEADERBOARD]),
                "zero_shot": _jsonable(self.priors[job.name].describe()) if job.name in self.priors else None,
                "word_fallback": job.name in self.fallbacks,
                # a multi-choice job's decision thresholds: the labeling page's "unsure" badge reads them
                "thresholds": (
                    dict(zip(keys, np.round(self.thresholds(job), 6).tolist(), strict=True))
                    if job.input == "multi" and hasattr(clf, "thresholds_") else None
                ),
            }
        return out

    def honest_jobs(self, max_labels: int) -> list[str]:
        """The fitted jobs whose score the dashboard shows from repeated cross-validation (`honest_metrics`):
        those whose `AutoTextClassifier` learned from at least 2 and fewer than `max_labels` labels."""
        from prelabel.automl import AutoTextClassifier

        out = []
        for job in self.interface.jobs:
            clf, ts = self.models.get(job.name), self.train_sets.get(job.name)
            if isinstance(clf, AutoTextClassifier) and ts is not None and 2 <= len(ts.targets) < max_labels:
                out.append(job.name)
        return out

    def honest_metrics(
        self,
        jobs: Sequence[str],
        *,
        unlabeled: Sequence[str] | None = None,
        time_cap_s: float | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Per job, `automl.honest.repeated_cv` of the job's classifier on its labels (`HonestEstimate.to_dict`,
        plus "status": "done"), or {"status": "failed", "error": …}. The time cap is shared by the jobs: each
        gets what the ones before it left (its first repeat always runs). A searched classifier's folds run
        the same search with the budget split over the folds (at least `MIN_FOLD_BUDGET_S` each), so that
        one repeat costs about one search, and at most `SEARCH_REPEATS` repeats run."""
        from prelabel.automl.honest import N_REPEATS, N_SPLITS, TIME_CAP_S, repeated_cv

        cap = TIME_CAP_S if time_cap_s is None else time_cap_s
        start = time.perf_counter()
        out: dict[str, dict[str, Any]] = {}
        for name in jobs:
            clf = self.models.get(name)
            if clf is None:
                continue
            job = self.interface.job(name)
            ts = self.train_sets[name]
            params: dict[str, Any] | None = None
            repeats = N_REPEATS
            if getattr(clf, "mode_", None) == "search":
                params = {"time_budget": max(MIN_FOLD_BUDGET_S, float(clf.time_budget) / N_SPLITS)}
                repeats = SEARCH_REPEATS
            try:
                est = repeated_cv(
                    clf,
                    ts.texts,
                    ts.targets,
                    metric=getattr(clf, "metric_", None),
                    classes=job.category_keys(),
                    unlabeled=unlabeled,
                    at_least_one=job.input == "multi" and job.required,
                    params=params,
                    n_repeats=repeats,
                    time_cap_s=max(0.0, cap - (time.perf_counter() - start)),
                    should_stop=should_stop,
                    random_state=self.random_state,
                )
            except Exception as exc:  # the estimate is extra: a failure leaves the version as published
                out[name] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
                continue
            out[name] = {"status": "done", **est.to_dict(), "fold_params": params}
        return out

    def expected_agreement_sums(self, proba: dict[str, FloatArray]) -> dict[str, float]:
        """Per job, the sum over the rows of `proba` (`predict_proba`, calibrated) of the expected agreement
        of the suggestion shown (`ProjectModel.chosen`) with the truth if the probabilities are calibrated
        (`automl.honest.expected_agreement`); the trainer divides by the pool's size."""
        from prelabel.automl.honest import expected_agreement

        out: dict[str, float] = {}
        for job in self.interface.jobs:
            p = proba.get(job.name)
            if p is None:
                continue
            out[job.name] = float(expected_agreement(p, self.chosen(job, p), job.input == "multi").sum())
        return out

    # --- persistence ------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        joblib.dump(
            {
                "format": ARTIFACT_FORMAT,
                "interface": self.interface.model_dump(mode="json"),
                "tier": self.tier,
                # a zero-shot tier's models are pickled as they are (numpy prototypes, no fitted estimator state)
                "models": {name: _model_bytes(clf) for name, clf in self.models.items()},
                "fallbacks": {name: clf.to_bytes() for name, clf in self.fallbacks.items()},
                "priors": self.priors,
                "cache_dir": self.cache_dir,  # where the fallbacks' "has a vector" is looked up
                "skipped": self.skipped,
            },
            buf,
            compress=3,
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ProjectModel:
        from prelabel.automl import AutoTextClassifier

        doc = joblib.load(io.BytesIO(data))
        if not isinstance(doc, dict) or doc.get("format") != ARTIFACT_FORMAT:
            raise ValueError("This model artifact was written by an incompatible prelabel version; retrain.")
        model = cls(
            Interface.model_validate(doc["interface"]), tier=doc.get("tier", "fast"), cache_dir=doc.get("cache_dir")
        )
        model.models = {
            name: AutoTextClassifier.from_bytes(b) if isinstance(b, bytes) else b for name, b in doc["models"].items()
        }
        model.fallbacks = {name: AutoTextClassifier.from_bytes(b) for name, b in doc.get("fallbacks", {}).items()}
        model.priors = dict(doc.get("priors", {}))
        model.skipped = dict(doc.get("skipped", {}))
        return model


def has_vectors(texts: Sequence[str], cache_dir: str | Path | None) -> NDArray[np.bool_]:
    """Which of `texts` have a sentence vector in the embedding cache (nothing is encoded)."""
    from prelabel.automl.embeddings import EmbeddingCache, text_key

    cache = EmbeddingCache(Path(cache_dir) if cache_dir else default_cache_dir())
    cache.refresh()
    store = cache.vectors
    return np.array([text_key(x) in store for x in texts], dtype=bool)


def _model_bytes(clf: Any) -> Any:
    return clf.to_bytes() if hasattr(clf, "to_bytes") else clf


def _trial_counts(board: list[dict[str, Any]]) -> dict[str, Any]:
    """What the search ran and what is stored of it: trials that finished, how many of them tie at the best
    score (to 6 decimals: with a few dozen labels many configurations score the same), and the best score."""
    scores = [
        round(float(r["cv_score"]), 6)
        for r in board
        if r.get("status", "ok") == "ok" and isinstance(r.get("cv_score"), int | float) and np.isfinite(r["cv_score"])
    ]
    best = max(scores) if scores else None
    return {
        "n_trials_ok": len(scores),
        "n_tied_best": sum(1 for v in scores if v == best) if best is not None else 0,
        "best_trial_score": best,
        "n_trials_stored": min(len(board), MAX_LEADERBOARD),
    }


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return round(f, 6) if np.isfinite(f) else None


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return _jsonable(v.item())
    if isinstance(v, float):
        return v if np.isfinite(v) else None
    if isinstance(v, str | int | bool) or v is None:
        return v
    return str(v)
