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
import hashlib
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
    features: str = ""  # the model's feature kind, e.g. "word" or "word+emb"
    # calibration of the probabilities labelers are shown (top class of a single-choice job, every category of a
    # multi-choice one): measured on the held-out split, and as the version's own metrics claim it (out of fold)
    ece: float | None = None
    claimed_ece: float | None = None


@dataclass
class StrategyRun:
    strategy: str
    points: list[CurvePoint] = field(default_factory=list)
    seed: int = 0
    area: float = 0.0
    labels_to_95: int | None = None
    ratio_to_random: float | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None
    first_latency: float | None = None
    seconds: float = 0.0
    ece: float | None = None  # mean over the run's versions of the held-out ECE
    claimed_ece: float | None = None  # mean over the same versions of the ECE their metrics claim


@dataclass
class StrategySummary:
    """One strategy over several seeds: medians, the spread, and the median learning curve."""

    strategy: str
    seeds: list[int]
    labels_to_95: list[int | None]  # per seed (None: not reached within the run)
    median_labels_to_95: float | None  # None when the median run did not reach 95 %
    ratio_to_random: float | None  # median labels / random's median labels
    paired_ratios: list[float | None]  # per seed: labels / random's labels on the same seed (split, order)
    reached: int
    area: float
    final: float
    max_labels: int
    latency_p50: float | None
    latency_p95: float | None
    first_latency: float | None
    seconds: float
    curve: list[tuple[int, float]]  # median score per label count present in every seed
    ece: float | None = None  # median over seeds of the run's mean held-out ECE
    claimed_ece: float | None = None  # the same for the ECE the versions claim (on the same versions)


def result_stem(dataset: str, *, live: bool) -> str:
    """File name (without suffix) of a run's JSON and PNG: `--live` runs get their own, so that a latency
    measurement does not overwrite the same data set's simulation in the same `--out` directory."""
    return f"loop_{dataset}_live" if live else f"loop_{dataset}"


def batch_sizes(first: int, batch: int, growth: float, max_labels: int) -> list[int]:
    """The labels given before each retrain: `first`, then `batch` each time, or with `growth` > 0 what the
    production trigger waits for (`service.training`: a retrain needs max(train_min_new_labels, growth * labeled
    assets) new labels), i.e. the smallest k with k >= `service.training.retrain_threshold` at n + k labels."""
    from prelabel.service.training import retrain_threshold

    settings = {"train_min_new_labels": batch, "train_growth": growth}
    sizes: list[int] = []
    n = 0
    while n < max_labels:
        if n == 0:
            k = first
        else:
            k = batch
            while k < retrain_threshold(settings, n + k):
                k += 1
        sizes.append(k)
        n += k
    return sizes


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
        return self.evaluate(model)[0]

    def evaluate(self, model: Any) -> tuple[float, float | None]:
        """The metric and the held-out ECE of the model's probabilities (None without a model for the job)."""
        from sklearn.metrics import f1_score

        from prelabel.automl.metrics import expected_calibration_error

        proba = model.predict_proba(self.test_texts)
        p = proba.get("LABEL")
        if p is None:
            return 0.0, None
        job = model.interface.job("LABEL")
        if self.ds.multi:
            pred = model.chosen(job, p)  # what the pre-annotation names
            ece = expected_calibration_error(self.y, p, "multilabel")
            return float(f1_score(self.y, pred, average="micro", zero_division=0)), ece
        keys = job.category_keys()
        idx = {k: i for i, k in enumerate(keys)}
        ece = expected_calibration_error(np.array([idx[y] for y in self.y_lab]), p, "multiclass")
        pred_l = [keys[j] for j in p.argmax(axis=1)]
        if len(self.ds.categories) == 2:
            f1 = f1_score(self.y_lab, pred_l, pos_label=self.pos, average="binary", zero_division=0)
        else:
            f1 = f1_score(self.y_lab, pred_l, labels=self.ds.categories, average="macro", zero_division=0)
        return float(f1), ece


