"""`prelabel bench automl`: every system trained on the same train file and scored on the same test rows.

Systems:
  (a) ``original``: the original pipeline — TF-IDF word 1-2-grams, min_df 2, accents stripped, SelectKBest
      f_classif k ≤ 20000 (multi-label: the 20000 most frequent n-grams, f_classif has no multi-label
      form) — with a default
      ``LogisticRegression`` (one-vs-rest for multi-label) in place of auto-sklearn;
  (b) ``flaml``: FLAML AutoML on the same original features with the same time budget (optional dependency;
      multi-label: one AutoML per label sharing the budget);
  (c) ``prelabel``: AutoTextClassifier without embedding feature sets;
  (d) ``prelabel+emb``: AutoTextClassifier with every feature set (embeddings cached before the clock starts,
      the cold encoding time is reported separately).

With either prelabel system the table ends with the row ``first model (10 labels)``: its wall time is the time
to a first model (``fit`` of AutoTextClassifier on 10 training rows, one per class in turn, then
``predict_proba`` on 100 test rows); its test scores are those of that model when it has seen every class.

CV score is each system's own out-of-fold estimate of its search metric (5-fold CV of the pipeline for the
original, FLAML's best validation score, prelabel's out-of-fold ensemble score); wall time is the time to
produce the final model (the original pipeline's CV is not counted).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from prelabel.automl.data import TextTable, read_table
from prelabel.automl.metrics import Decision, Task, report, resolve_metric

SYSTEMS = ("original", "flaml", "prelabel", "prelabel+emb")
FIRST_MODEL = "first model (10 labels)"
FIRST_MODEL_LABELS = 10


def _encode(
    train: TextTable, test: TextTable
) -> tuple[NDArray[np.int64], NDArray[np.int64], list[str], Task]:
    assert train.labels is not None and test.labels is not None
    if train.multilabel:
        from sklearn.preprocessing import MultiLabelBinarizer

        mlb = MultiLabelBinarizer()
        ytr = np.asarray(mlb.fit_transform(train.labels), dtype=np.int64)
        classes = [str(c) for c in mlb.classes_]
        known = set(classes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kept = [[v for v in ls if v in known] for ls in test.labels]
            yte = np.asarray(mlb.transform(kept), dtype=np.int64)
        return ytr, yte, classes, "multilabel"
    classes = sorted(set(train.labels))
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(test.labels) - set(classes))
    if unknown:
        raise ValueError(f"test labels not seen in training: {unknown}")
    ytr = np.array([index[v] for v in train.labels], dtype=np.int64)
    yte = np.array([index[v] for v in test.labels], dtype=np.int64)
    return ytr, yte, classes, "binary" if len(classes) == 2 else "multiclass"


def split_table(table: TextTable, test_split: float, seed: int) -> tuple[TextTable, TextTable]:
    """Stratified (single-label) or random (multi-label) split of one labelled file."""
    from sklearn.model_selection import train_test_split

    assert table.labels is not None
    idx = np.arange(len(table.texts))
    strat = None if table.multilabel else table.labels
    tr, te = train_test_split(idx, test_size=test_split, random_state=seed, stratify=strat)

    def take(rows: NDArray[np.int64]) -> TextTable:
        assert table.labels is not None
        return TextTable(
            texts=[table.texts[i] for i in rows],
            labels=[table.labels[i] for i in rows],
            ids=[table.ids[i] for i in rows] if table.ids is not None else None,
            multilabel=table.multilabel,
        )

    return take(np.sort(tr)), take(np.sort(te))


def _original_features(task: Task) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.pipeline import Pipeline

    if task == "multilabel":  # f_classif has no multi-label form: keep the 20000 most frequent n-grams
        vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, strip_accents="unicode", max_features=20000)
        return Pipeline([("tfidf", vec)])
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, strip_accents="unicode")

    class _KBest(SelectKBest):
        def fit(self, x: Any, y: Any = None) -> Any:
            self.k = min(20000, x.shape[1])
            return super().fit(x, y)

    return Pipeline([("tfidf", vec), ("kbest", _KBest(f_classif, k=20000))])


def _proba_columns(p: Any, task: Task, n: int) -> NDArray[np.float64]:
    if task == "multilabel" and isinstance(p, list):
        return np.column_stack([q[:, 1] if q.shape[1] > 1 else np.zeros(n) for q in p])
    return np.asarray(p, dtype=np.float64)


def run_original(
    train: TextTable, ytr: NDArray[np.int64], test: TextTable, task: Task, metric: str, seed: int
) -> dict[str, Any]:
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import Pipeline

    from prelabel.automl.metrics import score

    clf: Any = LogisticRegression(max_iter=1000)
    if task == "multilabel":
        clf = OneVsRestClassifier(clf)
    pipe = Pipeline([("features", _original_features(task)), ("clf", clf)])
    t0 = time.time()
    model = clone(pipe).fit(train.texts, ytr)
    wall = time.time() - t0
    cv: Any = (
        KFold(5, shuffle=True, random_state=seed)
        if task == "multilabel"
        else StratifiedKFold(5, shuffle=True, random_state=seed)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oof = cross_val_predict(clone(pipe), train.texts, ytr, cv=cv, method="predict_proba")
    default = Decision(None if task != "multilabel" else np.full(ytr.shape[1], 0.5))
    cv_score = score(ytr, _proba_columns(oof, task, len(ytr)), task, metric, default)
    proba = _proba_columns(model.predict_proba(test.texts), task, len(test.texts))
    return {"wall_time": wall, "cv_score": cv_score, "proba": proba, "decision": default}


def run_flaml(
    train: TextTable, ytr: NDArray[np.int64], test: TextTable, task: Task, metric: str, budget: float,
    n_jobs: int, seed: int,
) -> dict[str, Any]:
    from flaml import AutoML

    flaml_metric = {"f1": "f1", "f1_macro": "macro_f1", "accuracy": "accuracy", "log_loss": "log_loss"}
    t0 = time.time()
    feats = _original_features(task).fit(train.texts, ytr if task != "multilabel" else None)
    xtr = feats.transform(train.texts).astype(np.float64)
    xte = feats.transform(test.texts).astype(np.float64)
    if task != "multilabel":
        automl = AutoML()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            automl.fit(
                xtr, ytr, task="classification", time_budget=budget,
                metric=flaml_metric.get(metric, "accuracy"), n_jobs=n_jobs, seed=seed, verbose=0,
            )
        proba = np.asarray(automl.predict_proba(xte), dtype=np.float64)
        best_loss = float(automl.best_loss)
        cv_score = -best_loss if metric == "log_loss" else 1.0 - best_loss
        info = f"{automl.best_estimator}"
        decision = Decision(None)
    else:
        per_label = max(1.0, budget / ytr.shape[1])
        cols, losses = [], []
        for j in range(ytr.shape[1]):
            t = ytr[:, j]
            if t.min() == t.max():
                cols.append(np.full(len(test.texts), float(t[0])))
                continue
            automl = AutoML()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                automl.fit(
                    xtr, t, task="classification", time_budget=per_label, metric="f1", n_jobs=n_jobs,
                    seed=seed, verbose=0,
                )
            cols.append(np.asarray(automl.predict_proba(xte))[:, 1])
            losses.append(float(automl.best_loss))
        proba = np.column_stack(cols)
        cv_score = float(1.0 - np.mean(losses)) if losses else float("nan")  # mean per-label F1
        info = f"one AutoML per label, {per_label:.1f} s each; CV = mean per-label F1"
        decision = Decision(np.full(ytr.shape[1], 0.5))
    wall = time.time() - t0
    return {"wall_time": wall, "cv_score": cv_score, "proba": proba, "decision": decision, "info": info}


def run_prelabel(
    train: TextTable, test: TextTable, budget: float, metric: str, n_jobs: int, seed: int,
    embeddings: bool, cache_dir: Path | None,
) -> dict[str, Any]:
    from prelabel.automl import AutoTextClassifier
    from prelabel.automl.features import KINDS, describe

    extra: dict[str, Any] = {}
    if embeddings:
        from prelabel.automl.embeddings import embed, embeddings_available

        if not embeddings_available():
            raise ImportError("the embeddings extra is not installed: pip install 'prelabel[embeddings]'")
        t0 = time.time()
        embed(list(train.texts) + list(test.texts), cache_dir)
        extra["cold_encoding_time"] = time.time() - t0
    kinds = list(KINDS) if embeddings else [k for k in KINDS if "emb" not in k]
    clf = AutoTextClassifier(
        time_budget=budget, metric=metric, n_jobs=n_jobs, random_state=seed, feature_sets=kinds,
        cache_dir=str(cache_dir) if cache_dir else None,
    )
    t0 = time.time()
    assert train.labels is not None
    clf.fit(train.texts, train.labels)
    wall = time.time() - t0
    proba = clf.predict_proba(test.texts)
    members = ", ".join(
        f"{m['weight']:.2f}·{describe(m['config']['features'])}/{m['config']['model']}"
        for m in clf.ensemble_
    )
    return {
        "wall_time": wall,
        "cv_score": clf.best_score_,
        "proba": proba,
        "decision": clf.decision_,
        "info": f"{clf.n_trials_} trials; ensemble: {members}",
        "oof_ece": clf.calibration_["ece_after"],
        "oof_ece_before": clf.calibration_["ece_before"],
        "calibration": clf.calibration_["method"],
        "n_trials": clf.n_trials_,
        **extra,
    }


def _first_rows(table: TextTable, n: int, seed: int) -> list[int]:
    """``n`` rows of ``table``: one per class in turn (single-label), or the first of a shuffle (multi-label)."""
    assert table.labels is not None
    order = np.random.default_rng(seed).permutation(len(table.texts))
    if table.multilabel:
        return [int(i) for i in order[:n]]
    by_class: dict[Any, list[int]] = {}
    for i in order:
        by_class.setdefault(table.labels[i], []).append(int(i))
    picked: list[int] = []
    queues = [by_class[c] for c in sorted(by_class, key=str)]
    while len(picked) < n and any(queues):
        for q in queues:
            if q and len(picked) < n:
                picked.append(q.pop(0))
    return picked


def run_first_model(
    train: TextTable, test: TextTable, classes: Sequence[str], seed: int, cache_dir: Path | None
) -> dict[str, Any]:
    """Time to a first model: fit on 10 labels (the fast tier, no search) and predict 100 test rows."""
    from prelabel.automl import AutoTextClassifier

    assert train.labels is not None
    rows = _first_rows(train, FIRST_MODEL_LABELS, seed)
    texts = [train.texts[i] for i in rows]
    labels = [train.labels[i] for i in rows]
    t0 = time.time()
    clf = AutoTextClassifier(time_budget=60, random_state=seed, cache_dir=str(cache_dir) if cache_dir else None)
    clf.fit(texts, labels)
    clf.predict_proba(test.texts[:100])
    wall = time.time() - t0
    out: dict[str, Any] = {"wall_time": wall, "info": f"{len(rows)} labels, mode {clf.mode_}", "n_trials": 1}
    if [str(c) for c in clf.classes_] == [str(c) for c in classes]:
        out["proba"] = clf.predict_proba(test.texts)
        out["decision"] = clf.decision_
    return out


def run(
    train: Path,
    test: Path | None = None,
    text_column: str = "text",
    label_column: str = "label",
    labels_column: str | None = None,
    budget: float = 60.0,
    test_split: float | None = None,
    json_out: Path | None = None,
    systems: Sequence[str] = SYSTEMS,
    metric: str = "auto",
    n_jobs: int = 2,
    seed: int = 0,
    cache_dir: Path | None = None,
    print_table: bool = True,
) -> list[dict[str, Any]]:
    """Train every system on ``train``, score it on ``test`` (or on a ``test_split`` share of ``train``)."""
    full = read_table(train, text_column, label_column, labels_column)
    if test is not None:
        test_table = read_table(test, text_column, label_column, labels_column)
        train_table = full
    elif test_split:
        train_table, test_table = split_table(full, test_split, seed)
    else:
        raise ValueError("give --test FILE or --test-split FRACTION")
    if test_table.labels is None:
        raise ValueError(f"{test} has no labels; use --test-split on the training file instead")
    ytr, yte, classes, task = _encode(train_table, test_table)
    metric = resolve_metric(metric, task)
    if cache_dir is None:
        from prelabel.automl.embeddings import default_cache_dir

        cache_dir = default_cache_dir()
    rows: list[dict[str, Any]] = []
    for system in systems:
        base = {"system": system, "budget": budget, "task": task, "metric": metric,
                "n_train": len(train_table.texts), "n_test": len(test_table.texts), "data": str(train)}
        try:
            if system == "original":
                res = run_original(train_table, ytr, test_table, task, metric, seed)
            elif system == "flaml":
                try:
                    import flaml.automl  # noqa: F401
                    from flaml import AutoML  # noqa: F401
                except ImportError:
                    rows.append({**base, "skipped": "FLAML not installed: pip install 'prelabel[bench]'"})
                    continue
                res = run_flaml(train_table, ytr, test_table, task, metric, budget, n_jobs, seed)
            elif system in ("prelabel", "prelabel+emb"):
                res = run_prelabel(
                    train_table, test_table, budget, metric, n_jobs, seed, system == "prelabel+emb", cache_dir
                )
            else:
                raise ValueError(f"unknown system {system!r}; expected {SYSTEMS}")
        except ImportError as exc:
            rows.append({**base, "skipped": str(exc)})
            continue
        proba = res.pop("proba")
        decision: Decision = res.pop("decision")
        scores = report(yte, proba, task, decision)
        rows.append({**base, **res, **{f"test_{k}": v for k, v in scores.items()}})
    if any(s in ("prelabel", "prelabel+emb") for s in systems):
        base = {"system": FIRST_MODEL, "budget": budget, "task": task, "metric": metric,
                "n_train": FIRST_MODEL_LABELS, "n_test": len(test_table.texts), "data": str(train)}
        res = run_first_model(train_table, test_table, classes, seed, cache_dir)
        if "proba" in res:
            scores = report(yte, res.pop("proba"), task, res.pop("decision"))
            res.update({f"test_{k}": v for k, v in scores.items()})
        rows.append({**base, **res})
    if print_table:
        print_rows(rows, classes)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(rows, indent=2, default=float))
    return rows


def print_rows(rows: list[dict[str, Any]], classes: Sequence[str] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    task = rows[0]["task"]
    f1_cols = {"binary": [("F1", "test_f1")], "multiclass": [("macro-F1", "test_f1_macro")],
               "multilabel": [("micro-F1", "test_f1_micro"), ("macro-F1", "test_f1_macro")]}[task]
    first = rows[0]
    table = Table(
        title=f"bench automl: {Path(first['data']).parent.name} ({task}, metric {first['metric']}, "
        f"{first['n_train']} train / {first['n_test']} test)"
    )
    cols = [("system", "system"), ("budget", "budget"), ("wall s", "wall_time"), ("CV", "cv_score"),
            ("accuracy", "test_accuracy"), *f1_cols, ("ECE", "test_ece"), ("log loss", "test_log_loss")]
    for name, _ in cols:
        table.add_column(name, no_wrap=name == "system", min_width=12 if name == "system" else None)
    for r in rows:
        if "skipped" in r:
            table.add_row(r["system"], f"{r['budget']:g}", "—", "skipped: " + r["skipped"][:40])
            continue
        cells = []
        for _, key in cols:
            v = r.get(key)
            cells.append(f"{v:.4f}" if isinstance(v, float) and key not in ("budget", "wall_time")
                         else f"{v:.1f}" if isinstance(v, float) else "—" if v is None else str(v))
        table.add_row(*cells)
    Console().print(table)
