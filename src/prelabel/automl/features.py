"""Feature sets: word TF-IDF (optionally SelectKBest), char_wb TF-IDF, their union, MiniLM embeddings and
TF-IDF ⊕ embeddings.

A feature configuration is a JSON-serialisable dict::

    {"kind": "word+emb",
     "word": {"ngram_max": 2, "min_df": 2, "max_df": 1.0, "sublinear": True, "select": None},
     "char": {"ngram_max": 5},
     "emb_weight": 1.0,
     "word_weight": 0.3}

Only the blocks that ``kind`` names are used. ``word_weight`` (default 1, left out when 1) scales the word
TF-IDF block of a set with embeddings: the fast model turns it down while labels are few (see
``prelabel.automl.estimator.auto_word_weight``).

The expensive part of a configuration is fitting a vectorizer, so the search caches vectorizer outputs per
(vectorizer parameters, CV fold) — see :func:`vectorizer_key` — and builds every feature matrix from those
blocks (selection, stacking and weighting are cheap).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.feature_selection import SelectKBest, chi2, f_classif

FeatureConfig = dict[str, Any]
Matrix: TypeAlias = Any  # scipy.sparse CSR matrix or dense float32 array

KINDS = ("word", "char", "word+char", "emb", "word+emb", "word+char+emb")
EMBEDDING_KINDS = tuple(k for k in KINDS if "emb" in k)
MAX_SELECTED_FEATURES = 20000
CHAR_MAX_FEATURES = 300_000

DEFAULT_WORD: dict[str, Any] = {"ngram_max": 2, "min_df": 2, "max_df": 1.0, "sublinear": True, "select": None}
DEFAULT_CHAR: dict[str, Any] = {"ngram_max": 5}

# The original prelabel workflow: word 1-2-grams, min_df 2, accents stripped, k <= 20000 best by f_classif.
ORIGINAL_FEATURES: FeatureConfig = {
    "kind": "word",
    "word": {"ngram_max": 2, "min_df": 2, "max_df": 1.0, "sublinear": False, "select": "f_classif"},
}


def parts(kind: str) -> list[str]:
    return kind.split("+")


def is_nonnegative(kind: str) -> bool:
    return "emb" not in kind


def is_dense(kind: str) -> bool:
    return kind == "emb"


def normalize_config(config: FeatureConfig) -> FeatureConfig:
    """Fill defaults and drop unused blocks so equal configurations compare (and hash) equal."""
    kind = config.get("kind")
    if kind not in KINDS:
        raise ValueError(f"Unknown feature kind {kind!r}; expected one of {KINDS}.")
    out: FeatureConfig = {"kind": kind}
    if "word" in parts(kind):
        out["word"] = {**DEFAULT_WORD, **(config.get("word") or {})}
    if "char" in parts(kind):
        out["char"] = {**DEFAULT_CHAR, **(config.get("char") or {})}
    if "emb" in parts(kind) and kind != "emb":
        out["emb_weight"] = float(config.get("emb_weight", 1.0))
        if "word" in parts(kind):
            word_weight = float(config.get("word_weight", 1.0))
            if not 0.0 < word_weight <= 1.0:
                raise ValueError(f"word_weight must be in (0, 1]; got {word_weight}.")
            if word_weight != 1.0:
                out["word_weight"] = word_weight
    return out


def make_word_vectorizer(params: dict[str, Any], n_samples: int) -> TfidfVectorizer:
    min_df = int(params["min_df"]) if n_samples >= 50 else 1
    return TfidfVectorizer(
        analyzer="word",
        ngram_range=(1, int(params["ngram_max"])),
        min_df=min_df,
        max_df=float(params["max_df"]) if n_samples >= 50 else 1.0,
        sublinear_tf=bool(params["sublinear"]),
        strip_accents="unicode",
        lowercase=True,
        dtype=np.float32,
    )


def make_char_vectorizer(params: dict[str, Any], n_samples: int) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(2, int(params["ngram_max"])),
        min_df=2 if n_samples >= 50 else 1,
        sublinear_tf=True,
        strip_accents="unicode",
        lowercase=True,
        max_features=CHAR_MAX_FEATURES,
        dtype=np.float32,
    )


def vectorizer_key(part: str, config: FeatureConfig) -> tuple[Any, ...]:
    """Identity of the fitted vectorizer behind one block (selection is applied on top, not part of it)."""
    if part == "word":
        w = config["word"]
        return ("word", w["ngram_max"], w["min_df"], w["max_df"], w["sublinear"])
    if part == "char":
        return ("char", config["char"]["ngram_max"])
    return ("emb",)


def make_vectorizer(part: str, config: FeatureConfig, n_samples: int) -> TfidfVectorizer:
    if part == "word":
        return make_word_vectorizer(config["word"], n_samples)
    return make_char_vectorizer(config["char"], n_samples)


def make_selector(config: FeatureConfig, n_features: int) -> SelectKBest | None:
    select = config.get("word", {}).get("select")
    if not select or n_features <= MAX_SELECTED_FEATURES:
        return None
    score_func = f_classif if select == "f_classif" else chi2
    return SelectKBest(score_func, k=MAX_SELECTED_FEATURES)


def combine(blocks: list[Matrix], config: FeatureConfig) -> Matrix:
    """Stack blocks in ``parts(kind)`` order; the embedding block is weighted by ``emb_weight``, the word block
    by ``word_weight``."""
    kind = config["kind"]
    if kind == "emb":
        return blocks[0]
    if len(blocks) == 1:
        return blocks[0]
    mats: list[sp.spmatrix] = []
    for part, block in zip(parts(kind), blocks, strict=True):
        if part == "emb":
            mats.append(sp.csr_matrix(np.asarray(block) * config.get("emb_weight", 1.0)))
        elif part == "word" and config.get("word_weight", 1.0) != 1.0:
            mats.append(sp.csr_matrix(block) * config["word_weight"])
        else:
            mats.append(sp.csr_matrix(block))
    return sp.hstack(mats, format="csr", dtype=np.float32)


class TextFeaturizer(TransformerMixin, BaseEstimator):
    """Turns raw texts into the feature matrix of one configuration (used for refits and predictions).

    ``embed_fn`` maps texts to their embedding matrix (precomputed or from the cache); it is required only for
    configurations with embeddings.
    """

    def __init__(self, config: FeatureConfig | None = None, cache_dir: str | None = None) -> None:
        self.config = config
        self.cache_dir = cache_dir

    def _embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        from prelabel.automl.embeddings import default_cache_dir, embed

        return embed(texts, Path(self.cache_dir) if self.cache_dir else default_cache_dir())

    def fit(
        self,
        texts: Sequence[str],
        y: NDArray[np.integer] | None = None,
        embeddings: NDArray[np.float32] | None = None,
    ) -> TextFeaturizer:
        self._fit(texts, y, None)
        return self

    def fit_transform(
        self,
        texts: Sequence[str],
        y: NDArray[np.integer] | None = None,
        embeddings: NDArray[np.float32] | None = None,
    ) -> Matrix:
        """``fit(texts, y).transform(texts, embeddings)`` without vectorising the texts twice."""
        blocks: list[Matrix] = []
        self._fit(texts, y, blocks)
        out: list[Matrix] = []
        it = iter(blocks)
        for part in parts(self.config_["kind"]):
            out.append((embeddings if embeddings is not None else self._embed(texts)) if part == "emb" else next(it))
        return combine(out, self.config_)

    def _fit(self, texts: Sequence[str], y: NDArray[np.integer] | None, blocks: list[Matrix] | None) -> None:
        config = normalize_config(self.config or {"kind": "word"})
        self.config_ = config
        self.vectorizers_: dict[str, TfidfVectorizer] = {}
        self.selector_: SelectKBest | None = None
        for part in parts(config["kind"]):
            if part == "emb":
                continue
            vec = make_vectorizer(part, config, len(texts))
            x = vec.fit_transform(texts)
            self.vectorizers_[part] = vec
            if part == "word" and y is not None and np.ndim(y) == 1:
                sel = make_selector(config, x.shape[1])
                if sel is not None:
                    self.selector_ = sel.fit(x, y)
                    x = self.selector_.transform(x)
            if blocks is not None:
                blocks.append(x)

    def transform(
        self, texts: Sequence[str], embeddings: NDArray[np.float32] | None = None
    ) -> Matrix:
        config = self.config_
        blocks: list[Matrix] = []
        for part in parts(config["kind"]):
            if part == "emb":
                blocks.append(embeddings if embeddings is not None else self._embed(texts))
                continue
            x = self.vectorizers_[part].transform(texts)
            if part == "word" and self.selector_ is not None:
                x = self.selector_.transform(x)
            blocks.append(x)
        return combine(blocks, config)

    def n_features(self) -> int:
        total = 0
        for part in parts(self.config_["kind"]):
            if part == "emb":
                total += 384
            elif part == "word" and self.selector_ is not None:
                total += int(self.selector_.get_support().sum())
            else:
                total += len(self.vectorizers_[part].vocabulary_)
        return total


def describe(config: FeatureConfig) -> str:
    """Short human-readable name of a feature configuration for the leaderboard."""
    config = normalize_config(config)
    bits: list[str] = []
    for part in parts(config["kind"]):
        if part == "word":
            w = config["word"]
            sel = f",k:{w['select']}" if w.get("select") else ""
            scaled = f"x{config['word_weight']:.2g}" if "word_weight" in config else ""
            bits.append(
                f"word(1-{w['ngram_max']},df{w['min_df']},max{w['max_df']:g}"
                f"{',sub' if w['sublinear'] else ''}{sel}){scaled}"
            )
        elif part == "char":
            bits.append(f"char_wb(2-{config['char']['ngram_max']})")
        else:
            weight = config.get("emb_weight")
            bits.append("minilm" + (f"x{weight:g}" if weight is not None else ""))
    return "+".join(bits)
