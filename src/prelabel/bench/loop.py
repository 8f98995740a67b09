"""`prelabel bench loop`: simulate labelers on a labeled data set, through the real queue and trainer.

For each strategy, in a fresh temporary SQLite database: the training part of the data is imported with the
labels hidden; then, batch after batch, the simulated labeler asks the queue for the next asset exactly as the
API does (`service.queue.next_asset`), and submits its true label (`service.labels.create_label`). After each
batch the trainer runs in-process as in production (`Trainer.run_until_idle`: the label trigger queues a fast
job, which trains, predicts every asset and recomputes the queue's priorities). The time from the batch's
last label to the new model version being READY (all its predictions visible) is the label→predictions
latency. Every model version is scored on the held-out split.

Reported per strategy: the learning curve (score against labels), its area (mean score over the curve's
points, i.e. the normalised area under the step curve), the labels needed to reach 95 % of the full-data score
(the fast tier trained on every training row), that count as a ratio to random's, and the latency p50/p95.
Scores: F1 of the rarer class for binary tasks, macro-F1 for multi-class, micro-F1 for multi-label.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

KEY_RE = re.compile(r"[^A-Za-z0-9_\-.]")


@dataclass
class Dataset:
    name: str
    texts: list[str]
    targets: list[Any]  # a label, or a list of labels
    multi: bool
    categories: list[str]


@dataclass
class CurvePoint:
    n_labels: int
    score: float
    latency_s: float
    version: int


@dataclass
class StrategyRun:
    strategy: str
    points: list[CurvePoint] = field(default_factory=list)
    area: float = 0.0
    labels_to_95: int | None = None
    ratio_to_random: float | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None
    first_latency: float | None = None
    seconds: float = 0.0


def _key(label: Any) -> str:
    k = KEY_RE.sub("_", str(label).strip()) or "EMPTY"
    return k if k[0].isalnum() or k[0] == "_" else f"_{k}"


def load_dataset(
    path: Path,
    *,
    text_column: str,
    label_column: str,
    labels_column: str | None,
    max_rows: int | None,
    seed: int,
) -> Dataset:
    rows: list[dict[str, Any]]
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
    else:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    texts: list[str] = []
    targets: list[Any] = []
    multi = labels_column is not None
    for i, row in enumerate(rows):
        text = row.get(text_column)
        if not isinstance(text, str) or not text.strip():
            continue
        if multi:
            value = row.get(labels_column or "")
            if not isinstance(value, list):
                raise ValueError(f"{path}: row {i + 1} has no list in column {labels_column!r}.")
            targets.append(sorted({_key(v) for v in value}))
        else:
            if label_column not in row:
                raise ValueError(f"{path}: row {i + 1} has no column {label_column!r}.")
            targets.append(_key(row[label_column]))
        texts.append(text)
    if max_rows is not None and len(texts) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(texts), max_rows, replace=False))
        texts = [texts[i] for i in keep]
        targets = [targets[i] for i in keep]
    cats: list[str] = sorted({c for tg in targets for c in tg}) if multi else sorted(set(targets))
    name = path.parent.name if path.stem in ("train", "test", "data", "dev") and path.parent.name else path.stem
    return Dataset(name, texts, targets, multi, cats)


def split(ds: Dataset, test_split: float, seed: int) -> tuple[list[int], list[int]]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(ds.texts))
    strat = None if ds.multi else ds.targets
    try:
        tr, te = train_test_split(idx, test_size=test_split, random_state=seed, stratify=strat)
    except ValueError:
        tr, te = train_test_split(idx, test_size=test_split, random_state=seed)
    return sorted(int(i) for i in tr), sorted(int(i) for i in te)


class Scorer:
    """The benchmark's one metric, applied the same way to every model version and the full-data model."""

    def __init__(self, ds: Dataset, train_idx: list[int], test_idx: list[int]) -> None:
        self.ds = ds
        self.test_texts = [ds.texts[i] for i in test_idx]
        if ds.multi:
            self.y = np.array([[int(c in ds.targets[i]) for c in ds.categories] for i in test_idx])
            self.name = "micro-F1"
        else:
            self.y_lab = [ds.targets[i] for i in test_idx]
            if len(ds.categories) == 2:
                counts = {c: sum(ds.targets[i] == c for i in train_idx) for c in ds.categories}
                self.pos = min(ds.categories, key=lambda c: (counts[c], c))
                self.name = f"F1({self.pos})"
            else:
                self.name = "macro-F1"

    def __call__(self, model: Any) -> float:
        from sklearn.metrics import f1_score

        proba = model.predict_proba(self.test_texts)
        p = proba.get("LABEL")
        if p is None:
            return 0.0
        job = model.interface.job("LABEL")
        if self.ds.multi:
            pred = (p >= model.thresholds(job)[None, :]).astype(int)
            return float(f1_score(self.y, pred, average="micro", zero_division=0))
        keys = job.category_keys()
        pred_l = [keys[j] for j in p.argmax(axis=1)]
        if len(self.ds.categories) == 2:
            return float(f1_score(self.y_lab, pred_l, pos_label=self.pos, average="binary", zero_division=0))
        return float(f1_score(self.y_lab, pred_l, labels=self.ds.categories, average="macro", zero_division=0))


