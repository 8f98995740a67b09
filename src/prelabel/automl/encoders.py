"""Encoder backends for all-MiniLM-L6-v2: sentence-transformers on torch, or ONNX Runtime (fp32 or int8).

`prelabel.automl.embeddings` asks this module which backend to use (`backend_name`, cheap: nothing is loaded)
and for a loaded encoder (`load_backend`). Every backend turns texts that fit the model's window into
L2-normalised mean-pooled vectors exactly as the sentence-transformers pipeline does (same fast tokenizer, same
``max_seq_length``, mean over the attention mask, L2 normalisation); the word-aligned windows of long texts
are cut by the caller with the backend's tokenizer, so they work the same for every backend.

Backends (environment variable ``PRELABEL_ENCODER``, default ``auto``):

* ``torch``: ``SentenceTransformer.encode``, the reference;
* ``onnx-fp32``: the transformer inside the SentenceTransformer exported with ``torch.onnx.export`` on this
  machine from the shipped weights (nothing is downloaded), run by ONNX Runtime; its vectors are torch's
  (cosine 1.0000 on real tweets) but it is no faster than torch 2.13 on two cores;
* ``onnx-int8``: that export dynamically quantised (``quantize_dynamic``: int8 weights per output channel,
  weight matrices only), about 3x torch's texts/s on one thread, vectors at cosine ~0.993 median (0.977 min
  on 2,000 tweets) with torch's (docs/automl.md, "Encoder backends"). Each text is run alone: dynamic
  quantisation takes one activation scale per tensor, so in a batch a text's vector would depend on its
  neighbours and on padding; alone it depends on the text only (and does no padding work, so it is not
  slower). ``threads=1`` (what the
  trainer asks for) is one ONNX Runtime intra-op thread; ``threads=n`` runs n texts at once, each on one
  intra-op thread (faster than one text on n threads, and the same vectors);
* ``onnx`` = ``onnx-int8``; ``auto`` = ``onnx-int8`` when onnxruntime and onnx are installed and the export
  works, else ``torch``.

The exported models are written once per cache directory, ``<cache_dir>/onnx/all-MiniLM-L6-v2/<fp32|int8>/
model.onnx``, each to a temporary file that is checked against torch on a few sentences and then renamed, so
a concurrent process never reads half a file and a broken export is never kept. An ONNX variant whose export
or load fails is remembered for the process and torch is used instead (with a warning).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger("prelabel.automl")

ENCODER_ENV = "PRELABEL_ENCODER"
CHOICES = ("auto", "onnx", "onnx-int8", "onnx-fp32", "torch")
BACKENDS = ("torch", "onnx-fp32", "onnx-int8")
ONNX_DEFAULT = "onnx-int8"
# backends whose vectors equal torch's to float precision: they share torch's vector cache
SAME_AS_TORCH = frozenset({"torch", "onnx-fp32"})
# an export whose vectors of the probe sentences are further than this from torch's is broken: not kept
# (int8 is at ~0.99; a wrong graph gives ~0.5)
EXPORT_MIN_COSINE = 0.95
PROBES = (
    "Forest fire near La Ronge Sask. Canada",
    "The striker scored twice as the club won the league.",
    "Shares fell as the central bank raised interest rates.",
    "ok",
)
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
EMBEDDING_DIM = 384

_failed: set[str] = set()  # ONNX variants whose export or load failed in this process
_warned: set[str] = set()  # unknown PRELABEL_ENCODER values already reported
_export_lock = threading.Lock()


class Encoder(Protocol):
    name: str
    tokenizer: Any
    max_seq_length: int

    def encode(self, texts: Sequence[str], batch_size: int, threads: int | None) -> NDArray[np.float32]:
        """L2-normalised vectors of texts that fit the model's window (longer ones are truncated)."""
        ...


