"""The measures `prelabel bench loop` reads off learning curves, and its runs-cache key: pure functions, no run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prelabel.bench import curves
from prelabel.bench import runs_cache as cache
from prelabel.bench.loop import LoopOptions, queue_settings


def test_sustained_crossing_ignores_a_touch_that_falls_back() -> None:
    touch_then_fall = [(10, 0.5), (20, 0.96), (30, 0.90), (40, 0.94)]
    assert curves.first_crossing(touch_then_fall, 0.95) == 20
    assert curves.sustained_crossing(touch_then_fall, 0.95) is None  # below the line at the horizon
    back_up = [*touch_then_fall, (50, 0.95), (60, 0.99)]
    assert curves.sustained_crossing(back_up, 0.95) == 50  # from here on it stays (the line itself counts)
    assert curves.sustained_crossing([(10, 0.97), (20, 0.98)], 0.95) == 10
    assert curves.sustained_crossing([], 0.95) is None and curves.first_crossing([], 0.95) is None


def test_normalised_area_is_the_step_curve_over_the_retrain_grid_divided_by_the_full_score() -> None:
    # no model at 10 labels yet, none published at 30 (the 20-label model still serves): a step curve
    curve = [(20, 0.6), (40, 0.8)]
    grid = [10, 20, 30, 40]
    assert curves.step_scores(curve, grid) == [0.0, 0.6, 0.6, 0.8]
    assert curves.mean_step_score(curve, grid) == pytest.approx(0.5)
    assert curves.normalised_area(curve, grid, full=0.8) == pytest.approx(0.625)
    assert curves.normalised_area([(10, 0.8)] * 1, [10, 20], full=0.8) == pytest.approx(1.0)
    assert curves.normalised_area(curve, grid, full=0.0) == 0.0 and curves.mean_step_score(curve, []) == 0.0


def test_paired_ratio_bounds_a_miss_by_the_horizon() -> None:
    assert curves.paired_ratio(20, 40, 100) == (0.5, "")
    assert curves.paired_ratio(20, None, 100) == (0.2, "<=")  # random needs more than 100: at most 0.2
    assert curves.paired_ratio(None, 50, 100) == (2.0, ">=")  # the strategy needs more than 100: at least 2
    assert curves.paired_ratio(None, None, 100) == (None, "")


def test_bootstrap_interval_of_the_median_is_deterministic_and_contains_it() -> None:
    values = [0.42, 0.5, 0.55, 0.61, 0.9, 0.45, 0.52]
    ci = curves.bootstrap_median_ci(values)
    assert ci is not None and ci == curves.bootstrap_median_ci(values)  # a fixed seed: the same interval
    low, high = ci
    assert low <= float(np.median(values)) <= high and low < high
    assert min(values) <= low and high <= max(values)
    # 2000 resamples with replacement by numpy's generator seeded 0, the 2.5th and 97.5th percentiles
    rng = np.random.default_rng(0)
    medians = np.median(np.asarray(values)[rng.integers(0, len(values), size=(2000, len(values)))], axis=1)
    assert ci == pytest.approx(tuple(np.percentile(medians, [2.5, 97.5])))
    assert curves.bootstrap_median_ci([0.7]) == (0.7, 0.7) and curves.bootstrap_median_ci([]) is None


def _engine(root: Path) -> Path:
    files = ("automl/a.py", "automl/sub/b.py", "worker/trainer.py", "worker/model.py", "worker/other.py", "cli/c.py")
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"x = {rel!r}\n", encoding="utf-8")
    return root


def test_engine_hash_changes_with_any_engine_source_file(tmp_path: Path) -> None:
    root = _engine(tmp_path / "prelabel")
    h = cache.engine_hash(root)
    assert h == cache.engine_hash(root) and len(h) == 64
    (root / "cli" / "c.py").write_text("c = 2\n", encoding="utf-8")  # not the engine
    (root / "worker" / "other.py").write_text("o = 2\n", encoding="utf-8")
    assert cache.engine_hash(root) == h
    for rel in ("automl/sub/b.py", "worker/trainer.py", "worker/model.py"):
        before = cache.engine_hash(root)
        (root / rel).write_text((root / rel).read_text(encoding="utf-8") + "# changed\n", encoding="utf-8")
        assert cache.engine_hash(root) != before, rel
    before = cache.engine_hash(root)
    (root / "automl" / "new.py").write_text("", encoding="utf-8")  # a new module of the package
    assert cache.engine_hash(root) != before
    # the installed package, read from disk
    assert len(cache.engine_hash()) == 64 and cache.engine_hash() == cache.engine_hash()


def test_the_cache_key_changes_with_the_engine_and_every_option_of_a_run(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("text,label\na,x\nb,y\n", encoding="utf-8")
    base = LoopOptions(data)

    def key(opts: LoopOptions, strategy: str = "mix", seed: int = 0, emb: bool = True, engine: str = "e1") -> str:
        return cache.run_key(opts.cache_options(strategy, seed, emb), engine=engine)

    k = key(base)
    assert key(LoopOptions(data)) == k != key(base, engine="e2")
    variants = [
        LoopOptions(data, batch=5), LoopOptions(data, first=5), LoopOptions(data, batch_growth=0.1),
        LoopOptions(data, max_labels=300), LoopOptions(data, test_split=0.2), LoopOptions(data, max_rows=100),
        LoopOptions(data, label_column="target"), LoopOptions(data, initial_order="random"),
        LoopOptions(data, random_share=0.1), LoopOptions(data, mix_options={"cold_start": 0}),
        LoopOptions(data, live=True), LoopOptions(data, extra_unlabeled=data),
    ]  # fmt: skip
    assert all(key(v) != k for v in variants)
    assert key(base, seed=1) != k and key(base, emb=False) != k and key(base, strategy="margin") != k
    # random sampling reads neither the random share nor the mix's parameters: its runs are shared
    assert key(LoopOptions(data, mix_options={"density": 0.0}), "random") == key(base, "random")
    assert key(base, "random-start") != key(base, "random")
    assert queue_settings("random-start", "diverse") == ("random", "random")
    assert queue_settings("random", "diverse") == ("random", "diverse")
    # the data file's content, not only its name
    data.write_text("text,label\na,x\nb,x\n", encoding="utf-8")
    assert key(base) != k


def test_a_cached_run_is_reused_only_with_an_equal_key(tmp_path: Path) -> None:
    k1, k2 = cache.run_key({"a": 1}, engine="e"), cache.run_key({"a": 2}, engine="e")
    path = cache.cache_path(tmp_path / "runs", dataset="d", strategy="mix", seed=0, key=k1)
    assert cache.load(path, k1) is None  # nothing stored yet
    cache.save(path, k1, {"strategy": "mix", "seed": 0})
    assert cache.load(path, k1) == {"strategy": "mix", "seed": 0}
    assert cache.load(path, k2) is None  # the same file, another key: run again
    path.write_text('{"strategy": "mix"}', encoding="utf-8")  # an old-format file without its key
    assert cache.load(path, k1) is None
