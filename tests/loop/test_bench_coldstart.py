"""`prelabel bench coldstart` on 300 committed disaster tweets (tests/data/README.md): paired, nested draws; only
label-free systems at n = 0; the table, the JSON of every per-seed value and the plot."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from prelabel.bench import coldstart as cs
from prelabel.bench.loop import load_dataset
from prelabel.cli.main import app

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "disaster_tweets_300.csv"


def _task() -> cs.Task:
    ds = load_dataset(SAMPLE, text_column="text", label_column="target", labels_column=None, max_rows=None, seed=0)
    return cs.make_task(ds, cs.PRESETS["disaster_tweets"].question, cs.PRESETS["disaster_tweets"].categories)


def _spy(monkeypatch: pytest.MonkeyPatch, names: list[str]) -> dict[tuple[str, int, int], list[tuple[int, ...]]]:
    """Wrap the systems to record the labeled rows each one is given, per (system, seed, n)."""
    seen: dict[tuple[str, int, int], list[tuple[int, ...]]] = defaultdict(list)
    for name in names:
        system = cs.SYSTEMS[name]

        def fn(bench: cs.Bench, sd: cs.SeedData, draw: cs.Draw, _name: str = name, _fn: Any = system.fn) -> Any:
            seen[(_name, draw.seed, draw.n)].append(draw.indices)
            return _fn(bench, sd, draw)

        monkeypatch.setitem(cs.SYSTEMS, name, cs.System(fn, system.label_free, system.vectors))
    return seen


def test_draws_are_paired_nested_and_label_free_at_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ["prelabel (no vectors)", "majority", "tfidf+lr"]
    seen = _spy(monkeypatch, names)
    cfg = cs.Config(sizes=(0, 10, 30), seeds=(0, 1), systems=tuple(names), max_test=60)
    res = cs.run_task(_task(), cfg)
    # n = 0: only the label-free system ran (the served model, which has nothing without vectors)
    assert {k[0] for k in seen if k[2] == 0} == {"prelabel (no vectors)"}
    assert [(r.system, r.status) for r in res.records if r.n == 0] == [("prelabel (no vectors)", "no model")] * 2
    for seed in (0, 1):
        order = res.orders["random"][seed]
        assert len(order) == 30 and set(order) <= set(cs.seed_data(res.task.ds, seed, cfg).train_idx)
        for n in (10, 30):
            draws = {seen[(name, seed, n)][0] for name in names}
            assert draws == {tuple(order[:n])}  # every system got the same rows: the first n of the order
            assert len({r.labels_sha1 for r in res.records if r.seed == seed and r.n == n}) == 1
    assert res.orders["random"][0][:10] != res.orders["random"][1][:10]
    tfidf = [r for r in res.records if r.system == "tfidf+lr" and r.n > 0]
    assert len(tfidf) == 4 and all(r.accuracy is not None and 0 <= r.accuracy <= 1 for r in tfidf)


def test_one_class_draw_counts_as_majority() -> None:
    task = _task()
    cfg = cs.Config(sizes=(2,), seeds=(0,), systems=("majority", "tfidf+lr"), max_test=60)
    sd = cs.seed_data(task.ds, 0, cfg)
    zeros = [i for i in sd.train_idx if task.ds.targets[i] == "0"][:2]
    recs = cs.evaluate_draw(cs.Bench(task, Path("."), None), sd, cs.Draw("random", 0, 2, tuple(zeros)), cfg.systems)
    base, lr = recs
    assert (lr.status, lr.counted_as, lr.accuracy) == ("no model", "majority", base.accuracy)
    cells = cs.summarise(recs, "random", cfg.sizes, cfg.systems)
    assert cells[1].no_model == 1 and "†" in cs._cell_text(cells[1], multi=False)


def test_notes_say_where_prelabel_is_below_an_anchor() -> None:
    def cell(system: str, acc: float) -> cs.Cell:
        return cs.Cell(system, 10, acc, acc, None, acc, 0.1, 0.1, 1, 0, "ok")

    cells = [cell("prelabel", 0.55), cell("majority", 0.57), cell("tfidf+lr", 0.70)]
    text = "\n".join(cs.notes(cells, cs.Config(sizes=(10,), systems=("prelabel", "majority", "tfidf+lr"))))
    assert "prelabel 0.550 is below the best anchor (tfidf+lr 0.700)" in text
    assert "prelabel 0.550 is below the majority class (majority 0.570)" in text


def test_presets_describe_every_label_of_their_data(datasets: Path) -> None:
    for name, preset in cs.PRESETS.items():
        task = cs.preset_task(name, datasets)
        assert task.ds.categories == sorted(preset.categories), name
        assert preset.question and all(n and d for n, d in preset.categories.values()), name
    assert len(cs.PRESETS["goemotions"].categories) == 28 and len(cs.PRESETS["reuters21578_top20"].categories) == 20


@pytest.mark.embeddings
def test_cli_prints_the_table_and_writes_every_seed(tmp_path: Path) -> None:
    out, png = tmp_path / "cs.json", tmp_path / "cs.png"
    described = tmp_path / "descriptions.json"
    described.write_text(json.dumps({k: {"name": n, "description": d}
                                     for k, (n, d) in cs.PRESETS["disaster_tweets"].categories.items()}))  # fmt: skip
    args = ["bench", "coldstart", "--data", str(SAMPLE), "--label-column", "target", "--descriptions", str(described),
            "--question", "Is this tweet about a real disaster?", "--sizes", "0,10,20", "--seeds", "2",
            "--max-test", "80", "--json", str(out), "--png", str(png)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    header = "| n | prelabel | prelabel (no vectors) | majority | tfidf+lr | minilm+lr | zero-shot |"
    if cs.setfit_available():
        assert header + " setfit |" in result.output
    else:  # a system no draw could run has no column, only a note
        assert header + "\n" in result.output and "- setfit: not available: the setfit package" in result.output
    assert "### disaster_tweets_300, random order" in result.output
    assert png.stat().st_size > 1000
    doc = json.loads(out.read_text())["datasets"][0]
    recs = doc["records"]
    at_zero = {r["system"]: r for r in recs if r["n"] == 0 and r["seed"] == 0}
    assert set(at_zero) == {"prelabel", "prelabel (no vectors)", "zero-shot"}
    # with no label the served model is the zero-shot version
    assert at_zero["prelabel"]["note"] == "zero-shot version"
    assert at_zero["prelabel"]["accuracy"] == at_zero["zero-shot"]["accuracy"] is not None
    assert at_zero["prelabel (no vectors)"]["status"] == "no model"
    for system in ("prelabel", "majority", "tfidf+lr", "minilm+lr", "zero-shot"):
        rows = [r for r in recs if r["system"] == system and r["n"] == 20]
        assert sorted(r["seed"] for r in rows) == [0, 1], system
        assert all(r["accuracy"] is not None and r["macro_f1"] is not None and r["ece"] is not None for r in rows)
    assert doc["orders"]["random"]["0"][:10] != doc["orders"]["random"]["1"][:10]
    assert {c["system"] for c in doc["summary"]["random"]} >= {"prelabel", "zero-shot"}


def test_queue_order_is_what_the_simulated_labeler_met() -> None:
    cfg = cs.Config(sizes=(0, 10, 15), seeds=(0,), orders=("queue",), systems=("majority",), max_test=60)
    res = cs.run_task(_task(), cfg)
    order = res.orders["queue"][0]
    assert len(order) == 15 == len(set(order)) and set(order) <= set(cs.seed_data(res.task.ds, 0, cfg).train_idx)
    assert order != cs.random_order(cs.seed_data(res.task.ds, 0, cfg))[:15]
    assert [r.n for r in res.records] == [10, 15]