def interface_for(ds: Dataset) -> dict[str, Any]:
    """One job; a multi-choice job is required (at least one category per label) when every record of the
    data set has a label, as for Reuters and GoEmotions: what a team labeling them would configure."""
    return {
        "jobs": [
            {
                "name": "LABEL",
                "input": "multi" if ds.multi else "single",
                "required": not ds.multi or all(len(t) > 0 for t in ds.targets),
                "categories": [{"key": c} for c in ds.categories],
            }
        ]
    }


def response_for(ds: Dataset, target: Any) -> dict[str, Any]:
    names = target if ds.multi else [target]
    return {"LABEL": {"categories": [{"name": n} for n in names]}}


def full_data_score(ds: Dataset, train_idx: list[int], scorer: Scorer, *, fast_features: str = "word") -> float:
    from prelabel.domain import parse_interface
    from prelabel.worker.model import ProjectModel, TrainingSet

    interface = parse_interface(interface_for(ds))
    ts = TrainingSet(list(train_idx), [ds.texts[i] for i in train_idx], [ds.targets[i] for i in train_idx])
    model = ProjectModel(interface, tier="fast", fast_features=fast_features).fit({"LABEL": ts})
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
    batch_growth: float = 0.0,
    random_share: float = 0.1,
    extra_unlabeled: list[str] | None = None,
    progress: Any = None,
    live: bool = False,
    use_embeddings: bool = False,
    initial_order: str = "diverse",
    labeled_order: list[int] | None = None,
    interface: dict[str, Any] | None = None,
    cache_dir: str | None = None,
) -> StrategyRun:
    """`labeled_order`: when given, the data set row index of every asset the labeler labels is appended to it,
    in the order the queue served them (`prelabel bench coldstart --orders queue`). `interface`: the project's
    interface (default `interface_for(ds)`: category keys only, no descriptions). `cache_dir`: the in-process
    trainer's embedding cache (None: as `prelabel serve` builds it)."""
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
    db = workdir / f"{strategy}-{seed}.db"
    store = Store(f"sqlite:///{db}")
    store.upgrade()
    handle = None  # the background workers of a --live run
    try:
        u = create_user(store, "sim", "simulated-labeler-password")
        actor = Actor(user_id=u.id, username=u.username)
        project = create_project(
            store,
            actor,
            title=f"sim {ds.name} {strategy}",
            interface=interface or interface_for(ds),
            settings={
                "queue_strategy": strategy,
                "train_min_labels": first,
                "train_min_new_labels": batch,
                "train_growth": batch_growth,
                "queue_random_share": random_share,
                "use_embeddings": use_embeddings,
                # random sampling is random from the first label on; the others start like production
                "queue_initial_order": "random" if strategy == "random" else initial_order,
                # live: the production defaults (debounce, searches in their own process)
                **({} if live else {"train_debounce_s": 0.0, "search_enabled": False}),
            },
        )
        records = [AssetIn(external_id=f"r{i}", content=ds.texts[i]) for i in train_idx]
        records += [AssetIn(external_id=f"x{j}", content=text) for j, text in enumerate(extra_unlabeled or [])]
        import_assets(store, actor, project.id, records)
        truth = {f"r{i}": ds.targets[i] for i in train_idx}
        # the import's random order (queue_initial_order random, and diverse apart from its first picks) is
        # re-drawn from the seed so that every strategy of a seed starts from the same random order
        from sqlalchemy import select

        from prelabel.service.queue import set_priorities

        with store.transaction(read_only=True) as s:
            ids = list(s.scalars(select(t.Asset.id).where(t.Asset.project_id == project.id).order_by(t.Asset.id)))
        rng = np.random.default_rng(seed)
        set_priorities(store, project.id, zip(ids, rng.random(len(ids)).tolist(), strict=True))

        trainer = Trainer(store, worker_id=f"sim-{strategy}", chunk_size=5000, cache_dir=cache_dir)
        if not live:  # the import's prepare job (a diverse first order), as a worker would run it now
            trainer.run_until_idle()
        if live:
            from prelabel.config import Settings
            from prelabel.worker.process import start_background_worker

            handle = start_background_worker(Settings(database_url=store.url, log_level="WARNING"))
            if not handle.wait_ready():
                raise RuntimeError("the background workers did not start within 120 s")
        run = StrategyRun(strategy, seed=seed)
        n = 0
        for size in batch_sizes(first, batch, batch_growth, max_labels):
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
                if labeled_order is not None:
                    labeled_order.append(int(asset.external_id[1:]))
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
                claimed = (mv.metrics or {}).get("jobs", {}).get("LABEL", {}).get("ece")
            model = ProjectModel.from_bytes(artifact or b"")
            score, ece = scorer.evaluate(model)
            clf = model.models.get("LABEL")
            kind = str(clf.ensemble_[0]["config"]["features"]["kind"]) if clf is not None else ""
            run.points.append(
                CurvePoint(
                    n, round(score, 4), round(latency, 3), version, kind,
                    ece=None if ece is None else round(ece, 4),
                    claimed_ece=round(float(claimed), 4) if isinstance(claimed, int | float) else None,
                )
            )
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
        # calibration over the versions that both measure and claim it (the first models may claim none)
        both = [p for p in r.points if p.ece is not None and p.claimed_ece is not None]
        r.ece = round(float(np.mean([p.ece for p in both])), 4) if both else None
        r.claimed_ece = round(float(np.mean([p.claimed_ece for p in both])), 4) if both else None
    base = next((r for r in runs if r.strategy == "random"), None)
    for r in runs:
        if base is not None and base.labels_to_95 and r.labels_to_95:
            r.ratio_to_random = round(r.labels_to_95 / base.labels_to_95, 3)


