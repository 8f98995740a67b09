"""Encoder backends (torch, ONNX Runtime fp32 / int8) on the real MiniLM model and real texts, and
`prelabel bench encode`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from automl_samples import sample
from typer.testing import CliRunner

from prelabel.automl import embeddings as emb_mod
from prelabel.automl import encoders

pytestmark = [
    pytest.mark.embeddings,
    pytest.mark.skipif(not emb_mod.embeddings_available(), reason="prelabel[embeddings] is not installed"),
]
needs_onnx = pytest.mark.skipif(not encoders.onnx_available(), reason="onnxruntime / onnx are not installed")


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache directory whose exported models the tests of this module share (an export takes seconds)."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(autouse=True)
def _fresh_backend_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PRELABEL_ENCODER from the environment and no failure remembered from another test."""
    monkeypatch.delenv(encoders.ENCODER_ENV, raising=False)
    monkeypatch.setattr(encoders, "_failed", set())


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


@needs_onnx
@pytest.mark.parametrize("name", ["onnx-fp32", "onnx-int8"])
def test_onnx_vectors_are_torchs_on_short_and_long_texts(name: str, onnx_cache: Path) -> None:
    tweets = [r["text"] for r in sample("disaster_tweets", "train.csv", 400)][:20]
    article = max((r["text"] for r in sample("bbc_news", "train.csv", 150)), key=len)
    model = emb_mod._load_model()
    assert len(emb_mod.windows(article, model.tokenizer, model.max_seq_length - 2)) > 2  # really windowed
    texts = [*tweets, article]
    encoder = encoders.load_backend(name, model, emb_mod.onnx_dir(onnx_cache))
    onnx = emb_mod.encode_uncached(encoder, texts, threads=1)
    torch = emb_mod.encode_uncached(encoders.TorchEncoder(model), texts)
    cos = _cos(onnx, torch)
    np.testing.assert_allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)
    assert cos[-1] >= 0.99, cos[-1]  # the long text: the length-weighted mean of its windows, both ways
    if name == "onnx-fp32":
        assert cos.min() >= 0.9999, cos.min()  # the same model in another runtime
    else:
        assert np.median(cos[:-1]) >= 0.99 and cos.min() >= 0.98, cos  # int8 weights: close, not equal
        # each text runs alone: two at once give the very same vectors, whatever their neighbours
        np.testing.assert_array_equal(emb_mod.encode_uncached(encoder, texts[::-1], threads=2), onnx[::-1])


@needs_onnx
def test_quantising_writes_nothing_beside_the_shared_fp32_model(onnx_cache: Path, tmp_path: Path) -> None:
    # Two trainer processes with an empty cache quantise at once; the quantiser's scratch file
    # `<input>-inferred.onnx` must not be a name they share. Taken here by a folder, that name cannot be written.
    model = emb_mod._load_model()
    fp32 = encoders.ensure_onnx("onnx-fp32", model, emb_mod.onnx_dir(onnx_cache))
    blocker = fp32.with_name("model-inferred.onnx")
    blocker.mkdir()
    try:
        out = tmp_path / "int8" / "model.onnx"
        out.parent.mkdir()
        encoders.quantize_int8(fp32, out)
        encoders.check_export("onnx-int8", out, model)
        assert [p.name for p in out.parent.iterdir()] == ["model.onnx"]  # its private copy is gone
    finally:
        blocker.rmdir()


