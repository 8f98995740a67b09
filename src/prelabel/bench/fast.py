"""`prelabel bench fast`: the fast tier's model with few labels, one variant against a baseline.

For each number of labels n and each draw, n rows are drawn at random from the training part (the same rows for
every variant: a paired comparison), the fast model (`AutoTextClassifier(mode="fast")`) is fitted with each
variant's class weight (`fast_class_weight`: none, balanced, auto), calibration (after a slash: auto, the
default, or none, sigmoid, isotonic, temperature) and word-block weight (after a second slash:
`fast_word_weight`, auto or a number in (0, 1]) on the chosen features, and scored on the
held-out part with the loop benchmark's metric (F1 of the rarer class for binary tasks, macro-F1 for
multi-class, micro-F1 with the model's thresholds for multi-label) and its expected calibration error. The
table shows medians over draws and, per variant, the median of its paired score ratios to the first variant
(the baseline, fitted in the same process).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prelabel.automl.metrics import Task
from prelabel.bench.loop import Dataset, load_dataset, split

CLASS_WEIGHTS = ("none", "balanced", "auto")
CALIBRATIONS = ("auto", "none", "sigmoid", "isotonic", "temperature")


def parse_variant(name: str) -> tuple[str, str, float | str]:
    """CLASS_WEIGHT[/CALIBRATION[/WORD_WEIGHT]]: "balanced" → ("balanced", "auto", "auto"); "none/none" →
    class weight none, calibration none; "auto/auto/1" → the word block at full weight from the first label."""
    weight, _, rest = name.partition("/")
    calibration, _, word = rest.partition("/")
    calibration = calibration or "auto"
    if weight not in CLASS_WEIGHTS:
        raise ValueError(f"Unknown class weight {weight!r} in {name!r}; choose from {list(CLASS_WEIGHTS)}.")
    if calibration not in CALIBRATIONS:
        raise ValueError(f"Unknown calibration {calibration!r} in {name!r}; choose from {list(CALIBRATIONS)}.")
    word_weight: float | str = "auto"
    if word and word != "auto":
        try:
            word_weight = float(word)
        except ValueError:
            word_weight = -1.0
        if not 0.0 < word_weight <= 1.0:
            raise ValueError(f"The word weight in {name!r} must be auto or a number in (0, 1]; got {word!r}.")
    return weight, calibration, word_weight


@dataclass
class Cell:
    """One variant at one number of labels: per-draw scores and ECEs (draws with a single class skipped)."""

    variant: str
    n_labels: int
    scores: list[float] = field(default_factory=list)
    eces: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # score ÷ the baseline's score on the same draw
    fit_seconds: list[float] = field(default_factory=list)

    def median(self, values: list[float]) -> float:
        return float(statistics.median(values)) if values else float("nan")


def _score(ds: Dataset, model: Any, texts: list[str], targets: list[Any], pos: str | None) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    from prelabel.automl.metrics import expected_calibration_error

    proba = model.predict_proba(texts)
    classes = [str(c) for c in model.classes_]
    if ds.multi:
        y = np.array([[int(c in tg) for c in classes] for tg in targets])
        pred = model.predict(texts)
        # categories the sample never saw count as never predicted
        score = float(f1_score(y, pred, average="micro", zero_division=0))
        return score, float(expected_calibration_error(y, proba, "multilabel"))
    pred_l = [classes[j] for j in proba.argmax(axis=1)]
    index = {c: i for i, c in enumerate(classes)}
    known = np.array([t in index for t in targets])
    yi = np.array([index.get(t, 0) for t in targets])
    task: Task = "binary" if len(classes) == 2 else "multiclass"
    ece = float(expected_calibration_error(yi[known], proba[known], task)) if known.any() else float("nan")
    if pos is not None:
        return float(f1_score(targets, pred_l, pos_label=pos, average="binary", zero_division=0)), ece
    return float(f1_score(targets, pred_l, labels=ds.categories, average="macro", zero_division=0)), ece


def run(
    data: Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    labels_column: str | None = None,
    sizes: list[int],
    draws: int = 5,
    variants: list[str],
    features: str = "word+emb",
    test_split: float = 0.3,
    max_rows: int | None = None,
    seed: int = 0,
    json_out: Path | None = None,
    cache_dir: Path | None = None,
) -> list[Cell]:
    """Run the comparison, print the table, optionally write JSON; returns the cells (variant-major)."""
    from prelabel.automl import AutoTextClassifier

    if not variants:
        raise ValueError("Give at least one variant (the first is the baseline).")
    parsed = {v: parse_variant(v) for v in variants}
    ds = load_dataset(
        data, text_column=text_column, label_column=label_column, labels_column=labels_column,
        max_rows=max_rows, seed=seed,
    )
    tr, te = split(ds, test_split, seed)
    if max(sizes) > len(tr):
        raise ValueError(f"--sizes asks for {max(sizes)} labels but the training part has {len(tr)} rows.")
    te_texts = [ds.texts[i] for i in te]
    te_targets = [ds.targets[i] for i in te]
    pos = None
    if not ds.multi and len(ds.categories) == 2:
        counts = {c: sum(ds.targets[i] == c for i in tr) for c in ds.categories}
        pos = min(ds.categories, key=lambda c: (counts[c], c))
    cells = {(v, n): Cell(v, n) for v in variants for n in sizes}
    rng = np.random.default_rng(seed)
    started = time.time()
    for n in sizes:
        for _ in range(draws):
            pick = rng.choice(np.asarray(tr), size=n, replace=False)
            y = [ds.targets[i] for i in pick]
            if not ds.multi and len(set(y)) < 2:
                continue
            texts = [ds.texts[i] for i in pick]
            base_score = None
            for name in variants:
                t0 = time.time()
                model = AutoTextClassifier(
                    mode="fast", fast_features=features, fast_class_weight=parsed[name][0], calibration=parsed[name][1],
                    fast_word_weight=parsed[name][2], random_state=seed,
                    cache_dir=cache_dir,
                ).fit(texts, y)
                fit_s = time.time() - t0
                score, ece = _score(ds, model, te_texts, te_targets, pos)
                cell = cells[(name, n)]
                cell.scores.append(score)
                cell.eces.append(ece)
                cell.fit_seconds.append(fit_s)
                if base_score is None:
                    base_score = score
                if base_score > 0:
                    cell.ratios.append(score / base_score)
    metric = "micro-F1" if ds.multi else (f"F1({pos})" if pos is not None else "macro-F1")
    out = [cells[(v, n)] for v in variants for n in sizes]
    _print(ds, metric, features, sizes, variants, cells, draws, len(te))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({
            "dataset": ds.name, "metric": metric, "n_test": len(te), "sizes": sizes, "draws": draws,
            "variants": variants, "features": features, "baseline": variants[0], "seed": seed,
            "seconds": round(time.time() - started, 1),
            "cells": [asdict(c) for c in out],
        }, indent=1))
    return out


def _print(
    ds: Dataset, metric: str, features: str, sizes: list[int], variants: list[str], cells: dict[tuple[str, int], Cell],
    draws: int, n_test: int,
) -> None:
    print(
        f"\n{ds.name} — fast model ({features}) with few labels: {metric} on {n_test} held-out rows, "
        f"median over {draws} draws"
    )
    head = "| variant | " + " | ".join(f"{n} labels" for n in sizes) + " |"
    print(head)
    print("| --- |" + " ---: |" * len(sizes))
    for v in variants:
        row = []
        for n in sizes:
            c = cells[(v, n)]
            s = f"{c.median(c.scores):.3f}"
            if v != variants[0] and c.ratios:
                s += f" (x{c.median(c.ratios):.2f})"
            row.append(s)
        print(f"| {v} | " + " | ".join(row) + " |")
    print("\nexpected calibration error (median)")
    for v in variants:
        print(f"| {v} | " + " | ".join(f"{cells[(v, n)].median(cells[(v, n)].eces):.3f}" for n in sizes) + " |")
    print(f"\n(x = median over draws of the paired ratio to {variants[0]!r}, the baseline)")
