"""`prelabel bench loop` on tiny labeled files: real queue, real trainer, JSON and PNG written; every strategy
from the project's start, the measures read off the curves, the runs cache."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prelabel.automl.embeddings import embeddings_available
from prelabel.bench.loop import (
    CurvePoint,
    Dataset,
    Scorer,
    StrategyRun,
    aggregate,
    batch_sizes,
    interface_for,
    load_dataset,
    result_stem,
    simulate,
    split,
    summarise,
)
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
            "--no-embeddings",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "loop_toy.json").read_text())
    assert doc["embeddings"] is False and all(p["features"] == "word" for r in doc["runs"] for p in r["points"])
    assert (out / "loop_toy.png").stat().st_size > 1000
    assert doc["metric"].startswith("F1(") and 0.8 < doc["full_data_score"] <= 1.0
    assert [r["strategy"] for r in doc["runs"]] == ["random", "margin"]
    # no sentence vectors, so no prepare job: both start from the seed's random order, random included
    assert doc["initial_order_setting"] == "diverse" and {r["initial_order"] for r in doc["runs"]} == {"random"}
    random_run, margin_run = doc["runs"]
    assert random_run["first_batch"] == margin_run["first_batch"] and len(random_run["first_batch"]) == 10
    assert doc["retrain_grid"] == [10, 20, 30, 40] and doc["horizon"] == 40
    for run in doc["runs"]:
        pts = run["points"]
        assert [p["n_labels"] for p in pts] == [10, 20, 30, 40]
        assert [p["version"] for p in pts] == [1, 2, 3, 4]  # one fast model per batch, numbered per project
        assert all(0 < p["latency_s"] < 60 for p in pts) and pts[-1]["score"] > 0.7
        assert run["latency_p50"] is not None and run["area"] > 0
        # every version's calibration, measured on the held-out split and as its metrics claim it
        assert all(p["ece"] is not None and 0.0 <= p["ece"] <= 1.0 for p in pts)
        claimed = [p for p in pts if p["claimed_ece"] is not None]
        assert claimed and all(0.0 <= p["claimed_ece"] <= 1.0 for p in claimed)
        assert run["ece"] == round(sum(p["ece"] for p in claimed) / len(claimed), 4)
        # suggestions: none before the first model (no zero-shot without vectors), then one on every label
        assert [p["suggested"] for p in pts] == [0, 10, 10, 10] and run["suggested"] == 30
        assert run["n_labels"] == 40 and run["suggestion_accuracy"] == round(run["accepted"] / 30, 4)
        assert run["norm_area"] == pytest.approx(run["area"] / doc["full_data_scores"]["0"], abs=1e-3)
    assert all(sm["ece"] is not None and sm["claimed_ece"] is not None for sm in doc["summary"])
    assert doc["summary"][0]["paired_ratios"] in ([1.0], [None])  # random ÷ itself
    assert "loop simulation: toy" in result.output and "ECE held-out" in result.output
    assert "stays ≥ 95 %" in result.output and "2000 resamples" in result.output  # the legend, markup intact


def test_labels_to_95_and_ratio() -> None:
    a = StrategyRun("random", [CurvePoint(10, 0.5, 1, 1), CurvePoint(20, 0.8, 1, 2), CurvePoint(30, 0.96, 1, 3)])
    b = StrategyRun("margin", [CurvePoint(10, 0.6, 1, 1), CurvePoint(20, 0.97, 1, 2), CurvePoint(30, 0.98, 1, 3)])
    c = StrategyRun("entropy", [CurvePoint(10, 0.6, 1, 1), CurvePoint(20, 0.7, 1, 2), CurvePoint(30, 0.8, 1, 3)])
    summarise([a, b, c], full=1.0)
    assert (a.labels_to_95, b.labels_to_95, c.labels_to_95) == (30, 20, None)
    assert (b.ratio_to_random, b.ratio_bound) == (round(20 / 30, 3), "")
    # entropy never got there within the 30 labels: at least 30 / 30, a lower bound
    assert (c.ratio_to_random, c.ratio_bound) == (1.0, ">=")
    assert a.area == round((0.5 + 0.8 + 0.96) / 3, 4) == a.norm_area
    assert b.area_ratio_to_random == round(b.norm_area / a.norm_area, 3)


def test_labels_to_95_counts_only_a_crossing_that_lasts_to_the_horizon() -> None:
    grid = [10, 20, 30, 40, 50]

    def run(name: str, scores: tuple[float, ...]) -> StrategyRun:
        return StrategyRun(name, [CurvePoint(n, v, 1, i) for i, (n, v) in enumerate(zip(grid, scores, strict=True))])

    touch = run("mix", (0.5, 0.96, 0.9, 0.97, 0.99))
    falls = run("margin", (0.5, 0.97, 0.98, 0.99, 0.9))
    stays = run("random", (0.5, 0.6, 0.95, 0.96, 0.97))
    summarise([stays, touch, falls], full=1.0, grid=grid)
    # touched the line at 20, fell back at 30: counted from 40, where it stays
    assert (touch.first_touch_95, touch.labels_to_95) == (20, 40)
    # above the line from 20 to 40 but below at the horizon: not reached
    assert (falls.first_touch_95, falls.labels_to_95) == (20, None) and falls.ratio_bound == ">="
    assert (stays.first_touch_95, stays.labels_to_95) == (30, 30)
    assert (touch.ratio_to_random, touch.ratio_bound) == (round(40 / 30, 3), "")


def test_calibration_is_averaged_over_the_versions_that_claim_it() -> None:
    pts = [CurvePoint(10, 0.5, 1, 1, ece=0.30), CurvePoint(20, 0.8, 1, 2, ece=0.10, claimed_ece=0.05),
           CurvePoint(30, 0.9, 1, 3, ece=0.20, claimed_ece=0.15)]  # fmt: skip
    a, b = StrategyRun("random", pts, seed=0), StrategyRun("random", [CurvePoint(10, 0.5, 1, 1)], seed=1)
    summarise([a], full=1.0)
    summarise([b], full=1.0)
    assert (a.ece, a.claimed_ece) == (0.15, 0.1)  # the first version claims nothing: left out of both
    assert (b.ece, b.claimed_ece) == (None, None)
    (sm,) = aggregate([a, b])
    assert (sm.ece, sm.claimed_ece) == (0.15, 0.1)  # the median over the seeds that have one


def test_multilabel_file_and_keys(tmp_path: Path) -> None:
    p = tmp_path / "ml.jsonl"
    rows = [{"text": f"doc {i} money", "labels": ["money-fx", "a b"] if i % 2 else ["grain"]} for i in range(20)]
    p.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    ds = load_dataset(p, text_column="text", label_column="label", labels_column="labels", max_rows=None, seed=0)
    assert isinstance(ds, Dataset) and ds.multi and ds.categories == ["a_b", "grain", "money-fx"]
    tr, te = split(ds, 0.25, 0)
    assert len(te) == 5 and not set(tr) & set(te)
    assert Scorer(ds, tr, te).name == "micro-F1"
    # every record has a label: the job is required, as a team labeling this would set it; otherwise not
    assert interface_for(ds)["jobs"][0]["required"] is True
    ds.targets[0] = []
    assert interface_for(ds)["jobs"][0]["required"] is False


def test_the_benchmark_scores_what_the_pre_annotation_names(tmp_path: Path) -> None:
    from prelabel.bench.loop import full_data_score

    p = tmp_path / "ml.jsonl"
    rng = random.Random(0)
    rows = []
    for i in range(80):
        topic = "sport" if i % 2 else "tech"
        words = rng.sample(WORDS[topic], 4) + (["grain"] if i % 5 == 0 else [])
        rows.append({"text": " ".join(words), "labels": [topic] + (["grain"] if i % 5 == 0 else [])})
    p.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    ds = load_dataset(p, text_column="text", label_column="label", labels_column="labels", max_rows=None, seed=0)
    tr, te = split(ds, 0.25, 0)
    scorer = Scorer(ds, tr, te)
    from sklearn.metrics import f1_score

    from prelabel.domain import parse_interface
    from prelabel.worker.model import ProjectModel, TrainingSet

    interface = parse_interface(interface_for(ds))
    ts = TrainingSet(list(tr), [ds.texts[i] for i in tr], [ds.targets[i] for i in tr])
    model = ProjectModel(interface, tier="fast").fit({"LABEL": ts})
    served = model.responses(model.predict_proba(scorer.test_texts))
    named = [{x["name"] for x in r["LABEL"]["categories"]} for r, _ in served]
    pred = np.array([[int(c in names) for c in ds.categories] for names in named])
    assert (pred.sum(axis=1) >= 1).all()  # required: every pre-annotation names a category
    assert scorer(model) == f1_score(scorer.y, pred, average="micro", zero_division=0)
    assert full_data_score(ds, tr, scorer) > 0.8


def test_batch_sizes_follow_the_production_trigger() -> None:
    assert batch_sizes(10, 20, 0.0, 100) == [10, 20, 20, 20, 20, 20]
    sizes = batch_sizes(10, 10, 0.1, 400)
    assert sizes[:10] == [10] * 10 and sum(sizes) >= 400 and sum(sizes[:-1]) < 400
    n = sizes[0]
    for k in sizes[1:]:
        # each batch is the least number of new labels the trigger accepts: max(10, int(0.1 * labeled))
        assert k >= max(10, int(0.1 * (n + k))) and not (k - 1 >= max(10, int(0.1 * (n + k - 1))))
        n += k
    assert sizes[-1] > 30  # batches grow with the project


def test_production_schedule_is_the_triggers() -> None:
    """`--batch 5 --batch-growth 0.1` (after 10) retrains exactly when the production trigger does."""
    from prelabel.service.training import TRAINING_SETTINGS, retrain_threshold

    keys = ("train_min_labels", "train_min_new_labels", "train_growth")
    first, batch, growth = (TRAINING_SETTINGS[k][0] for k in keys)
    assert (first, batch, growth) == (10, 5, 0.1)
    sizes = batch_sizes(first, batch, growth, 1000)
    assert sizes[:9] == [10] + [5] * 8  # every 5 labels up to 50
    n = sizes[0]
    for k in sizes[1:]:
        assert k >= retrain_threshold(None, n + k) and k - 1 < retrain_threshold(None, n + k - 1)
        n += k


def test_live_runs_do_not_overwrite_simulations() -> None:
    assert result_stem("sms_spam", live=False) == "loop_sms_spam"
    assert result_stem("sms_spam", live=True) == "loop_sms_spam_live"


def test_aggregate_medians_spread_and_paired_ratios() -> None:
    def run(name: str, seed: int, hit_at: int | None) -> StrategyRun:
        pts = [
            CurvePoint(n, 1.0 if hit_at is not None and n >= hit_at else 0.5, 1.0, i)
            for i, n in enumerate((10, 20, 30, 40))
        ]
        return StrategyRun(name, pts, seed=seed)

    runs = [run("random", 0, 40), run("random", 1, 30), run("random", 2, None)]
    runs += [run("mix", 0, 20), run("mix", 1, 10), run("mix", 2, 20)]
    runs += [run("margin", 0, None), run("margin", 1, None), run("margin", 2, 10)]
    for sd in range(3):
        summarise([r for r in runs if r.seed == sd], full=1.0)
    rnd, mix, margin = aggregate(runs)
    assert rnd.labels_to_95 == [40, 30, None] and rnd.median_labels_to_95 == 40  # a miss counts as infinite
    assert mix.median_labels_to_95 == 20 and mix.ratio_to_random == 0.5
    # seed 2: random never got there, so 20 labels against more than 40 is at most 0.5
    assert mix.paired_ratios == [0.5, round(10 / 30, 3), 0.5] and mix.paired_bounds == ["", "", "<="]
    assert mix.paired_ratio_median == 0.5 and mix.reached == 3
    low, high = mix.paired_ratio_ci or (0.0, 0.0)
    assert low <= 0.5 <= high and high <= 0.5  # resampled medians of three values: within their range
    # neither reached it on seed 2: nothing to compare there
    assert margin.paired_ratios == [round(40 / 40, 3), round(40 / 30, 3), 0.25]
    assert margin.paired_bounds == [">=", ">=", "<="]
    assert margin.median_labels_to_95 is None and margin.ratio_to_random is None  # median run missed
    assert mix.norm_area > rnd.norm_area and mix.paired_area_ratio_median is not None
    assert mix.curve == [(10, 0.5), (20, 1.0), (30, 1.0), (40, 1.0)]
    assert rnd.curve[-1] == (40, 1.0) and rnd.curve[1] == (20, 0.5)


def _sms_sample(datasets: Path, path: Path, n_spam: int = 30, n_ham: int = 90) -> Path:
    """A real sample of SMS messages, a quarter spam (so each seed's first batch holds both classes)."""
    with (datasets / "sms_spam" / "train.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rng = random.Random(0)
    picked = rng.sample([r for r in rows if r["label"] == "spam"], n_spam)
    picked += rng.sample([r for r in rows if r["label"] == "ham"], n_ham)
    rng.shuffle(picked)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(picked)
    return path


def test_every_strategy_starts_as_production_starts_a_project(tmp_path: Path, datasets: Path) -> None:
    from prelabel.service.training import training_setting

    data = _sms_sample(datasets, tmp_path / "sms.csv")
    ds = load_dataset(data, text_column="text", label_column="label", labels_column=None, max_rows=None, seed=0)
    tr, te = split(ds, 0.3, 0)
    scorer = Scorer(ds, tr, te)
    emb = embeddings_available()
    default = str(training_setting(None, "queue_strategy"))
    runs = {
        name: simulate(
            ds, tr, scorer, name, batch=10, first=10, max_labels=10, workdir=tmp_path, seed=0,
            random_share=0.0, use_embeddings=emb, initial_order="diverse",
        )
        for name in ("random", default, "random-start")
    }
    # random sampling and the default strategy: the same first order, the same first batch
    start = "diverse" if emb else "random"  # the diverse order needs the sentence vectors
    assert runs["random"].initial_order == runs[default].initial_order == start
    assert runs["random"].first_batch == runs[default].first_batch and len(runs["random"].first_batch) == 10
    # random-start: random sampling from the seed's random order, as the run records
    assert runs["random-start"].initial_order == "random"
    if emb:
        assert runs["random-start"].first_batch != runs["random"].first_batch
    assert [r.n_labels for r in runs.values()] == [10, 10, 10]
    assert runs["random"].points[0].score == runs[default].points[0].score  # one first model, trained twice


def test_bench_loop_seeds_growth_and_runs_cache(tmp_path: Path, datasets: Path) -> None:
    # two seeds, growing batches, the mix plus random
    data = _sms_sample(datasets, tmp_path / "sms.csv")
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["bench", "loop", "--data", str(data), "--strategies", "random,mix", "--batch", "10",
            "--batch-growth", "0.5", "--max-labels", "30", "--seeds", "2", "--out", str(out),
            "--runs-cache", str(cache)]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    doc = json.loads((out / "loop_sms.json").read_text())
    assert doc["batch_sizes"] == [10, 10, 19] and doc["seeds"] == [0, 1]  # 19 >= int(0.5 * (20 + 19))
    assert doc["retrain_grid"] == [10, 20, 39] and doc["horizon"] == 39
    assert [(r["strategy"], r["seed"]) for r in doc["runs"]] == [("random", 0), ("mix", 0), ("random", 1), ("mix", 1)]
    assert all([p["n_labels"] for p in r["points"]] == [10, 20, 39] for r in doc["runs"])
    # by default the texts are encoded first and every fast model adds the sentence vectors
    emb = embeddings_available()
    assert doc["embeddings"] is emb
    assert {p["features"] for r in doc["runs"] for p in r["points"]} == {"word+emb" if emb else "word"}
    # random sampling starts as the mix does: from the project's first order, the same first labels
    assert {r["initial_order"] for r in doc["runs"]} == {"diverse" if emb else "random"}
    for sd in (0, 1):
        assert len({tuple(r["first_batch"]) for r in doc["runs"] if r["seed"] == sd}) == 1
    assert doc["full_data_scores"]["0"] != doc["full_data_scores"]["1"]  # each seed its own split
    assert [s["strategy"] for s in doc["summary"]] == ["random", "mix"]
    assert [n for n, _ in doc["summary"][1]["curve"]] == [10, 20, 39]
    assert len(doc["engine_hash"]) == 64 and doc["mix"]["cold_start"] == 25
    # a file per run and one per seed's full-data score
    assert len(list(cache.glob("*.json"))) == 6 and len(list(cache.glob("*_full-data_*.json"))) == 2
    assert (out / "loop_sms.png").stat().st_size > 1000
    again = CliRunner().invoke(app, args)  # every run comes from the cache (equal keys), identical
    assert again.exit_code == 0 and again.output.count("reused") == 4
    assert json.loads((out / "loop_sms.json").read_text())["runs"] == doc["runs"]
    # another mix option: a new key for the mix's runs only (random sampling does not read it)
    dense0 = CliRunner().invoke(app, [*args, "--mix-options", "density=0"])
    assert dense0.exit_code == 0, dense0.output
    assert dense0.output.count("reused") == 2 and "seed 0 random: reused" in dense0.output
    assert json.loads((out / "loop_sms.json").read_text())["mix"]["density"] == 0.0
    # every option is checked before anything runs
    bad = CliRunner().invoke(app, [*args, "--initial-order", "smart"])
    assert bad.exit_code != 0 and "Unknown initial order 'smart'" in str(bad.exception or "") + bad.output
    for option, message in (("rare_share=0.5", "Unknown mix options"), ("cold_start=2.5", "whole number"),
                            ("density=high", "key=number pairs"), ("density=-1", "density must be")):  # fmt: skip
        res = CliRunner().invoke(app, [*args, "--mix-options", option])
        assert res.exit_code != 0 and message in str(res.exception or "") + res.output, option
    unknown = CliRunner().invoke(app, [*args, "--strategies", "random,badge"])
    assert unknown.exit_code != 0 and "Unknown strategies ['badge']" in str(unknown.exception or "") + unknown.output