def interface_for(ds: Dataset) -> dict[str, Any]:
    return {
        "jobs": [
            {
                "name": "LABEL",
                "input": "multi" if ds.multi else "single",
                "required": not ds.multi,
                "categories": [{"key": c} for c in ds.categories],
            }
        ]
    }


def response_for(ds: Dataset, target: Any) -> dict[str, Any]:
    names = target if ds.multi else [target]
    return {"LABEL": {"categories": [{"name": n} for n in names]}}


def full_data_score(ds: Dataset, train_idx: list[int], scorer: Scorer) -> float:
    from prelabel.domain import parse_interface
    from prelabel.worker.model import ProjectModel, TrainingSet

    interface = parse_interface(interface_for(ds))
    ts = TrainingSet(list(train_idx), [ds.texts[i] for i in train_idx], [ds.targets[i] for i in train_idx])
    model = ProjectModel(interface, tier="fast").fit({"LABEL": ts})
    return scorer(model)


def simulate(
    ds: Dataset,
    train_idx: list[int],
    scorer: Scorer,
    strategy: str,
    *,
    batch: int,
    first: int,
    max_labels: int,
    workdir: Path,
    seed: int,
    extra_unlabeled: list[str] | None = None,
    progress: Any = None,
    live: bool = False,
) -> StrategyRun:
    from prelabel.service.assets import import_assets
    from prelabel.service.auth import Actor, create_user
    from prelabel.service.dto import AssetIn
    from prelabel.service.labels import create_label
    from prelabel.service.projects import create_project
    from prelabel.service.queue import next_asset, skip_asset
    from prelabel.store import tables as t
    from prelabel.store.engine import Store
    from prelabel.worker.model import ProjectModel
    from prelabel.worker.trainer import Trainer

    start = time.perf_counter()
    db = workdir / f"{strategy}.db"
    store = Store(f"sqlite:///{db}")
    store.upgrade()
    try:
        u = create_user(store, "sim", "simulated-labeler-password")
        actor = Actor(user_id=u.id, username=u.username)
        project = create_project(
            store,
            actor,
            title=f"sim {ds.name} {strategy}",
            interface=interface_for(ds),
            settings={
                "queue_strategy": strategy,
                "train_min_labels": min(first, batch),
                "train_growth": 0.0,
                "queue_random_share": 0.1,
                # live: the production defaults (debounce, searches in their own process)
                **({} if live else {"train_debounce_s": 0.0, "search_enabled": False}),
            },
        )
        records = [AssetIn(external_id=f"r{i}", content=ds.texts[i]) for i in train_idx]
        records += [AssetIn(external_id=f"x{j}", content=text) for j, text in enumerate(extra_unlabeled or [])]
        import_assets(store, actor, project.id, records)
        truth = {f"r{i}": ds.targets[i] for i in train_idx}
        # the queue is random until the first model: shuffle the initial priorities reproducibly
        from sqlalchemy import select

        from prelabel.service.queue import set_priorities

        with store.transaction(read_only=True) as s:
            ids = list(s.scalars(select(t.Asset.id).where(t.Asset.project_id == project.id).order_by(t.Asset.id)))
        rng = np.random.default_rng(seed)
        set_priorities(store, project.id, zip(ids, rng.random(len(ids)).tolist(), strict=True))

        trainer = Trainer(store, worker_id=f"sim-{strategy}", chunk_size=5000)
        handle = None
        if live:
            from prelabel.config import Settings
            from prelabel.worker.process import start_background_worker

            handle = start_background_worker(Settings(database_url=store.url, log_level="WARNING"))
            if not handle.wait_ready():
                raise RuntimeError("the background workers did not start within 120 s")
        run = StrategyRun(strategy)
        n = 0
        while n < max_labels:
            size = first if n == 0 else batch
            last_label_at = time.perf_counter()
            given = 0
            while given < size:
                asset = next_asset(store, actor, project.id)
                if asset is None:
                    break
                target = truth.get(asset.external_id)
                if target is None:  # an extra unlabeled asset: the simulated labeler skips it
                    skip_asset(store, actor, project.id, asset.id)
                    continue
                create_label(store, actor, project.id, asset.id, json_response=response_for(ds, target))
                last_label_at = time.perf_counter()
                given += 1
            if given == 0:
                break
            n += given
            if live:
                found = _wait_for_version(store, project.id, n, timeout=300.0)
                if found is None:
                    raise RuntimeError(f"no fast model on {n} labels within 300 s")
                mv_id, version = found
            else:
                results = trainer.run_until_idle()
                done = [r for r in results if r.status == "SUCCEEDED" and r.model_version_id]
                if not done:
                    if progress:
                        progress(strategy, n, None)
                    continue
                mv_id, version = int(done[-1].model_version_id or 0), int(done[-1].version or 0)
            latency = time.perf_counter() - last_label_at
            with store.transaction(read_only=True) as s:
                mv = s.get(t.ModelVersion, mv_id)
                assert mv is not None
                artifact = mv.artifact
            model = ProjectModel.from_bytes(artifact or b"")
            score = scorer(model)
            run.points.append(CurvePoint(n, round(score, 4), round(latency, 3), version))
            if progress:
                progress(strategy, n, score)
        run.seconds = round(time.perf_counter() - start, 1)
        lat = [p.latency_s for p in run.points]
        if lat:
            run.first_latency = lat[0]
            run.latency_p50 = round(statistics.median(lat), 3)
            run.latency_p95 = round(float(np.percentile(lat, 95)), 3)
        return run
    finally:
        if handle is not None:
            handle.stop()
        store.dispose()


