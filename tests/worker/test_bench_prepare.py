"""`prelabel bench prepare`: real background workers, a real import of demo tweets, a fresh cache per run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prelabel.automl.embeddings import embeddings_available
from prelabel.cli.main import app


@pytest.mark.embeddings
@pytest.mark.slow
@pytest.mark.skipif(not embeddings_available(), reason="prelabel[embeddings] is not installed")
def test_bench_prepare_times_the_first_order_and_the_first_model(tmp_path: Path) -> None:
    out = tmp_path / "prepare.json"
    args = ["bench", "prepare", "--repeats", "1", "--rows", "150", "--settle", "3", "--json", str(out),
            "--variants", "preload-prepare,preload"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["rows"] == 150 and [v["name"] for v in doc["variants"]] == ["preload-prepare", "preload"]
    for v in doc["variants"]:
        assert len(v["seconds"]) == 1 and 0 < v["median"] < 300
        # the first ten labels, then the first fast version: the first order encoded the labeled texts already
        assert len(v["model_seconds"]) == 1 and 0 < v["model_median"] < 300
        assert "minilm" in v["model_features"][0]
    assert doc["variants"][0]["ratio"] == 1.0
    assert "import → first labels chosen" in result.output


def test_bench_prepare_refuses_an_unknown_variant() -> None:
    result = CliRunner().invoke(app, ["bench", "prepare", "--variants", "baseline,turbo"])
    assert result.exit_code != 0
    assert "Unknown variants ['turbo']" in str(result.exception) + result.output
