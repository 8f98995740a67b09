"""`prelabel bench loop` on a tiny labeled file: real queue, real trainer, JSON and PNG written."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from typer.testing import CliRunner

from prelabel.bench.loop import CurvePoint, Dataset, Scorer, StrategyRun, load_dataset, split, summarise
from prelabel.cli.main import app

WORDS = {
    "sport": ["match", "goal", "team", "league", "coach", "striker", "season", "score"],
    "tech": ["software", "chip", "computer", "phone", "internet", "startup", "code", "robot"],
}


def _write(path: Path, n: int) -> None:
    rng = random.Random(0)
    filler = ["the", "a", "today", "new", "big", "report", "says", "after", "week"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for i in range(n):
            k = "sport" if i % 2 else "tech"
            words = rng.sample(WORDS[k], 2) + rng.sample(filler, 4)
            rng.shuffle(words)
            w.writerow([" ".join(words), k])


def test_bench_loop_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "toy.csv"
    _write(data, 300)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "loop",
            "--data",
            str(data),
            "--strategies",
            "random,margin",
            "--batch",
            "10",
            "--first",
            "10",
            "--max-labels",
            "40",
            "--test-split",
            "0.3",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "loop_toy.json").read_text())
    assert (out / "loop_toy.png").stat().st_size > 1000
    assert doc["metric"].startswith("F1(") and 0.8 < doc["full_data_score"] <= 1.0
    assert [r["strategy"] for r in doc["runs"]] == ["random", "margin"]
    for run in doc["runs"]:
        pts = run["points"]
        assert [p["n_labels"] for p in pts] == [10, 20, 30, 40]
        assert [p["version"] for p in pts] == [1, 2, 3, 4]  # one fast model per batch, numbered per project
        assert all(0 < p["latency_s"] < 60 for p in pts) and pts[-1]["score"] > 0.7
        assert run["latency_p50"] is not None and run["area"] > 0
    assert "loop simulation: toy" in result.output


def test_labels_to_95_and_ratio() -> None:
    a = StrategyRun("random", [CurvePoint(10, 0.5, 1, 1), CurvePoint(20, 0.8, 1, 2), CurvePoint(30, 0.96, 1, 3)])
    b = StrategyRun("margin", [CurvePoint(10, 0.6, 1, 1), CurvePoint(20, 0.97, 1, 2)])
    c = StrategyRun("entropy", [CurvePoint(10, 0.6, 1, 1)])
    summarise([a, b, c], full=1.0)
    assert (a.labels_to_95, b.labels_to_95, c.labels_to_95) == (30, 20, None)
    assert b.ratio_to_random == round(20 / 30, 3) and c.ratio_to_random is None
    assert a.area == round((0.5 + 0.8 + 0.96) / 3, 4)


def test_multilabel_file_and_keys(tmp_path: Path) -> None:
    p = tmp_path / "ml.jsonl"
    rows = [{"text": f"doc {i} money", "labels": ["money-fx", "a b"] if i % 2 else ["grain"]} for i in range(20)]
    p.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    ds = load_dataset(p, text_column="text", label_column="label", labels_column="labels", max_rows=None, seed=0)
    assert isinstance(ds, Dataset) and ds.multi and ds.categories == ["a_b", "grain", "money-fx"]
    tr, te = split(ds, 0.25, 0)
    assert len(te) == 5 and not set(tr) & set(te)
    assert Scorer(ds, tr, te).name == "micro-F1"
