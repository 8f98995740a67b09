"""Zero-shot suggestions from the interface alone: category names, descriptions and the job's question.

Each category becomes a prototype: the normalised mean of the MiniLM vectors of a few prompt forms built from
what the project's admin wrote (the name, the description, "name: description", the question followed by
the name). A text's score for a category is the cosine between its vector and the prototype.

Raw cosines are not comparable across categories: some prototypes sit closer to every text than others (a
long description, a common word), and the top score then lands on one category almost everywhere. With a
sample of the texts still to label the scores are standardised per category over that sample (each
category's mean and spread among the project's own texts), the prior for class balance: no category wins by
being close to everything. Probabilities are a softmax of the standardised scores at a deliberately mild
temperature (`ZERO_SHOT_TEMPERATURE`): with no label to check against, the model must not claim more than
it knows.

Once labels exist, `check` measures the zero-shot model on them (it never saw them, so this is out of
sample): its accuracy against always answering the labels' majority class, and a temperature fitted on them
by log loss. A zero-shot model that is no better than the majority class is not served (the trainer shows
no suggestion rather than a bad one), and the few-shot model uses its scores only as much as they lower its
own out-of-fold log loss (`blend_weight`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from prelabel.automl.label_counts import MIN_LABELS_TO_CHECK

FloatArray = NDArray[np.float64]

# softmax temperature on the standardised scores when no label has been seen; chosen on disaster tweets and
# BBC news so that the median suggested probability stays near the measured accuracy (docs/automl.md)
ZERO_SHOT_TEMPERATURE = 1.5
MIN_POOL_FOR_BALANCE = 50  # fewer unlabeled texts than this: raw cosines, no per-category standardisation
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)  # candidate weights of the zero-shot log-probabilities in a blend
_EPS = 1e-6


def _humanise(key: str) -> str:
    """ "NOT_DISASTER" → "not disaster", "sci.space" → "sci space": a key read as words."""
    return re.sub(r"[_\-.]+", " ", key).strip().lower()


def prompt_forms(category: Mapping[str, Any], question: str) -> list[str]:
    """The texts whose vectors make a category's prototype (empty parts left out)."""
    name = str(category.get("name") or "").strip() or _humanise(str(category["key"]))
    description = str(category.get("description") or "").strip()
    forms = [name]
    if description:
        forms += [description, f"{name}: {description}"]
    if question.strip():
        forms.append(f"{question.strip()} {name}")
    return forms


def _softmax(z: FloatArray) -> FloatArray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


@dataclass
class ZeroShotCheck:
    """How the zero-shot model did on the labels it never saw."""

    n_labels: int
    accuracy: float
    majority_accuracy: float
    temperature: float

    @property
    def useful(self) -> bool:
        return self.accuracy > self.majority_accuracy

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_labels": self.n_labels, "accuracy": round(self.accuracy, 4),
            "majority_accuracy": round(self.majority_accuracy, 4), "temperature": round(self.temperature, 4),
            "useful": self.useful,
        }


class ZeroShotClassifier(ClassifierMixin, BaseEstimator):
    """Cosine similarity to category prototypes built from the interface (see the module docstring).

    Parameters
    ----------
    categories : one mapping per category with "key" and optionally "name" and "description".
    question : the job's question (instruction), prefixed to the name in one prompt form.
    multi : multi-choice job: `predict_proba` rows are still the softmax over categories (the share of each
        category in what the text is about), which a required job's "most probable when none passes" rule reads.
    cache_dir : embedding cache directory (see `prelabel.automl.embeddings`).
    temperature : softmax temperature on the standardised scores; None → `ZERO_SHOT_TEMPERATURE`.
    """

    def __init__(
        self,
        categories: Sequence[Mapping[str, Any]],
        question: str = "",
        multi: bool = False,
        cache_dir: str | Path | None = None,
        temperature: float | None = None,
    ) -> None:
        self.categories = categories
        self.question = question
        self.multi = multi
        self.cache_dir = cache_dir
        self.temperature = temperature

    def _embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        from prelabel.automl.embeddings import default_cache_dir, embed

        # the disk cache the trainer encodes the project into: with an in-memory one, every text predicted
        # would be encoded again
        return embed(list(texts), Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir())

    def fit(self, unlabeled: Sequence[str] | None = None, y: Any = None) -> ZeroShotClassifier:
        """Build the prototypes; with at least `MIN_POOL_FOR_BALANCE` unlabeled texts, standardise each
        category's scores over them. ``y`` is ignored (no labels are learnt from)."""
        cats = list(self.categories)
        if len(cats) < 2:
            raise ValueError(f"ZeroShotClassifier needs at least 2 categories. Got {len(cats)} instead.")
        self.classes_ = np.asarray([str(c["key"]) for c in cats])
        protos = []
        for cat in cats:
            vecs = self._embed(prompt_forms(cat, self.question))
            mean = vecs.mean(axis=0)
            protos.append(mean / max(float(np.linalg.norm(mean)), _EPS))
        self.prototypes_ = np.asarray(protos, dtype=np.float32)
        pool = [t for t in (unlabeled or []) if t.strip()]
        self.offset_ = np.zeros(len(cats))
        self.scale_ = np.full(len(cats), 0.05)  # a typical spread of MiniLM cosines
        if len(pool) >= MIN_POOL_FOR_BALANCE:
            raw = self.cosines(pool)
            self.offset_ = raw.mean(axis=0)
            self.scale_ = np.maximum(raw.std(axis=0), 1e-3)
        self.temperature_ = float(self.temperature or ZERO_SHOT_TEMPERATURE)
        return self

    def cosines(self, texts: Sequence[str]) -> FloatArray:
        check_is_fitted(self, "prototypes_")
        if len(texts) == 0:
            return np.zeros((0, len(self.classes_)))
        return np.asarray(self._embed(texts) @ self.prototypes_.T, dtype=np.float64)

    def scores(self, texts: Sequence[str]) -> FloatArray:
        """Standardised scores (n, k): the logits before the temperature."""
        return (self.cosines(texts) - self.offset_) / self.scale_

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        return _softmax(self.scores(texts) / self.temperature_)

    def predict(self, texts: Sequence[str]) -> NDArray[Any]:
        return np.asarray(self.classes_[self.predict_proba(texts).argmax(axis=1)])

    def check(self, texts: Sequence[str], y: Sequence[str]) -> ZeroShotCheck | None:
        """Accuracy on labeled texts (single-choice labels, keys) against their majority class, and the
        temperature that minimises log loss on them (kept only when at least `MIN_LABELS_TO_CHECK` labels);
        None with fewer labels. Sets ``temperature_`` to the fitted one."""
        keep = [i for i, v in enumerate(y) if v in set(self.classes_.tolist())]
        if len(keep) < MIN_LABELS_TO_CHECK:
            return None
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        target = np.array([index[y[i]] for i in keep])
        z = self.scores([texts[i] for i in keep])
        accuracy = float((z.argmax(axis=1) == target).mean())
        majority = float(np.bincount(target).max() / len(target))
        self.temperature_ = fit_temperature(z, target)
        return ZeroShotCheck(len(keep), accuracy, majority, self.temperature_)