def _wait_for_version(store: Any, project_id: int, n_labels: int, *, timeout: float) -> tuple[int, int] | None:
    """Poll until a READY fast version trained on at least `n_labels` labels exists: (id, version)."""
    from sqlalchemy import select

    from prelabel.store import tables as t

    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        with store.transaction(read_only=True) as s:
            row = s.execute(
                select(t.ModelVersion.id, t.ModelVersion.version)
                .where(
                    t.ModelVersion.project_id == project_id,
                    t.ModelVersion.status == "READY",
                    t.ModelVersion.tier == "fast",
                    t.ModelVersion.n_labels >= n_labels,
                )
                .order_by(t.ModelVersion.version.desc())
                .limit(1)
            ).first()
        if row is not None:
            return int(row[0]), int(row[1])
        time.sleep(0.02)
    return None


def summarise(runs: list[StrategyRun], full: float) -> None:
    target = 0.95 * full
    for r in runs:
        if r.points:
            r.area = round(float(np.mean([p.score for p in r.points])), 4)
            hit = next((p.n_labels for p in r.points if p.score >= target), None)
            r.labels_to_95 = hit
    base = next((r for r in runs if r.strategy == "random"), None)
    for r in runs:
        if base is not None and base.labels_to_95 and r.labels_to_95:
            r.ratio_to_random = round(r.labels_to_95 / base.labels_to_95, 3)