@needs_onnx
def test_the_exported_model_is_written_once_then_reused(onnx_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = emb_mod._load_model()
    path = encoders.ensure_onnx("onnx-int8", model, emb_mod.onnx_dir(onnx_cache))  # exported now or before
    assert path == onnx_cache / "onnx" / emb_mod.MODEL_NAME / "int8" / "model.onnx"
    assert not list(path.parent.parent.rglob("*.tmp"))  # written atomically: no temporary file left behind
    stamp = path.stat().st_mtime_ns

    def no_export(*args: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(encoders, "export_fp32", no_export)
    monkeypatch.setattr(encoders, "quantize_int8", no_export)
    monkeypatch.setattr(emb_mod, "_encoders", {})  # a new process: nothing loaded, the file on disk
    monkeypatch.setenv(encoders.ENCODER_ENV, "onnx")
    encoder = emb_mod._load_encoder(onnx_cache)
    assert encoder.name == "onnx-int8" and path.stat().st_mtime_ns == stamp
    vec = emb_mod.embed(["Forest fire near La Ronge Sask. Canada"], onnx_cache)
    assert vec.shape == (1, emb_mod.EMBEDDING_DIM)
    # int8 vectors are not torch's: they are cached apart, never mixed with torch's
    assert list((onnx_cache / "embeddings" / emb_mod.MODEL_NAME / emb_mod.CACHE_VERSION / "onnx-int8").glob("*.npz"))


@needs_onnx
def test_prelabel_encoder_torch_forces_torch_and_its_own_cache(
    tmp_path: Path, onnx_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = ["Our Deeds are the Reason of this #earthquake May ALLAH Forgive us all"]
    monkeypatch.setenv(encoders.ENCODER_ENV, "torch")
    assert encoders.backend_name() == "torch"
    assert emb_mod._load_encoder(tmp_path).name == "torch"
    torch_vec = emb_mod.embed(text, tmp_path)
    assert not (tmp_path / "onnx").exists()  # nothing exported
    version_dir = tmp_path / "embeddings" / emb_mod.MODEL_NAME / emb_mod.CACHE_VERSION
    assert list(version_dir.glob("shard-*.npz")) and not (version_dir / "onnx-int8").exists()
    monkeypatch.setenv(encoders.ENCODER_ENV, "auto")
    assert encoders.backend_name() == "onnx-int8"
    assert emb_mod.count_missing(text, tmp_path) == 1  # torch's vector is not int8's
    emb_mod._load_encoder(onnx_cache)  # the shared export, not a new one in tmp_path
    int8_vec = emb_mod.embed(text, tmp_path)
    assert 0.98 < float(int8_vec[0] @ torch_vec[0]) < 1.0
    monkeypatch.setenv(encoders.ENCODER_ENV, "torch")
    np.testing.assert_array_equal(emb_mod.embed(text, tmp_path), torch_vec)  # torch's cache untouched


def test_falls_back_to_torch_without_onnxruntime_or_when_the_export_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emb_mod, "_encoders", {})
    monkeypatch.setattr(encoders, "onnx_available", lambda: False)
    assert encoders.backend_name() == "torch"
    assert emb_mod._load_encoder(tmp_path).name == "torch"
    assert emb_mod.EmbeddingCache(tmp_path).directory == (
        tmp_path / "embeddings" / emb_mod.MODEL_NAME / emb_mod.CACHE_VERSION
    )

    monkeypatch.setattr(encoders, "onnx_available", lambda: True)  # installed, but the export breaks
    monkeypatch.setattr(emb_mod, "_encoders", {})

    def broken(*args: object) -> None:
        raise RuntimeError("exporter failure")

    monkeypatch.setattr(encoders, "export_fp32", broken)
    assert encoders.backend_name() == "onnx-int8"
    vec = emb_mod.embed(["Just happened a terrible car crash"], tmp_path)
    assert vec.shape == (1, emb_mod.EMBEDDING_DIM)
    assert encoders.backend_name() == "torch"  # remembered: no second try in this process
    assert not list((tmp_path / "onnx").rglob("*.onnx"))  # nothing half-written kept
    assert emb_mod.count_missing(["Just happened a terrible car crash"], tmp_path) == 0  # in torch's cache


@needs_onnx
def test_bench_encode_command(tmp_path: Path, onnx_cache: Path) -> None:
    from prelabel.cli.bench import app

    rows = sample("disaster_tweets", "train.csv", 30)
    data = tmp_path / "tweets.csv"
    with data.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "text"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "encode.json"
    args = ["encode", "--data", str(data), "--rows", "30", "--threads", "1", "--cache-dir", str(onnx_cache)]
    res = CliRunner().invoke(app, [*args, "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "| onnx-int8 | 1 |" in res.output and "x torch" in res.output
    got = {r["backend"]: r for r in json.loads(out.read_text())["rows_by_backend"]}
    assert set(got) == {"torch", "onnx-fp32", "onnx-int8"}
    assert got["torch"]["ratio"] == 1.0 and all(r["texts"] == 30 and r["texts_per_s"] > 0 for r in got.values())
    assert got["onnx-fp32"]["cos_min"] >= 0.9999 and got["onnx-int8"]["cos_median"] >= 0.99
    res = CliRunner().invoke(app, ["encode", "--data", str(data), "--backends", "tensorflow"])
    assert res.exit_code != 0
