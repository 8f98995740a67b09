"""The `prelabel bench loop --runs-cache` key: a finished (strategy, seed) run is reused only when every input
that could change it is equal.

The key is the sha256 of a canonical JSON document holding the hash of the engine's code (`engine_hash`), the
hashes of the data files' contents, the benchmark's `RUN_FORMAT` and every option of the run (`run_key`). Any
edit to the engine's source files, to a data file or to an option gives another key, so a stale run is never
reused; nothing has to be emptied by hand.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import prelabel

# Bumped when `bench.loop.simulate` records a run differently (new fields, another definition): older runs go.
RUN_FORMAT = 2

PACKAGE = Path(prelabel.__file__).resolve().parent
# The engine a simulated run exercises: the AutoML package, the trainer that drives it and orders the queue, and
# the model seam between them.
ENGINE_SOURCES = ("automl", "worker/trainer.py", "worker/model.py")


def engine_hash(root: Path = PACKAGE, sources: tuple[str, ...] = ENGINE_SOURCES) -> str:
    """sha256 over the engine's Python source files under `root` (each file's path relative to `root` and its
    bytes, in path order), read from disk."""
    files: list[Path] = []
    for name in sources:
        path = root / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes, computed once per process for each (path, size, modification time)."""
    st = path.stat()
    return _file_hash(str(path.resolve()), st.st_size, st.st_mtime_ns)


@cache
def _file_hash(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_key(options: Mapping[str, Any], *, engine: str) -> str:
    """The cache key of one run: `options` (JSON-serialisable values), the engine's hash and `RUN_FORMAT`."""
    doc = {"engine": engine, "format": RUN_FORMAT, **options}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def cache_path(folder: Path, *, dataset: str, strategy: str, seed: int, key: str) -> Path:
    return folder / f"{dataset}_{strategy}_seed{seed}_{key[:16]}.json"


def load(path: Path, key: str) -> dict[str, Any] | None:
    """The cached run stored at `path` when its recorded key equals `key` (None otherwise)."""
    if not path.exists():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or doc.get("key") != key or not isinstance(doc.get("run"), dict):
        return None
    return dict(doc["run"])


def save(path: Path, key: str, run: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "run": dict(run)}), encoding="utf-8")