def plot(ds_name: str, runs: list[StrategyRun], full: float, metric: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for r in runs:
        ax.plot([p.n_labels for p in r.points], [p.score for p in r.points], marker=".", label=r.strategy)
    ax.axhline(full, color="grey", linestyle="--", linewidth=1, label=f"full data ({full:.3f})")
    ax.axhline(0.95 * full, color="grey", linestyle=":", linewidth=1, label="95 % of full data")
    ax.set_xlabel("labels")
    ax.set_ylabel(f"held-out {metric}")
    ax.set_title(f"prelabel loop simulation: {ds_name}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@threadpool_limits.wrap(limits=1)  # as the trainer does: oversubscribed BLAS threads only slow things down
def run(
    data: Path,
    *,
    text_column: str,
    label_column: str,
    labels_column: str | None,
    strategies: list[str],
    batch: int,
    first: int,
    max_labels: int,
    test_split: float,
    max_rows: int | None,
    extra_unlabeled: Path | None,
    out: Path | None,
    seed: int,
    live: bool = False,
) -> dict[str, Any]:
    from rich.console import Console
    from rich.table import Table

    from prelabel.automl.active import STRATEGIES

    console = Console(width=None if Console().is_terminal else 140)
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"Unknown strategies {unknown}; choose from {sorted(STRATEGIES)}.")
    ds = load_dataset(
        data,
        text_column=text_column,
        label_column=label_column,
        labels_column=labels_column,
        max_rows=max_rows,
        seed=seed,
    )
    extra: list[str] = []
    if extra_unlabeled is not None:
        extra = load_dataset(
            extra_unlabeled,
            text_column=text_column,
            label_column=text_column,
            labels_column=None,
            max_rows=None,
            seed=seed,
        ).texts
    train_idx, test_idx = split(ds, test_split, seed)
    scorer = Scorer(ds, train_idx, test_idx)
    t0 = time.perf_counter()
    full = full_data_score(ds, train_idx, scorer)
    console.print(
        f"[bold]{ds.name}[/]: {len(train_idx)} pool + {len(extra)} unlabeled extra assets, "
        f"{len(test_idx)} held out, {len(ds.categories)} categories "
        f"({'multi' if ds.multi else 'single'}-label); full-data "
        f"{scorer.name} = {full:.4f} ({time.perf_counter() - t0:.1f} s)"
    )
    runs = []
    with tempfile.TemporaryDirectory(prefix="prelabel-bench-loop-") as tmp:
        for strat in strategies:

            def progress(name: str, n: int, score: float | None) -> None:
                if n % (5 * batch) < batch or score is None:
                    shown = "-" if score is None else f"{score:.3f}"
                    console.print(f"  {name:<16} {n:>5} labels  {shown}", highlight=False)

            runs.append(
                simulate(
                    ds,
                    train_idx,
                    scorer,
                    strat,
                    batch=batch,
                    first=first,
                    max_labels=max_labels,
                    workdir=Path(tmp),
                    seed=seed,
                    extra_unlabeled=extra,
                    progress=progress,
                    live=live,
                )
            )
    summarise(runs, full)
    table = Table(title=f"loop simulation: {ds.name} ({scorer.name}; full data {full:.4f}; 95 % = {0.95 * full:.4f})")
    for col in (
        "strategy",
        "area",
        "final",
        "labels→95%",
        "ratio vs random",
        "first latency s",
        "latency p50 s",
        "latency p95 s",
        "wall s",
    ):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for r in runs:
        table.add_row(
            r.strategy,
            f"{r.area:.4f}",
            f"{r.points[-1].score:.4f}" if r.points else "-",
            str(r.labels_to_95) if r.labels_to_95 else f">{r.points[-1].n_labels if r.points else 0}",
            f"{r.ratio_to_random:.2f}" if r.ratio_to_random is not None else "-",
            f"{r.first_latency:.2f}" if r.first_latency is not None else "-",
            f"{r.latency_p50:.2f}" if r.latency_p50 is not None else "-",
            f"{r.latency_p95:.2f}" if r.latency_p95 is not None else "-",
            f"{r.seconds:.0f}",
        )
    console.print(table)
    result = {
        "dataset": ds.name,
        "file": str(data),
        "metric": scorer.name,
        "full_data_score": round(full, 4),
        "n_pool": len(train_idx),
        "n_extra_unlabeled": len(extra),
        "n_test": len(test_idx),
        "batch": batch,
        "first": first,
        "max_labels": max_labels,
        "seed": seed,
        "live": live,
        "runs": [asdict(r) for r in runs],
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"loop_{ds.name}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        plot(ds.name, runs, full, scorer.name, out / f"loop_{ds.name}.png")
        console.print(f"wrote {out / f'loop_{ds.name}.json'} and {out / f'loop_{ds.name}.png'}")
    return result
