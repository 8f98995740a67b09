"""`prelabel bench encode`: texts/s of each sentence-encoder backend on the same texts, side by side.

The first ``--rows`` distinct non-empty texts of a CSV or JSONL file are encoded by every backend
(`prelabel.automl.encoders`: torch, onnx-fp32, onnx-int8) with each ``--threads`` count, in this one process,
each on a cold cache: the texts are encoded as `embed` encodes the texts missing from its cache (long texts as
their windows), without reading or writing any vector cache. Only the exported ONNX models are kept, under
``<cache_dir>/onnx/`` (exported first if missing; the export's seconds are the "load s" column). The table
shows the median texts/s over ``--repeats``, the ratio to torch at the same thread count (torch is always
run: it is the baseline) and the min / median cosine between each text's vector and torch's.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass
class Row:
    backend: str
    threads: int
    texts: int
    texts_per_s: float
    ratio: float  # texts/s over torch's at the same thread count
    cos_min: float  # with torch's vectors at the same thread count
    cos_median: float
    load_s: float  # loading (and, the first time, exporting) the backend


def read_texts(path: Path, text_column: str, rows: int) -> list[str]:
    """The first `rows` distinct non-empty texts of the file (the cache encodes a repeated text once)."""
    from prelabel.automl.data import read_table

    table = read_table(path, text_column=text_column, label_column=None, require_labels=False)
    texts = list(dict.fromkeys(t for t in table.texts if t.strip()))
    if not texts:
        raise ValueError(f"{path} has no non-empty text in column {text_column!r}")
    return texts[:rows]


def run(
    data: Path,
    *,
    text_column: str = "text",
    rows: int = 2000,
    threads: Sequence[int] = (1, 2),
    backends: Sequence[str] = ("torch", "onnx-fp32", "onnx-int8"),
    batch_size: int = 64,
    repeats: int = 1,
    cache_dir: Path | None = None,
    json_out: Path | None = None,
) -> list[Row]:
    """Encode the texts with every backend and thread count; print the table (and write it as JSON)."""
    from prelabel.automl.embeddings import default_cache_dir

    names = ["torch", *[b for b in backends if b != "torch"]]
    texts = read_texts(data, text_column, rows)
    loaded, load_s = _load(names, cache_dir if cache_dir is not None else default_cache_dir())
    out: list[Row] = []
    for n in threads:
        speed: dict[str, float] = {}
        vecs: dict[str, NDArray[np.float32]] = {}
        for name in names:
            speed[name], vecs[name] = _time(loaded[name], texts, batch_size, n, repeats)
        for name in names:
            cos = (vecs[name] * vecs["torch"]).sum(axis=1)
            out.append(Row(
                name, n, len(texts), round(speed[name], 1), round(speed[name] / speed["torch"], 2),
                round(float(cos.min()), 4), round(float(np.median(cos)), 4), round(load_s[name], 1),
            ))  # fmt: skip
    _print(out, data, batch_size, repeats)
    if json_out is not None:
        json_out.write_text(json.dumps({
            "data": str(data), "rows": len(texts), "batch_size": batch_size, "repeats": repeats, "baseline": "torch",
            "rows_by_backend": [asdict(r) for r in out],
        }, indent=1))  # fmt: skip
    return out


def _load(names: Sequence[str], cache_dir: Path) -> tuple[dict[str, Any], dict[str, float]]:
    """Each backend loaded (ONNX ones exported under ``<cache_dir>/onnx/`` if missing) and its seconds."""
    from prelabel.automl import encoders
    from prelabel.automl.embeddings import _load_model, onnx_dir

    t0 = time.perf_counter()
    model = _load_model()
    loaded: dict[str, Any] = {}
    seconds: dict[str, float] = {"torch": time.perf_counter() - t0}
    for name in names:
        t0 = time.perf_counter()
        loaded[name] = encoders.load_backend(name, model, onnx_dir(cache_dir))  # raises: a bench does not fall back
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
    return loaded, seconds


def _time(
    encoder: Any, texts: list[str], batch_size: int, threads: int, repeats: int
) -> tuple[float, NDArray[np.float32]]:
    """Median texts/s of encoding `texts` (as `embed` does for missing texts) over `repeats`, and the vectors."""
    from prelabel.automl.embeddings import encode_uncached

    encode_uncached(encoder, texts[:8], batch_size, threads)  # warm-up: sessions and first-run allocations
    rates = []
    vecs = np.zeros((0, 0), dtype=np.float32)
    for _ in range(repeats):
        t0 = time.perf_counter()
        vecs = encode_uncached(encoder, texts, batch_size, threads)
        rates.append(len(texts) / max(time.perf_counter() - t0, 1e-9))
    return statistics.median(rates), vecs


def _print(rows: list[Row], data: Path, batch_size: int, repeats: int) -> None:
    print(
        f"\nsentence encoder backends on {rows[0].texts if rows else 0} texts of {data.name} "
        f"(batch {batch_size}, median of {repeats}; cold cache)"
    )
    print("| backend | threads | texts/s | x torch | cos min | cos median | load s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r.backend} | {r.threads} | {r.texts_per_s:.1f} | {r.ratio:.2f} | {r.cos_min:.4f} | "
            f"{r.cos_median:.4f} | {r.load_s:.1f} |"
        )
    print("\n(x torch: texts/s over torch's with the same threads; cos: each text's vector against torch's)")
