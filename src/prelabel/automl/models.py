"""The model portfolio: fast linear and probabilistic text classifiers that give usable probabilities.

A model configuration is ``{"model": name, "params": {...}}``. :func:`build_model` turns it into an unfitted
scikit-learn classifier for a task; multi-label tasks get one binary model per label (one-vs-rest).
Models without ``predict_proba`` (linear SVM, ridge) are wrapped in :class:`SigmoidCalibrated` (Platt scaling
on internal cross-validated decision values). The RBF-kernel SVM on sentence embeddings (``svc``) is too slow
for that inner cross-validation: it is wrapped with ``cv=0`` and its sigmoids are fitted on the search's own
out-of-fold decision values (:func:`fit_oof_platt`), as ``CalibratedClassifierCV(ensemble=False)`` does.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.naive_bayes import ComplementNB, MultinomialNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC, LinearSVC

from prelabel.automl.calibration import platt
from prelabel.automl.metrics import Task

ModelConfig = dict[str, Any]

SPARSE_NONNEG_MODELS = ("logreg", "linsvc", "sgd", "cnb", "mnb", "nbsvm", "ridge")
SPARSE_MODELS = ("logreg", "linsvc", "sgd", "ridge")
DENSE_MODELS = ("logreg", "linsvc", "sgd", "ridge", "knn", "svc")
OPTIONAL_MODELS = ("lgbm",)  # on dense embeddings; opt-in through ``models=`` (see docs/automl.md)
ALL_MODELS = (*SPARSE_NONNEG_MODELS, "knn", "svc", *OPTIONAL_MODELS)
OOF_PLATT_MODELS = ("svc",)  # calibrated on the search's out-of-fold decision values, not by inner CV
SVC_MAX_ROWS = 12000  # a kernel SVM's fit grows ~quadratically with rows: beyond this it cannot fit a budget
DEFAULT_MODELS = tuple(m for m in ALL_MODELS if m not in OPTIONAL_MODELS)


def _sigmoid(z: NDArray[np.floating]) -> NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -50, 50))), dtype=np.float64)


def _sigmoid_probabilities(
    d: NDArray[np.floating], a: NDArray[np.floating], b: NDArray[np.floating]
) -> NDArray[np.float64]:
    """One sigmoid per class column of decision values, renormalised to rows summing to one."""
    p = _sigmoid(np.asarray(d, dtype=np.float64) * a[None, :] + b[None, :])
    return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)


class SigmoidCalibrated(ClassifierMixin, BaseEstimator):
    """Platt scaling of a decision-function classifier, one sigmoid per class column.

    The sigmoids are fitted on decision values predicted out of fold (inner stratified ``cv`` folds, fewer
    when a class is rare); the base model is then refitted on all rows. Multi-class probabilities are the
    per-class sigmoids renormalised. Unlike ``CalibratedClassifierCV`` this never fails on rare classes: with
    fewer than two members per class it falls back to a sigmoid of the raw decision value. ``cv=0`` fits no
    sigmoid (identity until :meth:`set_platt` gives the ones fitted on out-of-fold decision values).
    """

    def __init__(self, estimator: Any = None, cv: int = 3, random_state: int | None = None) -> None:
        self.estimator = estimator
        self.cv = cv
        self.random_state = random_state

    @staticmethod
    def _decision(model: Any, x: Any, n_classes: int) -> NDArray[np.float64]:
        d = np.asarray(model.decision_function(x), dtype=np.float64)
        if d.ndim == 1:
            d = np.column_stack([-d, d]) if n_classes == 2 else d[:, None]
        return d

    def fit(self, x: Any, y: NDArray[np.integer]) -> SigmoidCalibrated:
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        n_classes = len(self.classes_)
        counts = np.bincount(np.searchsorted(self.classes_, y), minlength=n_classes)
        n_folds = int(min(self.cv, counts.min()))
        self.a_ = np.ones(n_classes)
        self.b_ = np.zeros(n_classes)
        if n_folds >= 2 and n_classes >= 2:
            oof = np.zeros((len(y), n_classes))
            skf = StratifiedKFold(n_folds, shuffle=True, random_state=self.random_state)
            for tr, va in skf.split(np.zeros(len(y)), y):
                m = clone(self.estimator).fit(x[tr], y[tr])
                cols = np.searchsorted(self.classes_, m.classes_)
                d = self._decision(m, x[va], len(m.classes_))
                block = np.full((len(va), n_classes), -10.0)
                block[:, cols] = d
                oof[va] = block
            for j, c in enumerate(self.classes_):
                t = (y == c).astype(int)
                self.a_[j], self.b_[j] = platt(oof[:, j], t)
        self.estimator_ = clone(self.estimator).fit(x, y)
        return self

    def decision_values(self, x: Any, n_classes: int) -> NDArray[np.float64]:
        """Raw decision values with one column per class index 0..n_classes-1 (-10 for unseen classes)."""
        d = self._decision(self.estimator_, x, len(self.classes_))
        if len(self.classes_) == n_classes:
            return d
        out = np.full((d.shape[0], n_classes), -10.0)
        out[:, np.asarray(self.classes_, dtype=np.int64)] = d
        return out

    def set_platt(self, params: list[tuple[float, float]]) -> None:
        """Use sigmoids fitted elsewhere (one (a, b) per seen class, in class order)."""
        cols = np.asarray(self.classes_, dtype=np.int64)
        self.a_ = np.array([params[c][0] for c in cols], dtype=np.float64)
        self.b_ = np.array([params[c][1] for c in cols], dtype=np.float64)

    def predict_proba(self, x: Any) -> NDArray[np.float64]:
        return _sigmoid_probabilities(self._decision(self.estimator_, x, len(self.classes_)), self.a_, self.b_)

    def predict(self, x: Any) -> NDArray[Any]:
        return np.asarray(self.classes_[self.predict_proba(x).argmax(axis=1)])


class NBSVMClassifier(ClassifierMixin, BaseEstimator):
    """NB-SVM (Wang & Manning 2012) in its logistic-regression form: features scaled by the naive-Bayes
    log-count ratio of each class, one binary logistic regression per class (one for binary tasks)."""

    def __init__(self, C: float = 1.0, alpha: float = 1.0, class_weight: str | None = None) -> None:
        self.C = C
        self.alpha = alpha
        self.class_weight = class_weight

    def _ratio(self, x: Any, t: NDArray[np.bool_]) -> NDArray[np.float64]:
        xb = x.copy()
        if sp.issparse(xb):
            xb.data = (xb.data > 0).astype(np.float64)
        else:
            xb = (xb > 0).astype(np.float64)
        p = self.alpha + np.asarray(xb[t].sum(axis=0)).ravel()
        q = self.alpha + np.asarray(xb[~t].sum(axis=0)).ravel()
        return np.asarray(np.log((p / p.sum()) / (q / q.sum())), dtype=np.float64)

    def _scaled(self, x: Any, r: NDArray[np.float64]) -> Any:
        return sp.csr_matrix(x).multiply(r[None, :]).tocsr()

    def fit(self, x: Any, y: NDArray[np.integer]) -> NBSVMClassifier:
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        targets = [self.classes_[1]] if len(self.classes_) == 2 else list(self.classes_)
        self.ratios_: list[NDArray[np.float64]] = []
        self.models_: list[LogisticRegression] = []
        for c in targets:
            t = y == c
            r = self._ratio(x, t)
            lr = LogisticRegression(C=self.C, class_weight=self.class_weight, solver="liblinear")
            lr.fit(self._scaled(x, r), t.astype(int))
            self.ratios_.append(r)
            self.models_.append(lr)
        return self

    def predict_proba(self, x: Any) -> NDArray[np.float64]:
        pairs = zip(self.ratios_, self.models_, strict=True)
        cols = [m.predict_proba(self._scaled(x, r))[:, 1] for r, m in pairs]
        if len(self.classes_) == 2:
            return np.column_stack([1 - cols[0], cols[0]])
        p = np.column_stack(cols)
        return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)

    def predict(self, x: Any) -> NDArray[Any]:
        return np.asarray(self.classes_[self.predict_proba(x).argmax(axis=1)])


def models_for(feature_kind: str, task: Task, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """Models that make sense on a feature kind (NB needs non-negative features; kNN dense ones)."""
    if feature_kind == "emb":
        base: tuple[str, ...] = (*DENSE_MODELS, "lgbm")
    elif "emb" in feature_kind:
        base = SPARSE_MODELS
    else:
        base = SPARSE_NONNEG_MODELS
    out = tuple(m for m in base if m in allowed)
    if task == "multilabel":
        out = tuple(m for m in out if m not in ("knn", "lgbm", "svc"))
    return out


def suggest_params(trial: Any, model: str) -> dict[str, Any]:
    """Hyper-parameters of one model drawn from an Optuna trial (names prefixed by the model)."""
    cw = ("none", "balanced")
    if model == "logreg":
        return {
            "C": trial.suggest_float("logreg_C", 1e-2, 1e2, log=True),
            "class_weight": trial.suggest_categorical("logreg_class_weight", cw),
        }
    if model == "linsvc":
        return {
            "C": trial.suggest_float("linsvc_C", 1e-3, 10.0, log=True),
            "class_weight": trial.suggest_categorical("linsvc_class_weight", cw),
        }
    if model == "sgd":
        return {
            "alpha": trial.suggest_float("sgd_alpha", 1e-6, 1e-3, log=True),
            "class_weight": trial.suggest_categorical("sgd_class_weight", cw),
        }
    if model in ("cnb", "mnb"):
        return {"alpha": trial.suggest_float(f"{model}_alpha", 1e-3, 3.0, log=True)}
    if model == "nbsvm":
        return {
            "C": trial.suggest_float("nbsvm_C", 1e-2, 1e2, log=True),
            "class_weight": trial.suggest_categorical("nbsvm_class_weight", cw),
        }
    if model == "ridge":
        return {
            "alpha": trial.suggest_float("ridge_alpha", 1e-2, 1e2, log=True),
            "class_weight": trial.suggest_categorical("ridge_class_weight", cw),
        }
    if model == "svc":
        return {
            "C": trial.suggest_float("svc_C", 0.1, 10.0, log=True),
            "class_weight": trial.suggest_categorical("svc_class_weight", cw),
        }
    if model == "knn":
        return {
            "n_neighbors": trial.suggest_int("knn_n_neighbors", 3, 100, log=True),
            "weights": trial.suggest_categorical("knn_weights", ("uniform", "distance")),
        }
    if model == "lgbm":
        return {
            "n_estimators": trial.suggest_int("lgbm_n_estimators", 50, 400, log=True),
            "learning_rate": trial.suggest_float("lgbm_learning_rate", 0.02, 0.3, log=True),
            "num_leaves": trial.suggest_int("lgbm_num_leaves", 7, 63, log=True),
        }
    raise ValueError(f"Unknown model {model!r}; expected one of {ALL_MODELS}.")


def params_to_optuna(model: str, params: dict[str, Any]) -> dict[str, Any]:
    return {f"{model}_{k}": ("none" if v is None and k == "class_weight" else v) for k, v in params.items()}


def build_model(config: ModelConfig, task: Task, random_state: int | None) -> Any:
    """Unfitted scikit-learn classifier for a model configuration."""
    name = config["model"]
    p = dict(config.get("params", {}))
    if p.get("class_weight") == "none":
        p["class_weight"] = None
    multiclass = task == "multiclass"
    model: Any
    if name == "logreg":
        solver = "lbfgs" if multiclass else "liblinear"
        model = LogisticRegression(C=p["C"], class_weight=p["class_weight"], solver=solver, max_iter=300)
    elif name == "linsvc":
        base = LinearSVC(C=p["C"], class_weight=p["class_weight"], random_state=random_state, max_iter=2000)
        model = SigmoidCalibrated(base, cv=3, random_state=random_state)
    elif name == "sgd":
        model = SGDClassifier(
            loss="modified_huber",
            alpha=p["alpha"],
            class_weight=p["class_weight"],
            max_iter=30,
            tol=1e-4,
            random_state=random_state,
        )
    elif name == "cnb":
        model = ComplementNB(alpha=p["alpha"])
    elif name == "mnb":
        model = MultinomialNB(alpha=p["alpha"])
    elif name == "nbsvm":
        model = NBSVMClassifier(C=p["C"], class_weight=p["class_weight"])
    elif name == "ridge":
        base = RidgeClassifier(alpha=p["alpha"], class_weight=p["class_weight"], solver="sparse_cg")
        model = SigmoidCalibrated(base, cv=3, random_state=random_state)
    elif name == "svc":
        base = SVC(C=p["C"], class_weight=p["class_weight"], kernel="rbf", gamma="scale", cache_size=500,
                   decision_function_shape="ovr", random_state=random_state)
        model = SigmoidCalibrated(base, cv=0, random_state=random_state)
    elif name == "knn":
        model = KNeighborsClassifier(
            n_neighbors=p["n_neighbors"], weights=p["weights"], metric="cosine", algorithm="brute"
        )
    elif name == "lgbm":
        from lightgbm import LGBMClassifier

        model = LGBMClassifier(
            n_estimators=p["n_estimators"],
            learning_rate=p["learning_rate"],
            num_leaves=p["num_leaves"],
            n_jobs=1,
            random_state=random_state,
            verbose=-1,
        )
    else:
        raise ValueError(f"Unknown model {name!r}; expected one of {ALL_MODELS}.")
    if task == "multilabel":
        return OneVsRestClassifier(model, n_jobs=1)
    return model


def fit_model(model: Any, x: Any, y: NDArray[np.integer]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # e.g. one-vs-rest labels absent from a fold
        return model.fit(x, y)


def predict_proba_aligned(model: Any, x: Any, task: Task, n_classes: int) -> NDArray[np.float64]:
    """Probabilities with one column per class index 0..n_classes-1 even when the model saw fewer classes."""
    p = np.asarray(model.predict_proba(x), dtype=np.float64)
    if task == "multilabel":
        return p
    cols = np.asarray(model.classes_, dtype=np.int64)
    if len(cols) == n_classes:
        return p
    out = np.zeros((p.shape[0], n_classes))
    out[:, cols] = p
    return out


def platt_probabilities(raw: NDArray[np.floating], params: list[tuple[float, float]]) -> NDArray[np.float64]:
    """Decision values (one column per class) → probabilities with per-class sigmoids (as SigmoidCalibrated)."""
    return _sigmoid_probabilities(raw, np.array([q[0] for q in params]), np.array([q[1] for q in params]))


def fit_oof_platt(raw: NDArray[np.floating], y: NDArray[np.integer]) -> list[tuple[float, float]]:
    """One sigmoid per class column of out-of-fold decision values ``raw`` against labels ``y``."""
    return [platt(raw[:, j], (y == j).astype(int)) for j in range(raw.shape[1])]