def fit_temperature(z: FloatArray, target: NDArray[np.integer]) -> float:
    """The softmax temperature (bounded to [0.2, 20]) that minimises the log loss of `z` on `target`."""

    def loss(log_t: float) -> float:
        p = _softmax(z / np.exp(log_t))
        return float(-np.log(np.clip(p[np.arange(len(target)), target], _EPS, 1.0)).mean())

    res = minimize_scalar(loss, bounds=(np.log(0.2), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


def blend(few_shot: FloatArray, zero_shot: FloatArray, weight: float) -> FloatArray:
    """Product of experts: softmax(log p_few + weight · log p_zero); weight 0 is the few-shot model alone."""
    if weight == 0.0:
        return np.asarray(few_shot, dtype=np.float64)
    logits = np.log(np.clip(few_shot, _EPS, 1.0)) + weight * np.log(np.clip(zero_shot, _EPS, 1.0))
    return _softmax(logits)


def blend_weight(oof: FloatArray, zero_shot: FloatArray, target: NDArray[np.integer]) -> float:
    """The weight of `BLEND_WEIGHTS` whose blend of the few-shot model's out-of-fold probabilities with the
    zero-shot ones has the lowest log loss on the labels (ties → the smaller weight)."""
    rows = np.arange(len(target))
    losses = [
        float(-np.log(np.clip(blend(oof, zero_shot, w)[rows, target], _EPS, 1.0)).mean()) for w in BLEND_WEIGHTS
    ]
    return BLEND_WEIGHTS[int(np.argmin(np.round(losses, 6)))]


@dataclass
class ZeroShotPrior:
    """The zero-shot model as a prior of a few-shot classifier: its log-probabilities added with the weight
    (`blend_weight`) that lowers the few-shot model's out-of-fold log loss; weight 0 (the classifier alone)
    when the descriptions do not help or the zero-shot model is no better than the labels' majority class.
    ``check`` says how the zero-shot model did on the labels."""

    model: ZeroShotClassifier
    columns: NDArray[np.int64]  # classifier column j ← zero-shot column columns[j]
    weight: float
    check: ZeroShotCheck | None

    @classmethod
    def fit(
        cls,
        categories: Sequence[Mapping[str, Any]],
        question: str,
        texts: Sequence[str],
        targets: Sequence[str],
        oof: FloatArray,
        classes: Sequence[str],
        unlabeled: Sequence[str],
        cache_dir: str | Path | None,
    ) -> ZeroShotPrior:
        model = ZeroShotClassifier(categories, question, cache_dir=cache_dir).fit(unlabeled)
        keys = model.classes_.tolist()
        columns = np.array([keys.index(str(c)) for c in classes], dtype=np.int64)
        check = model.check(list(texts), [str(v) for v in targets])
        weight = 0.0
        if check is not None and check.useful and oof.shape == (len(texts), len(classes)):
            target = np.array([list(map(str, classes)).index(str(v)) for v in targets])
            zs = _renormalise(model.predict_proba(list(texts))[:, columns])
            weight = blend_weight(oof, zs, target)
        return cls(model, columns, weight, check)

    def apply(self, proba: FloatArray, texts: Sequence[str]) -> FloatArray:
        """The classifier's probabilities `proba` of `texts` with the prior blended in."""
        if self.weight == 0.0 or len(texts) == 0:
            return proba
        zs = _renormalise(self.model.predict_proba(list(texts))[:, self.columns])
        return blend(proba, zs, self.weight)

    def describe(self) -> dict[str, Any]:
        return {"weight": self.weight, **({"check": self.check.as_dict()} if self.check else {})}


def _renormalise(p: FloatArray) -> FloatArray:
    """Rows over the classifier's classes only (a category nobody has labeled yet is left out)."""
    return np.asarray(p / np.maximum(p.sum(axis=1, keepdims=True), _EPS), dtype=np.float64)