def onnx_available() -> bool:
    """True when ONNX Runtime and onnx (its quantiser needs it) are installed (checked without importing)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def requested() -> str:
    """The ``PRELABEL_ENCODER`` choice; an unknown value counts as ``auto`` (with a warning)."""
    choice = os.environ.get(ENCODER_ENV, "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        if choice not in _warned:  # asked at every cache lookup: say it once
            _warned.add(choice)
            logger.warning("%s=%r is not one of %s: using auto", ENCODER_ENV, choice, ", ".join(CHOICES))
        return "auto"
    return choice


def backend_name() -> str:
    """The backend that encodes now: the requested one, or torch when ONNX is not installed or its export failed
    in this process. Loads nothing, so a cache lookup can know its directory before any model is needed."""
    choice = requested()
    if choice == "torch":
        return "torch"
    variant = ONNX_DEFAULT if choice in ("auto", "onnx") else choice
    if variant in _failed or not onnx_available():
        return "torch"
    return variant


def cache_tag(backend: str) -> str:
    """The vector cache's sub-directory of `backend` ("" for torch's own directory)."""
    return "" if backend in SAME_AS_TORCH else backend


def load_backend(name: str, model: Any, export_root: Path) -> Encoder:
    """A loaded encoder `name` (one of BACKENDS) over the SentenceTransformer `model`; an ONNX variant is
    exported under `export_root` first if it is not there. Raises when that fails (see `load_or_torch`)."""
    if name == "torch":
        return TorchEncoder(model)
    if name not in BACKENDS:
        raise ValueError(f"unknown encoder backend {name!r}; expected one of {', '.join(BACKENDS)}")
    encoder = OnnxEncoder(name, ensure_onnx(name, model, export_root), model)
    encoder.session(1)  # opened now: a file that does not load fails here, where the caller can fall back
    return encoder


def load_or_torch(name: str, model: Any, export_root: Path) -> Encoder:
    """`load_backend`, falling back to torch (remembered for the process) when the ONNX variant fails."""
    try:
        return load_backend(name, model, export_root)
    except Exception:
        logger.warning("the %s sentence encoder could not be prepared; using torch", name, exc_info=True)
        _failed.add(name)
        return TorchEncoder(model)


class TorchEncoder:
    name = "torch"

    def __init__(self, model: Any) -> None:
        self.model = model
        self.tokenizer = getattr(model, "tokenizer", None)
        self.max_seq_length = int(getattr(model, "max_seq_length", 0) or 0)

    def encode(self, texts: Sequence[str], batch_size: int, threads: int | None) -> NDArray[np.float32]:
        if threads is not None:
            import torch

            torch.set_num_threads(max(1, threads))
        vecs = self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


class OnnxEncoder:
    """An exported model run by ONNX Runtime, with the SentenceTransformer's own tokenizer."""

    def __init__(self, name: str, path: Path, model: Any) -> None:
        self.name = name
        self.path = path
        self.tokenizer = model.tokenizer
        self.max_seq_length = int(model.max_seq_length)
        self._sessions: dict[int, Any] = {}  # intra-op threads → session (the count is fixed at creation)
        self._lock = threading.Lock()

    def session(self, threads: int | None) -> Any:
        n = max(1, threads) if threads is not None else 0  # 0: ONNX Runtime's default (the physical cores)
        with self._lock:
            if n not in self._sessions:
                self._sessions[n] = _session(self.path, n)
            return self._sessions[n]

    def encode(self, texts: Sequence[str], batch_size: int, threads: int | None) -> NDArray[np.float32]:
        if self.name == "onnx-int8":
            return self._encode_alone(texts, threads)
        return self._encode_batches(texts, batch_size, threads)

    def _encode_batches(self, texts: Sequence[str], batch_size: int, threads: int | None) -> NDArray[np.float32]:
        """Batches of similar length (the fewest padding tokens), as sentence-transformers does."""
        session = self.session(threads)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        parts = [order[start : start + max(1, batch_size)] for start in range(0, len(texts), max(1, batch_size))]
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        for rows in parts:
            enc = self.tokenizer(
                [texts[int(i)] for i in rows], padding=True, truncation=True, max_length=self.max_seq_length,
                return_tensors="np",
            )  # fmt: skip
            out[rows] = self._run(session, enc)
        return out

    def _encode_alone(self, texts: Sequence[str], threads: int | None) -> NDArray[np.float32]:
        """One text a run (see the module docstring). With ``threads`` n > 1, n texts run at once, each on one
        intra-op thread: measured ~1.4x the texts/s of one run on n threads, with the same vectors."""
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_seq_length)  # no padding needed
        session = self.session(1)
        names = [i.name for i in session.get_inputs()]

        def one(i: int) -> NDArray[np.float32]:
            return self._run(session, {n: [enc[n][i]] for n in names})[0]

        n = max(1, threads if threads is not None else os.cpu_count() or 1)
        if n == 1 or len(texts) < 2:
            rows = [one(i) for i in range(len(texts))]
        else:  # the session is thread-safe and ONNX Runtime releases the GIL while it runs
            with ThreadPoolExecutor(n) as pool:
                rows = list(pool.map(one, range(len(texts))))
        return np.stack(rows) if rows else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)

    @staticmethod
    def _run(session: Any, enc: Any) -> NDArray[np.float32]:
        feeds = {i.name: np.asarray(enc[i.name], dtype=np.int64) for i in session.get_inputs()}
        (hidden,) = session.run(["last_hidden_state"], feeds)
        return mean_pool(hidden, feeds["attention_mask"])


