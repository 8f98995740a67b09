"""`prelabel automl fit|predict` and `prelabel bench automl` on small real files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from automl_samples import sample
from typer.testing import CliRunner

from prelabel.automl import AutoTextClassifier
from prelabel.cli.automl import app


def _write_csv(path: Path, rows: list[dict[str, str]], fields: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def test_fit_then_predict_csv(tmp_path: Path) -> None:
    rows = sample("sms_spam", "train.csv", 220)
    train = _write_csv(tmp_path / "train.csv", rows[:200], ["text", "label"])
    test_rows = [{"id": f"m{i}", "text": r["text"]} for i, r in enumerate(rows[200:])]
    test = _write_csv(tmp_path / "test.csv", test_rows, ["id", "text"])
    model = tmp_path / "model.joblib"
    runner = CliRunner()
    res = runner.invoke(app, ["fit", "--train", str(train), "--budget", "0", "--out", str(model)])
    assert res.exit_code == 0, res.output
    assert AutoTextClassifier.load(model).classes_.tolist() == ["ham", "spam"]
    out = tmp_path / "pred.csv"
    res = runner.invoke(app, ["predict", "--model", str(model), "--input", str(test), "--out", str(out)])
    assert res.exit_code == 0, res.output
    with out.open(newline="") as fh:
        got = list(csv.DictReader(fh))
    assert list(got[0]) == ["id", "label", "proba_ham", "proba_spam"]
    assert [g["id"] for g in got] == [f"m{i}" for i in range(20)]
    assert all(g["label"] in ("ham", "spam") for g in got)
    assert all(abs(float(g["proba_ham"]) + float(g["proba_spam"]) - 1) < 1e-5 for g in got)


def test_fit_multilabel_jsonl_and_bad_input(tmp_path: Path) -> None:
    rows = sample("reuters21578_top20", "train.jsonl", 120)
    train = tmp_path / "train.jsonl"
    train.write_text(
        "\n".join(json.dumps({"id": r["id"], "text": r["text"], "labels": r["labels"]}) for r in rows)
    )
    model = tmp_path / "m.joblib"
    runner = CliRunner()
    args = ["fit", "--train", str(train), "--labels-column", "labels", "--budget", "0", "--out", str(model)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = tmp_path / "p.csv"
    res = runner.invoke(app, ["predict", "--model", str(model), "--input", str(train), "--out", str(out)])
    assert res.exit_code == 0, res.output
    header = out.read_text().splitlines()[0].split(",")
    assert header[:2] == ["id", "labels"]
    one_class = _write_csv(tmp_path / "one.csv", [{"text": "a b", "label": "x"}] * 5, ["text", "label"])
    res = runner.invoke(app, ["fit", "--train", str(one_class), "--budget", "0", "--out", str(model)])
    assert res.exit_code != 0
    assert "at least 2 classes" in res.output


def test_bench_automl_table(tmp_path: Path) -> None:
    from prelabel.bench.automl import run

    rows = sample("disaster_tweets", "train.csv", 300)
    train = _write_csv(tmp_path / "tweets.csv", rows, ["id", "text", "target"])
    out = tmp_path / "bench.json"
    result = run(
        train,
        None,
        "text",
        "target",
        None,
        budget=3,
        test_split=0.3,
        json_out=out,
        systems=["original", "prelabel"],
        n_jobs=1,
        print_table=False,
    )
    assert [r["system"] for r in result] == ["original", "prelabel", "first model (10 labels)"]
    first = result[2]  # time to a first model: 10 labels, no search
    assert first["n_train"] == 10 and first["info"] == "10 labels, mode fast" and first["wall_time"] > 0
    assert 0.0 <= first["test_f1"] <= 1.0
    for r in result[:2]:
        assert r["n_test"] == 90
        assert 0.0 <= r["test_f1"] <= 1.0 and 0.0 <= r["test_ece"] <= 1.0
        assert r["test_log_loss"] > 0
        assert r["wall_time"] > 0
    assert json.loads(out.read_text())[1]["system"] == "prelabel"


def test_bench_fast_pairs_class_weights_on_the_same_samples(tmp_path: Path) -> None:
    from prelabel.cli.main import app as main_app

    rows = sample("sms_spam", "train.csv", 400)
    data = _write_csv(tmp_path / "sms.csv", rows, ["text", "label"])
    out = tmp_path / "fast.json"
    args = ["bench", "fast", "--data", str(data), "--sizes", "20,40", "--draws", "2", "--features", "word"]
    res = CliRunner().invoke(main_app, [*args, "--variants", "none,balanced", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "| balanced |" in res.output and "F1(spam) on 120 held-out rows" in res.output
    got = json.loads(out.read_text())
    assert got["baseline"] == "none" and got["features"] == "word"
    cells = {(c["variant"], c["n_labels"]): c for c in got["cells"]}
    assert set(cells) == {("none", 20), ("none", 40), ("balanced", 20), ("balanced", 40)}
    for (variant, _), c in cells.items():
        assert len(c["scores"]) == 2 and all(0.0 <= s <= 1.0 for s in c["scores"])
        if variant == "none":  # the baseline's paired ratio to itself
            assert all(r == 1.0 for r in c["ratios"])
    res = CliRunner().invoke(main_app, [*args, "--variants", "none,heavy"])
    assert res.exit_code == 2 and "Unknown class weight 'heavy'" in res.output
    res = CliRunner().invoke(main_app, [*args, "--sizes", "20,5000"])
    assert res.exit_code == 2 and "training part has 280" in " ".join(res.output.replace("│", " ").split())