def _run_from_json(doc: dict[str, Any]) -> StrategyRun:
    fields = {k: v for k, v in doc.items() if k in StrategyRun.__dataclass_fields__ and k != "points"}
    return StrategyRun(**fields, points=[CurvePoint(**p) for p in doc.get("points", [])])


def _median_or_none(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _round_or_none(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def aggregate(runs: list[StrategyRun]) -> list[StrategySummary]:
    """Per strategy over its seeds (each run already `summarise`d against its own seed's full-data score).

    The median of labels-to-95 % counts a run that never reached 95 % as infinitely many labels, so a
    median that falls on such runs is None ("> max labels"); the ratio is the strategy's median over random's
    median, and `paired_ratios` compare the strategy with random on the same seed (same split and start).
    """
    order: list[str] = []
    by: dict[str, list[StrategyRun]] = {}
    for r in runs:
        if r.strategy not in by:
            order.append(r.strategy)
            by[r.strategy] = []
        by[r.strategy].append(r)
    random_by_seed = {r.seed: r for r in by.get("random", [])}
    out: list[StrategySummary] = []
    for name in order:
        rs = sorted(by[name], key=lambda r: r.seed)
        hits = [r.labels_to_95 for r in rs]
        as_num = [float(h) if h is not None else float("inf") for h in hits]
        med = float(np.median(as_num)) if as_num else float("inf")
        paired: list[float | None] = []
        for r in rs:
            base = random_by_seed.get(r.seed)
            paired.append(
                round(r.labels_to_95 / base.labels_to_95, 3)
                if base is not None and base.labels_to_95 and r.labels_to_95
                else None
            )
        # the median curve over label counts that every seed has
        common = set.intersection(*(set(p.n_labels for p in r.points) for r in rs)) if rs else set()
        curve = [
            (n, round(float(np.median([next(p.score for p in r.points if p.n_labels == n) for r in rs])), 4))
            for n in sorted(common)
        ]
        lat = [p.latency_s for r in rs for p in r.points]
        out.append(
            StrategySummary(
                strategy=name,
                seeds=[r.seed for r in rs],
                labels_to_95=hits,
                median_labels_to_95=med if np.isfinite(med) else None,
                ratio_to_random=None,
                paired_ratios=paired,
                reached=sum(h is not None for h in hits),
                area=round(float(np.median([r.area for r in rs])), 4),
                final=round(float(np.median([r.points[-1].score for r in rs if r.points] or [0.0])), 4),
                max_labels=max((r.points[-1].n_labels for r in rs if r.points), default=0),
                latency_p50=round(float(np.median(lat)), 3) if lat else None,
                latency_p95=round(float(np.percentile(lat, 95)), 3) if lat else None,
                first_latency=_median_or_none([r.first_latency for r in rs if r.first_latency is not None]),
                seconds=round(sum(r.seconds for r in rs), 1),
                curve=curve,
                ece=_round_or_none(_median_or_none([r.ece for r in rs if r.ece is not None])),
                claimed_ece=_round_or_none(_median_or_none([r.claimed_ece for r in rs if r.claimed_ece is not None])),
            )
        )
    base_s = next((x for x in out if x.strategy == "random"), None)
    for x in out:
        if base_s is not None and base_s.median_labels_to_95 and x.median_labels_to_95:
            x.ratio_to_random = round(x.median_labels_to_95 / base_s.median_labels_to_95, 3)
    return out


def _spread(hits: list[int | None], max_labels: int) -> str:
    vals = [str(h) if h is not None else f">{max_labels}" for h in hits]
    return " ".join(vals)


def plot(
    ds_name: str,
    runs: list[StrategyRun],
    summaries: list[StrategySummary],
    full: float,
    metric: str,
    path: Path,
) -> None:
    """Per-seed curves (thin) and the median curve (thick) per strategy; the median full-data score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    n_seeds = len({r.seed for r in runs})
    for i, sm in enumerate(summaries):
        color = f"C{i}"
        if n_seeds > 1:
            for r in runs:
                if r.strategy == sm.strategy:
                    ax.plot(
                        [p.n_labels for p in r.points], [p.score for p in r.points], color=color, alpha=0.25, lw=0.8
                    )
        label = sm.strategy + (f" (median of {n_seeds} seeds)" if n_seeds > 1 else "")
        ax.plot([n for n, _ in sm.curve], [v for _, v in sm.curve], color=color, marker=".", label=label)
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
    seeds: int = 1,
    batch_growth: float = 0.0,
    live: bool = False,
    runs_cache: Path | None = None,
    mix_options: dict[str, float | str] | None = None,
    embeddings: bool = True,
    initial_order: str | None = None,
) -> dict[str, Any]:
    """Every strategy on `seeds` repetitions (seeds `seed`, `seed`+1, …; each its own sample, split, initial
    queue order and full-data score); the table shows medians over the seeds."""
    from prelabel.automl.active import STRATEGIES

    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"Unknown strategies {unknown}; choose from {sorted(STRATEGIES)}.")
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1; got {seeds}.")
    seed_list = list(range(seed, seed + seeds))
    mix_opts = dict(mix_options or {})
    from prelabel.service.projects import PROJECT_SETTINGS
    from prelabel.service.training import training_setting

    initial_order = initial_order or str(training_setting(None, "queue_initial_order"))
    orders = PROJECT_SETTINGS["queue_initial_order"].choices or ()
    if initial_order not in orders:
        raise ValueError(f"Unknown initial order {initial_order!r}; choose from {list(orders)}.")

    random_share = float(mix_opts.pop("random_share", training_setting(None, "queue_random_share")))
    if live and mix_opts:
        raise ValueError("--mix-options other than random_share need the in-process trainer (not --live).")
    from prelabel.automl import active

    unknown_opts = set(mix_opts) - set(active.MIX_DEFAULTS)
    if unknown_opts:
        raise ValueError(f"Unknown mix options {sorted(unknown_opts)}; choose from {sorted(active.MIX_DEFAULTS)}.")
    saved_defaults = dict(active.MIX_DEFAULTS)
    for k, v in mix_opts.items():
        kind = type(active.MIX_DEFAULTS[k])
        if (kind is str) != isinstance(v, str):
            raise ValueError(f"The mix option {k} takes {'a word' if kind is str else 'a number'}; got {v!r}.")
        mix_opts[k] = kind(v)
    active.MIX_DEFAULTS.update(mix_opts)
    try:
        return _run(
            data, text_column=text_column, label_column=label_column, labels_column=labels_column,
            strategies=strategies, batch=batch, first=first, max_labels=max_labels, test_split=test_split,
            max_rows=max_rows, extra_unlabeled=extra_unlabeled, out=out, seed_list=seed_list,
            batch_growth=batch_growth, live=live, runs_cache=runs_cache, random_share=random_share,
            mix_defaults=dict(active.MIX_DEFAULTS), embeddings=embeddings, initial_order=initial_order,
        )  # fmt: skip
    finally:
        active.MIX_DEFAULTS.clear()
        active.MIX_DEFAULTS.update(saved_defaults)


def _run(
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
    seed_list: list[int],
    batch_growth: float,
    live: bool,
    runs_cache: Path | None,
    random_share: float,
    mix_defaults: dict[str, Any],
    embeddings: bool,
    initial_order: str,
) -> dict[str, Any]:
    from rich.console import Console
    from rich.table import Table

    from prelabel.automl.embeddings import default_cache_dir, embed, embeddings_available

    console = Console(width=None if Console().is_terminal else 160)
    seed, seeds = seed_list[0], len(seed_list)
    sizes = batch_sizes(first, batch, batch_growth, max_labels)
    runs: list[StrategyRun] = []
    fulls: dict[int, float] = {}
    info: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="prelabel-bench-loop-") as tmp:
        for sd in seed_list:
            ds = load_dataset(
                data,
                text_column=text_column,
                label_column=label_column,
                labels_column=labels_column,
                max_rows=max_rows,
                seed=sd,
            )
            extra: list[str] = []
            if extra_unlabeled is not None:
                extra = load_dataset(
                    extra_unlabeled,
                    text_column=text_column,
                    label_column=text_column,
                    labels_column=None,
                    max_rows=None,
                    seed=sd,
                ).texts
            train_idx, test_idx = split(ds, test_split, sd)
            scorer = Scorer(ds, train_idx, test_idx)
            use_emb = embeddings and embeddings_available()
            if use_emb:  # what the search worker does after an import; cached on disk, so once per machine
                t0 = time.perf_counter()
                embed([x for x in ds.texts + extra if x.strip()], default_cache_dir())
                console.print(f"  texts encoded with MiniLM ({time.perf_counter() - t0:.1f} s)", highlight=False)
            t0 = time.perf_counter()
            full = full_data_score(ds, train_idx, scorer, fast_features="word+emb" if use_emb else "word")
            fulls[sd] = full
            info = {
                "dataset": ds.name,
                "metric": scorer.name,
                "n_pool": len(train_idx),
                "n_extra_unlabeled": len(extra),
                "n_test": len(test_idx),
                "n_categories": len(ds.categories),
                "multi": ds.multi,
                "embeddings": use_emb,
            }
            console.print(
                f"[bold]{ds.name}[/] seed {sd}: {len(train_idx)} pool + {len(extra)} unlabeled extra assets, "
                f"{len(test_idx)} held out, {len(ds.categories)} categories "
                f"({'multi' if ds.multi else 'single'}-label); full-data "
                f"{scorer.name} = {full:.4f} ({time.perf_counter() - t0:.1f} s)"
            )
            seed_runs: list[StrategyRun] = []
            for strat in strategies:
                cache_file = None
                if runs_cache is not None:
                    key = json.dumps(
                        [str(data), text_column, label_column, labels_column, sizes, test_split, max_rows,
                         str(extra_unlabeled), live, strat, sd, "emb" if use_emb else "word"]
                        + ([random_share, sorted(mix_defaults.items())] if strat == "mix" else [])
                        # the initial order is part of a strategy's run (random-order runs keep their old keys)
                        + ([initial_order] if strat != "random" and initial_order != "random" else []),
                    )
                    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
                    cache_file = runs_cache / f"{info['dataset']}_{strat}_seed{sd}_{digest}.json"
                    if cache_file.exists():
                        seed_runs.append(_run_from_json(json.loads(cache_file.read_text(encoding="utf-8"))))
                        console.print(f"  seed {sd} {strat}: reused {cache_file}", highlight=False)
                        continue

                def progress(name: str, n: int, score: float | None, _sd: int = sd) -> None:
                    console.print(
                        f"  seed {_sd} {name:<16} {n:>5} labels  {'-' if score is None else f'{score:.3f}'}",
                        highlight=False,
                    )

                seed_runs.append(
                    simulate(
                        ds,
                        train_idx,
                        scorer,
                        strat,
                        batch=batch,
                        first=first,
                        max_labels=max_labels,
                        workdir=Path(tmp),
                        seed=sd,
                        batch_growth=batch_growth,
                        random_share=random_share,
                        extra_unlabeled=extra,
                        progress=progress,
                        live=live,
                        use_embeddings=use_emb,
                        initial_order=initial_order,
                    )
                )
                (Path(tmp) / f"{strat}-{sd}.db").unlink(missing_ok=True)
                if cache_file is not None:
                    cache_file.parent.mkdir(parents=True, exist_ok=True)
                    cache_file.write_text(json.dumps(asdict(seed_runs[-1])), encoding="utf-8")
            summarise(seed_runs, full)
            runs.extend(seed_runs)
            for r in seed_runs:
                console.print(
                    f"  seed {sd} {r.strategy:<16} labels→95% "
                    f"{r.labels_to_95 if r.labels_to_95 else '>' + str(r.points[-1].n_labels if r.points else 0)}"
                    f"  ratio {r.ratio_to_random if r.ratio_to_random is not None else '-'}  area {r.area:.4f}",
                    highlight=False,
                )
    summaries = aggregate(runs)
    full_med = float(statistics.median(fulls.values()))
    title = (
        f"loop simulation: {info['dataset']} ({info['metric']}; full data {full_med:.4f}"
        f"{' median of ' + str(seeds) + ' seeds' if seeds > 1 else ''}; 95 % = {0.95 * full_med:.4f})"
    )
    table = Table(title=title)
    for col in (
        "strategy",
        "labels→95% median",
        "per seed",
        "÷ random median",
        "paired ratios",
        "area",
        "final",
        "ECE held-out",
        "ECE claimed",
        "latency p50 s",
        "p95 s",
        "wall s",
    ):
        table.add_column(col, justify="left" if col in ("strategy", "per seed", "paired ratios") else "right")
    for sm in summaries:
        table.add_row(
            sm.strategy,
            f"{sm.median_labels_to_95:g}" if sm.median_labels_to_95 is not None else f">{sm.max_labels}",
            _spread(sm.labels_to_95, sm.max_labels),
            f"{sm.ratio_to_random:.2f}" if sm.ratio_to_random is not None else "-",
            " ".join("-" if x is None else f"{x:.2f}" for x in sm.paired_ratios),
            f"{sm.area:.4f}",
            f"{sm.final:.4f}",
            f"{sm.ece:.3f}" if sm.ece is not None else "-",
            f"{sm.claimed_ece:.3f}" if sm.claimed_ece is not None else "-",
            f"{sm.latency_p50:.2f}" if sm.latency_p50 is not None else "-",
            f"{sm.latency_p95:.2f}" if sm.latency_p95 is not None else "-",
            f"{sm.seconds:.0f}",
        )
    console.print(table)
    result = {
        **info,
        "file": str(data),
        "full_data_score": round(full_med, 4),
        "full_data_scores": {str(k): round(v, 4) for k, v in fulls.items()},
        "batch": batch,
        "batch_growth": batch_growth,
        "batch_sizes": sizes,
        "first": first,
        "max_labels": max_labels,
        "max_rows": max_rows,
        "test_split": test_split,
        "seed": seed,
        "seeds": seed_list,
        "live": live,
        "initial_order": initial_order,
        "mix": {"random_share": random_share, **mix_defaults},
        "summary": [asdict(sm) for sm in summaries],
        "runs": [asdict(r) for r in runs],
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        name = info["dataset"]
        stem = result_stem(name, live=live)
        (out / f"{stem}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        plot(name, runs, summaries, full_med, info["metric"], out / f"{stem}.png")
        console.print(f"wrote {out / f'{stem}.json'} and {out / f'{stem}.png'}")
    return result
