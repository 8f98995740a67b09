"""Saving and loading fitted classifiers with their metadata.

A saved model is a joblib file holding ``{"metadata": {...}, "payload": <pickled estimator bytes>}``. The
metadata (format version, prelabel / scikit-learn / numpy / Python versions, task, classes, metrics, feature
sets) is read first, so an incompatible file is refused with a clear message before any of its objects are
unpickled. scikit-learn does not support unpickling estimators across minor versions, hence the check.
Only load files you trust: like every pickle, a model file can run code when loaded.
"""

from __future__ import annotations

import io
import pickle
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

FORMAT = "prelabel-automl"
FORMAT_VERSION = 1


class IncompatibleModelError(ValueError):
    """The model file was written by an incompatible version (or is not a prelabel model at all)."""


def prelabel_version() -> str:
    try:
        return version("prelabel")
    except PackageNotFoundError:
        return "0+unknown"


def _minor(v: str) -> str:
    return ".".join(v.split(".")[:2])


def build_metadata(estimator: Any) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "prelabel_version": prelabel_version(),
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "task": estimator.task_,
        "classes": [str(c) for c in estimator.classes_],
        "metric": estimator.metric_,
        "metrics": {
            "cv_score": float(estimator.best_score_),
            "calibration": {k: v for k, v in estimator.calibration_.items() if k != "candidates"},
        },
        "feature_sets": sorted({m["config"]["features"]["kind"] for m in estimator.ensemble_}),
        "members": [
            {"features": m["config"]["features"], "model": m["config"]["model"], "weight": m["weight"]}
            for m in estimator.ensemble_
        ],
    }


def check_compatible(metadata: Any) -> None:
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise IncompatibleModelError("This file is not a prelabel AutoTextClassifier model.")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise IncompatibleModelError(
            f"This model was saved in format version {metadata.get('format_version')} by prelabel "
            f"{metadata.get('prelabel_version')}; this prelabel ({prelabel_version()}) reads format version "
            f"{FORMAT_VERSION}. Retrain the model with this version."
        )
    saved = str(metadata.get("sklearn_version"))
    if _minor(saved) != _minor(sklearn.__version__):
        raise IncompatibleModelError(
            f"This model was saved with scikit-learn {saved} (prelabel {metadata.get('prelabel_version')}) "
            f"but scikit-learn {sklearn.__version__} is installed; estimators cannot be loaded across "
            f"scikit-learn minor versions. Install scikit-learn=={saved} or retrain the model."
        )


def to_bytes(estimator: Any) -> bytes:
    buf = io.BytesIO()
    payload = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
    joblib.dump({"metadata": build_metadata(estimator), "payload": payload}, buf, compress=3)
    return buf.getvalue()


def _unpack(blob: Any) -> Any:
    if not isinstance(blob, dict) or "metadata" not in blob or "payload" not in blob:
        raise IncompatibleModelError("This file is not a prelabel AutoTextClassifier model.")
    check_compatible(blob["metadata"])
    return pickle.loads(blob["payload"])


def from_bytes(data: bytes) -> Any:
    return _unpack(joblib.load(io.BytesIO(data)))


def save(estimator: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(to_bytes(estimator))
    tmp.replace(path)
    return path


def load(path: str | Path) -> Any:
    return _unpack(joblib.load(Path(path)))


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Metadata of a model file without unpickling the estimator."""
    blob = joblib.load(Path(path))
    if not isinstance(blob, dict) or "metadata" not in blob:
        raise IncompatibleModelError("This file is not a prelabel AutoTextClassifier model.")
    return dict(blob["metadata"])