def mean_pool(hidden: NDArray[Any], mask: NDArray[Any]) -> NDArray[np.float32]:
    """sentence-transformers' Pooling(mean) then Normalize: the mean of the token vectors the attention mask
    keeps, L2-normalised (the same epsilons)."""
    m = mask[..., None].astype(np.float32)
    mean = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
    norm = np.clip(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12, None)
    return np.asarray(mean / norm, dtype=np.float32)


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1  # the graph is a chain: nothing runs beside it
    opts.log_severity_level = 3  # the CPU provider's notes on the int8 graph are not errors
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


# --- export -------------------------------------------------------------------------------------------------
def onnx_path(export_root: Path, name: str) -> Path:
    """Where the exported model of backend `name` lives: ``<export_root>/<fp32|int8>/model.onnx``."""
    return export_root / name.removeprefix("onnx-") / "model.onnx"


def ensure_onnx(name: str, model: Any, export_root: Path) -> Path:
    """The exported model of `name`, exported (and checked against torch) only if it is not on disk yet."""
    path = onnx_path(export_root, name)
    if path.exists():
        return path
    with _export_lock:  # one export per process at a time; another process may race: the renames are atomic
        fp32 = onnx_path(export_root, "onnx-fp32")
        if not fp32.exists():
            _atomic(fp32, "onnx-fp32", lambda tmp: export_fp32(model, tmp), model)
        if name == "onnx-int8" and not path.exists():
            _atomic(path, name, lambda tmp: quantize_int8(fp32, tmp), model)
    return path


def _atomic(path: Path, name: str, write: Callable[[Path], None], model: Any) -> None:
    """`write` the model of backend `name` to a temporary file beside `path`, check it against torch, then
    rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        check_export(name, tmp, model)
        os.replace(tmp, path)
        logger.info("sentence model exported to %s", path)
    finally:
        tmp.unlink(missing_ok=True)


def export_fp32(model: Any, out: Path) -> None:
    """``torch.onnx.export`` of the transformer inside the SentenceTransformer (its last hidden state; the
    pooling is done in numpy), with dynamic batch and sequence axes."""
    import torch

    bert = model[0].auto_model
    sample = model.tokenizer(["a first text", "and a second, longer one"], padding=True, return_tensors="pt")
    names = [n for n in INPUTS if n in sample]

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, *args: Any) -> Any:
            return self.bert(**dict(zip(names, args, strict=True))).last_hidden_state

    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        # dynamo=False: the TorchScript exporter needs no onnxscript and handles this graph
        torch.onnx.export(
            LastHidden().eval(), tuple(sample[n] for n in names), str(out), input_names=names,
            output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False,
        )  # fmt: skip


def quantize_int8(fp32: Path, out: Path) -> None:
    """Dynamic int8 quantisation of the weight matrices, per output channel: per-tensor scales lost ~0.04 of
    cosine (median 0.956 against 0.992 per channel, on tweets); the activations' MatMuls stay float."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    root.addFilter(_quantizer_notes)  # it logs dozens of notes per layer on the root logger
    # The quantiser writes `<input>-inferred.onnx` beside its input, a name that two processes exporting at once
    # (the two trainer processes with an empty cache) would share: each quantises its own copy.
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".quantize-") as private:
        source = Path(private) / "model.onnx"
        shutil.copyfile(fp32, source)
        try:
            quantize_dynamic(
                str(source), str(out), weight_type=QuantType.QInt8, per_channel=True,
                op_types_to_quantize=["MatMul"], extra_options={"MatMulConstBOnly": True},
            )  # fmt: skip
        finally:
            root.removeFilter(_quantizer_notes)


def _quantizer_notes(record: logging.LogRecord) -> bool:
    """False for the quantiser's own records (a filter on the root logger sees only records logged on it)."""
    return "onnxruntime" not in record.pathname or record.levelno >= logging.ERROR


def check_export(name: str, path: Path, model: Any) -> None:
    """Raise when the exported model's vectors of a few sentences are not torch's (a broken export)."""
    onnx = OnnxEncoder(name, path, model).encode(PROBES, 8, 1)
    torch_vecs = TorchEncoder(model).encode(PROBES, 8, None)
    worst = float((onnx * torch_vecs).sum(axis=1).min())
    if worst < EXPORT_MIN_COSINE:
        raise RuntimeError(f"the ONNX export of the sentence model differs from torch (cosine {worst:.3f})")
