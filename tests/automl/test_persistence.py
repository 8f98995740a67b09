"""save / load / to_bytes with metadata and version checks."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest

from prelabel.automl import AutoTextClassifier, IncompatibleModelError, read_metadata


@pytest.fixture(scope="module")
def fitted(tweets: tuple[list[str], list[str]]) -> AutoTextClassifier:
    texts, y = tweets
    return AutoTextClassifier(time_budget=0).fit(texts, y)


def test_save_load_roundtrip(
    fitted: AutoTextClassifier, tmp_path: Path, tweets: tuple[list[str], list[str]]
) -> None:
    texts, _ = tweets
    path = fitted.save(tmp_path / "m" / "model.joblib")
    loaded = AutoTextClassifier.load(path)
    np.testing.assert_allclose(loaded.predict_proba(texts[:30]), fitted.predict_proba(texts[:30]))
    meta = read_metadata(path)
    assert meta["classes"] == ["0", "1"]
    assert meta["task"] == "binary"
    assert meta["feature_sets"] == ["word"]
    assert {"prelabel_version", "sklearn_version", "metrics", "format_version"} <= set(meta)


def test_bytes_roundtrip(fitted: AutoTextClassifier, tweets: tuple[list[str], list[str]]) -> None:
    texts, _ = tweets
    blob = fitted.to_bytes()
    assert isinstance(blob, bytes)
    again = AutoTextClassifier.from_bytes(blob)
    assert list(again.predict(texts[:10])) == list(fitted.predict(texts[:10]))


def _tamper(blob: bytes, **changes: object) -> bytes:
    data = joblib.load(io.BytesIO(blob))
    data["metadata"].update(changes)
    out = io.BytesIO()
    joblib.dump(data, out)
    return out.getvalue()


def test_refuses_other_sklearn_version(fitted: AutoTextClassifier, tmp_path: Path) -> None:
    blob = _tamper(fitted.to_bytes(), sklearn_version="1.0.2")
    with pytest.raises(IncompatibleModelError, match=r"saved with scikit-learn 1\.0\.2.*retrain the model"):
        AutoTextClassifier.from_bytes(blob)
    path = tmp_path / "old.joblib"
    path.write_bytes(blob)
    with pytest.raises(IncompatibleModelError):
        AutoTextClassifier.load(path)


def test_refuses_other_format_and_foreign_files(fitted: AutoTextClassifier, tmp_path: Path) -> None:
    with pytest.raises(IncompatibleModelError, match="format version 99"):
        AutoTextClassifier.from_bytes(_tamper(fitted.to_bytes(), format_version=99))
    foreign = tmp_path / "x.joblib"
    joblib.dump({"weights": [1, 2]}, foreign)
    with pytest.raises(IncompatibleModelError, match="not a prelabel"):
        AutoTextClassifier.load(foreign)
    # metadata is checked before the payload is unpickled
    bad = _tamper(fitted.to_bytes(), format="other")
    data = joblib.load(io.BytesIO(bad))
    data["payload"] = pickle.dumps("never unpickled")
    out = io.BytesIO()
    joblib.dump(data, out)
    with pytest.raises(IncompatibleModelError):
        AutoTextClassifier.from_bytes(out.getvalue())


def test_a_model_saved_before_a_parameter_existed_gets_its_default(
    fitted: AutoTextClassifier, tweets: tuple[list[str], list[str]]
) -> None:
    state = dict(fitted.__dict__)
    del state["fast_features"], state["fast_class_weight"]  # as pickled before these parameters existed
    old = AutoTextClassifier.__new__(AutoTextClassifier)
    old.__setstate__(state)
    assert old.get_params()["fast_features"] == "word"
    assert old.get_params()["fast_class_weight"] == "auto"
    assert list(old.predict(tweets[0][:10])) == list(fitted.predict(tweets[0][:10]))
    again = AutoTextClassifier.from_bytes(old.to_bytes())
    assert again.get_params() == fitted.get_params()
