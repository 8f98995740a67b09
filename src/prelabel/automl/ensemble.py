"""Ensemble selection (Caruana et al., 2004) over out-of-fold probabilities, and the fitted ensemble.

Greedy forward selection with replacement: start from the best candidate, repeatedly add the candidate whose
inclusion maximises the out-of-fold metric of the averaged probabilities, and keep the best prefix. Weights
are the selection counts. This is what auto-sklearn does; it only needs the out-of-fold probabilities the
search already computed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from prelabel.automl.features import TextFeaturizer
from prelabel.automl.metrics import Task, score
from prelabel.automl.models import predict_proba_aligned


def caruana_selection(
    oofs: Sequence[NDArray[np.floating]],
    y: NDArray[np.integer],
    task: Task,
    metric: str,
    n_iterations: int = 25,
) -> tuple[dict[int, float], float]:
    """Indices of ``oofs`` with their weights (summing to 1) and the out-of-fold score of the blend."""
    if not oofs:
        raise ValueError("ensemble selection needs at least one candidate")
    singles = [score(y, p, task, metric) for p in oofs]
    first = int(np.argmax(singles))
    chosen = [first]
    total = np.asarray(oofs[first], dtype=np.float64).copy()
    best_score, best_len = singles[first], 1
    for _ in range(n_iterations - 1):
        n = len(chosen) + 1
        step_scores = [score(y, (total + p) / n, task, metric) for p in oofs]
        j = int(np.argmax(step_scores))
        chosen.append(j)
        total += oofs[j]
        if step_scores[j] > best_score + 1e-9:
            best_score, best_len = step_scores[j], len(chosen)
    counts = Counter(chosen[:best_len])
    return {i: c / best_len for i, c in sorted(counts.items())}, float(best_score)


@dataclass
class Member:
    """One refitted ensemble member: featurizer + model, with its weight and search record."""

    config: dict[str, Any]
    weight: float
    featurizer: TextFeaturizer
    model: Any
    cv_score: float


class FittedEnsemble:
    """Weighted average of member probabilities (before calibration)."""

    def __init__(self, members: list[Member], task: Task, n_classes: int) -> None:
        self.members = members
        self.task = task
        self.n_classes = n_classes

    def predict_proba(
        self, texts: Sequence[str], embeddings: NDArray[np.float32] | None = None
    ) -> NDArray[np.float64]:
        total: NDArray[np.float64] | None = None
        for m in self.members:
            emb = embeddings if "emb" in m.featurizer.config_["kind"] else None
            x = m.featurizer.transform(texts, embeddings=emb)
            p = m.weight * predict_proba_aligned(m.model, x, self.task, self.n_classes)
            total = p if total is None else total + p
        assert total is not None
        return total

    def uses_embeddings(self) -> bool:
        return any("emb" in m.featurizer.config_["kind"] for m in self.members)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"config": m.config, "weight": m.weight, "cv_score": m.cv_score} for m in self.members
        ]
