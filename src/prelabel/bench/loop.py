"""`prelabel bench loop`: simulate labelers on a labeled data set, through the real queue and trainer.

For each strategy, in a fresh temporary SQLite database: the training part of the data is imported with the
labels hidden, and the project starts as production starts one: the import's random order (re-drawn from the
seed, so every strategy of a seed has the same one), then the prepare job's first order (project setting
`queue_initial_order`, "diverse" by default, for every strategy, random sampling included). `random-start` is
random sampling from a random first batch instead, to show what the start is worth; each run records the
initial order it really got and its first batch. Then, batch after batch, the simulated labeler asks the queue
for the next asset exactly as the API does (`service.queue.next_asset`), notes whether the suggestion it was
shown names the true answer, and submits its true label (`service.labels.create_label`). After each batch the
trainer runs in-process as in production (`Trainer.run_until_idle`: the label trigger queues a fast job, which
trains, predicts every asset and recomputes the queue's priorities). The time from the batch's last label to the
new model version being READY (all its predictions visible) is the label→predictions latency. Every model
version is scored on the held-out split.

Reported per strategy (`bench.curves` defines the measures):

* labels to 95 %: the labels after which the learning curve stays at or above 95 % of the full-data score (the
  fast tier trained on every training row) until the end of the horizon; None ("not reached") when it never
  stays there;
* the normalised area: the mean over the retrain grid of the newest model's score, ÷ the full-data score;
* suggestion accuracy: the share of labels whose shown suggestion named exactly the true answer;
* per seed, both as ratios to random on the same seed (same split, same start), with the median's bootstrap
  95 % interval; calibration and latency p50/p95.

Scores: F1 of the rarer class for binary tasks, macro-F1 for multi-class, micro-F1 for multi-label.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from prelabel.bench import curves
from prelabel.bench import runs_cache as cache
from prelabel.bench.loop_summary import (
    LEGEND,
    TARGET_SHARE,
    CurvePoint,
    StrategyRun,
    StrategySummary,
    aggregate,
    format_share,
    plot,
    run_from_json,
    summarise,
    summary_table,
)
from prelabel.worker.trainer import Trainer

KEY_RE = re.compile(r"[^A-Za-z0-9_\-.]")
RANDOM_START = "random-start"  # random sampling from a random first batch (a benchmark variant, not a setting)
INITIAL_ORDER_RE = re.compile(r"initial order (diverse|random|import)")


@dataclass
class Dataset:
    name: str
    texts: list[str]
    targets: list[Any]  # a label, or a list of labels
    multi: bool
    categories: list[str]


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


def retrain_grid(sizes: Sequence[int]) -> list[int]:
    """The label counts after which the schedule retrains (`batch_sizes` accumulated): the grid of the areas."""
    return [int(n) for n in np.cumsum(sizes)]


def queue_settings(strategy: str, initial_order: str) -> tuple[str, str]:
    """The project's (queue_strategy, queue_initial_order) for a benchmark strategy: every strategy starts from
    `initial_order` as production starts every project, whatever its strategy; `random-start` is random
    sampling from a random first order."""
    return ("random", "random") if strategy == RANDOM_START else (strategy, initial_order)


def strategy_names() -> list[str]:
    """What `--strategies` takes: the project's query strategies and `random-start`."""
    from prelabel.automl.active import STRATEGIES

    return [*STRATEGIES, RANDOM_START]


class SimulationTrainer(Trainer):
    """The production trainer without the honest estimate (repeated cross-validation written into a published
    version's metrics): it changes neither the queue nor the suggestions, and in production it yields to the
    next job, whereas in-process nothing waits and it would add up to `HONEST_TIME_CAP_S` to every retrain."""

    def _honest(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class _Project:
    """One simulated project: its store, the labeler, the truth of every pool asset, the in-process trainer."""

    store: Any
    actor: Any
    project_id: int
    ds: Dataset
    truth: dict[str, Any]  # external id → target; the extra unlabeled assets have none
    trainer: SimulationTrainer | None = None  # None with --live: background workers train


@dataclass
class _Batch:
    """The labels of one batch: data set rows in serving order, suggestions shown and accepted."""

    rows: list[int] = field(default_factory=list)
    suggested: int = 0
    accepted: int = 0
    last_label_at: float = 0.0


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
    mix_options: dict[str, float] | None = None,
) -> StrategyRun:
    """One strategy on one seed. `strategy`: a query strategy or `random-start` (`queue_settings`);
    `initial_order`: the project's queue_initial_order (every strategy but random-start). `labeled_order`: when
    given, the data set row index of every asset the labeler labels is appended to it, in the order the queue
    served them (`prelabel bench coldstart --orders queue`). `interface`: the project's interface (default
    `interface_for(ds)`: category keys only, no descriptions). `cache_dir`: the in-process trainer's embedding
    cache (None: as `prelabel serve` builds it). `mix_options`: the mix's parameters (in-process only)."""
    from prelabel.store.engine import Store

    start = time.perf_counter()
    queue_strategy, order = queue_settings(strategy, initial_order)
    store = Store(f"sqlite:///{workdir / f'{strategy}-{seed}.db'}")
    store.upgrade()
    handle = None  # the background workers of a --live run
    try:
        settings = _project_settings(
            queue_strategy, order, first=first, batch=batch, batch_growth=batch_growth, random_share=random_share,
            use_embeddings=use_embeddings, live=live,
        )  # fmt: skip
        project = _create_project(store, ds, interface or interface_for(ds), strategy, settings)
        _import(project, train_idx, extra_unlabeled or [], seed, order)
        if live:
            handle = _start_workers(store, project.project_id)
        else:
            project.trainer = SimulationTrainer(
                store, worker_id=f"sim-{strategy}", chunk_size=5000, cache_dir=cache_dir, mix_options=mix_options
            )
            project.trainer.run_until_idle()  # the import's prepare job (the first order), as a worker runs it now
        run = StrategyRun(strategy, seed=seed, initial_order=_initial_order_used(store, project.project_id, order))
        sizes = batch_sizes(first, batch, batch_growth, max_labels)
        labeled = _label_and_score(project, run, scorer, sizes, progress)
        run.first_batch = labeled[: sizes[0]]
        if labeled_order is not None:
            labeled_order.extend(labeled)
        _finish(run, len(labeled), start)
        return run
    finally:
        if handle is not None:
            handle.stop()
        store.dispose()


def _project_settings(
    queue_strategy: str,
    initial_order: str,
    *,
    first: int,
    batch: int,
    batch_growth: float,
    random_share: float,
    use_embeddings: bool,
    live: bool,
) -> dict[str, Any]:
    return {
        "queue_strategy": queue_strategy,
        "queue_initial_order": initial_order,
        "train_min_labels": first,
        "train_min_new_labels": batch,
        "train_growth": batch_growth,
        "queue_random_share": random_share,
        "use_embeddings": use_embeddings,
        # live: the production defaults (debounce, searches in their own process)
        **({} if live else {"train_debounce_s": 0.0, "search_enabled": False}),
    }


def _create_project(
    store: Any, ds: Dataset, interface: dict[str, Any], strategy: str, settings: dict[str, Any]
) -> _Project:
    from prelabel.service.auth import Actor, create_user
    from prelabel.service.projects import create_project

    u = create_user(store, "sim", "simulated-labeler-password")
    actor = Actor(user_id=u.id, username=u.username)
    project = create_project(store, actor, title=f"sim {ds.name} {strategy}", interface=interface, settings=settings)
    return _Project(store, actor, project.id, ds, truth={})


def _import(project: _Project, train_idx: list[int], extra: list[str], seed: int, initial_order: str) -> None:
    """Import the pool (labels hidden) and the extra unlabeled texts. The import's random order is re-drawn
    from the seed so that every strategy of a seed starts from the same one (file order, "import", is kept)."""
    from sqlalchemy import select

    from prelabel.service.assets import import_assets
    from prelabel.service.dto import AssetIn
    from prelabel.service.queue import set_priorities
    from prelabel.store import tables as t

    ds = project.ds
    records = [AssetIn(external_id=f"r{i}", content=ds.texts[i]) for i in train_idx]
    records += [AssetIn(external_id=f"x{j}", content=text) for j, text in enumerate(extra)]
    import_assets(project.store, project.actor, project.project_id, records)
    project.truth = {f"r{i}": ds.targets[i] for i in train_idx}
    if initial_order == "import":
        return
    with project.store.transaction(read_only=True) as s:
        query = select(t.Asset.id).where(t.Asset.project_id == project.project_id).order_by(t.Asset.id)
        ids = list(s.scalars(query))
    rng = np.random.default_rng(seed)
    set_priorities(project.store, project.project_id, zip(ids, rng.random(len(ids)).tolist(), strict=True))


def _start_workers(store: Any, project_id: int) -> Any:
    """`prelabel serve`'s background workers, once they have run the import's prepare job (so the first
    labels come from the same first order as in-process)."""
    from prelabel.config import Settings
    from prelabel.worker.process import start_background_worker

    handle = start_background_worker(Settings(database_url=store.url, log_level="WARNING"))
    if not handle.wait_ready():
        handle.stop()
        raise RuntimeError("the background workers did not start within 120 s")
    if not _wait_for_prepare(store, project_id, timeout=300.0):
        handle.stop()
        raise RuntimeError("the prepare job did not finish within 300 s")
    return handle


def _prepare_job(store: Any, project_id: int) -> tuple[str, str] | None:
    """(status, message) of the project's newest prepare job, None without one."""
    from sqlalchemy import select

    from prelabel.store import tables as t

    job = t.TrainingJob
    with store.transaction(read_only=True) as s:
        query = select(job.status, job.message).where(job.project_id == project_id, job.tier == "prepare")
        row = s.execute(query.order_by(job.id.desc()).limit(1)).first()
    return None if row is None else (str(row[0]), str(row[1] or ""))


def _wait_for_prepare(store: Any, project_id: int, *, timeout: float) -> bool:
    from prelabel.domain import JobStatus

    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        job = _prepare_job(store, project_id)
        if job is None or job[0] not in (JobStatus.QUEUED, JobStatus.RUNNING):
            return True
        time.sleep(0.05)
    return False


def _initial_order_used(store: Any, project_id: int, setting: str) -> str:
    """The first order the project really got, from its prepare job's message ("initial order diverse: …",
    "initial order random: use_embeddings is off", …); without one, the import's: file order for "import",
    else random."""
    job = _prepare_job(store, project_id)
    found = INITIAL_ORDER_RE.match(job[1]) if job is not None else None
    if found is not None:
        return found.group(1)
    return "import" if setting == "import" else "random"


def _label_and_score(
    project: _Project, run: StrategyRun, scorer: Scorer, sizes: list[int], progress: Any
) -> list[int]:
    """Label batch after batch, wait for each batch's model and score it into `run.points`; the data set rows
    labeled, in serving order. A batch without a new model (e.g. one class only) carries its suggestion counts
    to the next point."""
    labeled: list[int] = []
    carried = _Batch()
    for size in sizes:
        b = _label_batch(project, size)
        if not b.rows:
            break
        labeled += b.rows
        run.suggested, run.accepted = run.suggested + b.suggested, run.accepted + b.accepted
        carried.suggested, carried.accepted = carried.suggested + b.suggested, carried.accepted + b.accepted
        found = _next_version(project, len(labeled))
        if found is None:
            if progress:
                progress(run.strategy, len(labeled), None)
            continue
        latency = time.perf_counter() - b.last_label_at
        point = _score_version(project, scorer, found, len(labeled), latency)
        point.suggested, point.accepted = carried.suggested, carried.accepted
        carried = _Batch()
        run.points.append(point)
        if progress:
            progress(run.strategy, len(labeled), point.score)
    return labeled


def _label_batch(project: _Project, size: int) -> _Batch:
    """Up to `size` labels, each on the asset the queue serves next; extra unlabeled assets are skipped."""
    from prelabel.service.labels import create_label
    from prelabel.service.queue import next_asset, skip_asset

    b = _Batch(last_label_at=time.perf_counter())
    while len(b.rows) < size:
        asset = next_asset(project.store, project.actor, project.project_id)
        if asset is None:
            break
        target = project.truth.get(asset.external_id)
        if target is None:  # an extra unlabeled asset: the simulated labeler skips it
            skip_asset(project.store, project.actor, project.project_id, asset.id)
            continue
        shown = suggested_names(asset.current_prediction)
        if shown is not None:
            b.suggested += 1
            b.accepted += shown == truth_names(project.ds, target)
        create_label(
            project.store, project.actor, project.project_id, asset.id, json_response=response_for(project.ds, target)
        )
        b.rows.append(int(asset.external_id[1:]))
        b.last_label_at = time.perf_counter()
    return b


def suggested_names(prediction: Any) -> frozenset[str] | None:
    """The categories a served prediction suggests for the job (None: no suggestion was shown)."""
    job = (getattr(prediction, "json_response", None) or {}).get("LABEL")
    if not isinstance(job, dict):
        return None
    return frozenset(str(c.get("name")) for c in job.get("categories", []) if isinstance(c, dict))


def truth_names(ds: Dataset, target: Any) -> frozenset[str]:
    return frozenset(target) if ds.multi else frozenset([target])


def _next_version(project: _Project, n_labels: int) -> tuple[int, int] | None:
    """(id, version) of the model trained on the labels so far: the trainer runs in-process, or the background
    workers are waited for (--live); None when the in-process trainer published none."""
    if project.trainer is None:
        found = _wait_for_version(project.store, project.project_id, n_labels, timeout=300.0)
        if found is None:
            raise RuntimeError(f"no fast model on {n_labels} labels within 300 s")
        return found
    done = [r for r in project.trainer.run_until_idle() if r.status == "SUCCEEDED" and r.model_version_id]
    return (int(done[-1].model_version_id or 0), int(done[-1].version or 0)) if done else None


def _score_version(
    project: _Project, scorer: Scorer, found: tuple[int, int], n_labels: int, latency: float
) -> CurvePoint:
    """The version's held-out score and calibration, the calibration its metrics claim, its features."""
    from prelabel.store import tables as t
    from prelabel.worker.model import ProjectModel

    mv_id, version = found
    with project.store.transaction(read_only=True) as s:
        mv = s.get(t.ModelVersion, mv_id)
        assert mv is not None
        artifact = mv.artifact
        claimed = (mv.metrics or {}).get("jobs", {}).get("LABEL", {}).get("ece")
    model = ProjectModel.from_bytes(artifact or b"")
    score, ece = scorer.evaluate(model)
    clf = model.models.get("LABEL")
    kind = str(clf.ensemble_[0]["config"]["features"]["kind"]) if clf is not None else ""
    return CurvePoint(
        n_labels, round(score, 4), round(latency, 3), version, kind,
        ece=None if ece is None else round(ece, 4),
        claimed_ece=round(float(claimed), 4) if isinstance(claimed, int | float) else None,
    )  # fmt: skip


def _finish(run: StrategyRun, n_labels: int, start: float) -> None:
    """The run's totals: labels, suggestion accuracy, latencies, wall time."""
    run.n_labels = n_labels
    run.suggestion_accuracy = round(run.accepted / run.suggested, 4) if run.suggested else None
    run.seconds = round(time.perf_counter() - start, 1)
    lat = [p.latency_s for p in run.points]
    if lat:
        run.first_latency = lat[0]
        run.latency_p50 = round(statistics.median(lat), 3)
        run.latency_p95 = round(float(np.percentile(lat, 95)), 3)


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


# --- the command -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoopOptions:
    """Everything that defines a benchmark run besides its strategies, seeds and output."""

    data: Path
    text_column: str = "text"
    label_column: str = "label"
    labels_column: str | None = None
    first: int = 10
    batch: int = 20
    batch_growth: float = 0.0
    max_labels: int = 400
    test_split: float = 0.3
    max_rows: int | None = None
    extra_unlabeled: Path | None = None
    live: bool = False
    embeddings: bool = True
    initial_order: str = "diverse"  # every strategy's but random-start's
    random_share: float = 0.0
    mix_options: dict[str, float] = field(default_factory=dict)  # overrides of the mix's defaults

    @property
    def sizes(self) -> list[int]:
        return batch_sizes(self.first, self.batch, self.batch_growth, self.max_labels)

    @property
    def grid(self) -> list[int]:
        return retrain_grid(self.sizes)

    def mix(self) -> dict[str, float]:
        """The mix's parameters as the runs use them (random share, then every `MIX_OPTIONS` value)."""
        from prelabel.automl.active import DiversityMix

        return {"random_share": self.random_share, **DiversityMix(**self.mix_options).options()}  # type: ignore[arg-type]

    def full_data_options(self, seed: int, use_embeddings: bool) -> dict[str, Any]:
        """Every input of a seed's full-data score: the data file's content, the sample, the split, the features."""
        return {
            "data": [str(self.data), cache.file_hash(self.data)],
            "columns": [self.text_column, self.label_column, self.labels_column],
            "test_split": self.test_split,
            "max_rows": self.max_rows,
            "features": "word+emb" if use_embeddings else "word",
            "seed": seed,
            "full_data": True,
        }

    def cache_options(self, strategy: str, seed: int, use_embeddings: bool) -> dict[str, Any]:
        """Every input of one (strategy, seed) run, for its `runs_cache.run_key`: the data files' contents, the
        schedule, the split, the features, the project's queue settings and, for the mix, its parameters."""
        queue_strategy, order = queue_settings(strategy, self.initial_order)
        extra = self.extra_unlabeled
        return {
            "data": [str(self.data), cache.file_hash(self.data)],
            "columns": [self.text_column, self.label_column, self.labels_column],
            "schedule": [self.first, self.batch, self.batch_growth, self.max_labels],
            "test_split": self.test_split,
            "max_rows": self.max_rows,
            "extra_unlabeled": None if extra is None else [str(extra), cache.file_hash(extra)],
            "live": self.live,
            "features": "word+emb" if use_embeddings else "word",
            "strategy": strategy,
            "queue": [queue_strategy, order],
            "seed": seed,
            # only the mix reads the random share and its parameters: other strategies' runs are shared
            "mix": self.mix() if queue_strategy == "mix" else None,
        }


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
    mix_options: dict[str, float] | None = None,
    embeddings: bool = True,
    initial_order: str | None = None,
) -> dict[str, Any]:
    """Every strategy on `seeds` repetitions (seeds `seed`, `seed`+1, …; each its own sample, split, initial
    queue order and full-data score); the table shows medians over the seeds and paired ratios to random.
    Every option is checked before anything runs."""
    _check_strategies(strategies)
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1; got {seeds}.")
    random_share, mix = _mix_settings(mix_options or {}, live=live)
    opts = LoopOptions(
        data, text_column=text_column, label_column=label_column, labels_column=labels_column, first=first,
        batch=batch, batch_growth=batch_growth, max_labels=max_labels, test_split=test_split, max_rows=max_rows,
        extra_unlabeled=extra_unlabeled, live=live, embeddings=embeddings,
        initial_order=_initial_order_setting(initial_order), random_share=random_share, mix_options=mix,
    )  # fmt: skip
    return _run(opts, strategies, list(range(seed, seed + seeds)), out=out, runs_cache=runs_cache)


def _check_strategies(strategies: list[str]) -> None:
    unknown = [s for s in strategies if s not in strategy_names()]
    if unknown or not strategies:
        raise ValueError(f"Unknown strategies {unknown}; choose from {strategy_names()}.")


def _initial_order_setting(initial_order: str | None) -> str:
    """The queue_initial_order every strategy but random-start gets (default: the project default)."""
    from prelabel.service.projects import PROJECT_SETTINGS
    from prelabel.service.training import training_setting

    order = initial_order or str(training_setting(None, "queue_initial_order"))
    choices = PROJECT_SETTINGS["queue_initial_order"].choices or ()
    if order not in choices:
        raise ValueError(f"Unknown initial order {order!r}; choose from {list(choices)}.")
    return order


def _mix_settings(options: dict[str, float], *, live: bool) -> tuple[float, dict[str, float]]:
    """(the random share, the other mix options) from `--mix-options`, each checked against the mix's own
    defaults: a known name, a number, an integer where the default is one, a value the mix accepts."""
    from prelabel.automl.active import MIX_OPTIONS, DiversityMix
    from prelabel.service.training import training_setting

    opts = dict(options)
    random_share = opts.pop("random_share", training_setting(None, "queue_random_share"))
    unknown = sorted(set(opts) - set(MIX_OPTIONS))
    if unknown:
        raise ValueError(f"Unknown mix options {unknown}; choose from {['random_share', *MIX_OPTIONS]}.")
    if live and opts:
        raise ValueError("--mix-options other than random_share need the in-process trainer (not --live).")
    defaults = DiversityMix().options()
    for key, value in {"random_share": random_share, **opts}.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"The mix option {key} takes a number; got {value!r}.")
        if isinstance(defaults.get(key), int) and not float(value).is_integer():
            raise ValueError(f"The mix option {key} takes a whole number; got {value!r}.")
    typed = {k: int(v) if isinstance(defaults[k], int) else float(v) for k, v in opts.items()}
    DiversityMix(random_share=float(random_share), **typed)  # type: ignore[arg-type]  # its own range checks
    return float(random_share), typed


@dataclass
class _SeedTrial:
    """One seed's data: the sample, split, scorer, extra texts and full-data score."""

    seed: int
    ds: Dataset
    train_idx: list[int]
    scorer: Scorer
    extra: list[str]
    use_embeddings: bool
    full: float
    info: dict[str, Any]


def _run(
    opts: LoopOptions, strategies: list[str], seed_list: list[int], *, out: Path | None, runs_cache: Path | None
) -> dict[str, Any]:
    console = _console()
    engine = cache.engine_hash()
    runs: list[StrategyRun] = []
    fulls: dict[int, float] = {}
    info: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="prelabel-bench-loop-") as tmp:
        for sd in seed_list:
            trial = _seed_trial(opts, sd, console, runs_cache, engine)
            fulls[sd], info = trial.full, trial.info
            seed_runs = [_strategy_run(opts, trial, s, Path(tmp), runs_cache, engine, console) for s in strategies]
            summarise(seed_runs, trial.full, opts.grid)
            _print_seed(console, seed_runs, opts.grid[-1])
            runs.extend(seed_runs)
    summaries = aggregate(runs)
    full_med = float(statistics.median(fulls.values()))
    console.print(summary_table(info, summaries, full_med, opts.grid[-1], len(seed_list)))
    console.print(LEGEND, highlight=False, markup=False)
    result = _result(opts, info, fulls, seed_list, engine, summaries, runs)
    if out is not None:
        _write(out, result, runs, summaries, full_med)
        console.print(f"wrote {out / result_stem(info['dataset'], live=opts.live)}.json and .png")
    return result


def _console() -> Any:
    from rich.console import Console

    return Console(width=None if Console().is_terminal else 200)


def _seed_trial(opts: LoopOptions, sd: int, console: Any, runs_cache: Path | None, engine: str) -> _SeedTrial:
    """Load the seed's sample and split, encode the texts (as the prepare job would), score the full data
    (kept in the runs cache beside the runs: on long texts it takes as long as several runs)."""
    from prelabel.automl.embeddings import default_cache_dir, embed, embeddings_available

    ds = load_dataset(
        opts.data, text_column=opts.text_column, label_column=opts.label_column, labels_column=opts.labels_column,
        max_rows=opts.max_rows, seed=sd,
    )  # fmt: skip
    extra: list[str] = []
    if opts.extra_unlabeled is not None:
        extra = load_dataset(
            opts.extra_unlabeled, text_column=opts.text_column, label_column=opts.text_column, labels_column=None,
            max_rows=None, seed=sd,
        ).texts  # fmt: skip
    train_idx, test_idx = split(ds, opts.test_split, sd)
    scorer = Scorer(ds, train_idx, test_idx)
    use_emb = opts.embeddings and embeddings_available()
    if use_emb:  # what the search worker does after an import; cached on disk, so once per machine
        t0 = time.perf_counter()
        embed([x for x in ds.texts + extra if x.strip()], default_cache_dir())
        console.print(f"  texts encoded with MiniLM ({time.perf_counter() - t0:.1f} s)", highlight=False)
    t0 = time.perf_counter()
    full = _full_data_score(opts, sd, ds, train_idx, scorer, use_emb, runs_cache, engine)
    info = {
        "dataset": ds.name, "metric": scorer.name, "n_pool": len(train_idx), "n_extra_unlabeled": len(extra),
        "n_test": len(test_idx), "n_categories": len(ds.categories), "multi": ds.multi, "embeddings": use_emb,
    }  # fmt: skip
    console.print(
        f"[bold]{ds.name}[/] seed {sd}: {len(train_idx)} pool + {len(extra)} unlabeled extra assets, "
        f"{len(test_idx)} held out, {len(ds.categories)} categories ({'multi' if ds.multi else 'single'}-label); "
        f"full-data {scorer.name} = {full:.4f} ({time.perf_counter() - t0:.1f} s)"
    )
    return _SeedTrial(sd, ds, train_idx, scorer, extra, use_emb, full, info)


def _full_data_score(
    opts: LoopOptions,
    sd: int,
    ds: Dataset,
    train_idx: list[int],
    scorer: Scorer,
    use_embeddings: bool,
    runs_cache: Path | None,
    engine: str,
) -> float:
    if runs_cache is None:
        return full_data_score(ds, train_idx, scorer, fast_features="word+emb" if use_embeddings else "word")
    key = cache.run_key(opts.full_data_options(sd, use_embeddings), engine=engine)
    path = cache.cache_path(runs_cache, dataset=ds.name, strategy="full-data", seed=sd, key=key)
    stored = cache.load(path, key)
    if stored is not None:
        return float(stored["score"])
    full = full_data_score(ds, train_idx, scorer, fast_features="word+emb" if use_embeddings else "word")
    cache.save(path, key, {"score": full})
    return full


def _strategy_run(
    opts: LoopOptions,
    trial: _SeedTrial,
    strategy: str,
    workdir: Path,
    runs_cache: Path | None,
    engine: str,
    console: Any,
) -> StrategyRun:
    """The (strategy, seed) run: from the runs cache when an equal key is stored there, else simulated (and
    stored)."""
    key = path = None
    if runs_cache is not None:
        key = cache.run_key(opts.cache_options(strategy, trial.seed, trial.use_embeddings), engine=engine)
        path = cache.cache_path(runs_cache, dataset=trial.ds.name, strategy=strategy, seed=trial.seed, key=key)
        stored = cache.load(path, key)
        if stored is not None:
            console.print(f"  seed {trial.seed} {strategy}: reused {path}", highlight=False)
            return run_from_json(stored)
    result = simulate(
        trial.ds, trial.train_idx, trial.scorer, strategy, batch=opts.batch, first=opts.first,
        max_labels=opts.max_labels, workdir=workdir, seed=trial.seed, batch_growth=opts.batch_growth,
        random_share=opts.random_share, extra_unlabeled=trial.extra, progress=_progress(console, trial.seed),
        live=opts.live, use_embeddings=trial.use_embeddings, initial_order=opts.initial_order,
        mix_options=opts.mix_options,
    )  # fmt: skip
    (workdir / f"{strategy}-{trial.seed}.db").unlink(missing_ok=True)
    if path is not None and key is not None:
        cache.save(path, key, asdict(result))
    return result


def _progress(console: Any, seed: int) -> Callable[[str, int, float | None], None]:
    def progress(name: str, n: int, score: float | None) -> None:
        shown = "-" if score is None else f"{score:.3f}"
        console.print(f"  seed {seed} {name:<16} {n:>5} labels  {shown}", highlight=False)

    return progress


def _print_seed(console: Any, runs: list[StrategyRun], horizon: int) -> None:
    for r in runs:
        hit = r.labels_to_95 if r.labels_to_95 is not None else f"not reached (>{horizon})"
        ratio = "-" if r.ratio_to_random is None else f"{r.ratio_bound}{r.ratio_to_random}"
        console.print(
            f"  seed {r.seed} {r.strategy:<16} start {r.initial_order:<8} labels→95% {hit}  ÷ random {ratio}  "
            f"area {r.norm_area:.3f}  suggestions {format_share(r.suggestion_accuracy)}",
            highlight=False,
        )


def _result(
    opts: LoopOptions,
    info: dict[str, Any],
    fulls: dict[int, float],
    seed_list: list[int],
    engine: str,
    summaries: list[StrategySummary],
    runs: list[StrategyRun],
) -> dict[str, Any]:
    return {
        **info,
        "file": str(opts.data),
        "full_data_score": round(float(statistics.median(fulls.values())), 4),
        "full_data_scores": {str(k): round(v, 4) for k, v in fulls.items()},
        "batch": opts.batch,
        "batch_growth": opts.batch_growth,
        "batch_sizes": opts.sizes,
        "retrain_grid": opts.grid,
        "horizon": opts.grid[-1],
        "first": opts.first,
        "max_labels": opts.max_labels,
        "max_rows": opts.max_rows,
        "test_split": opts.test_split,
        "seed": seed_list[0],
        "seeds": seed_list,
        "live": opts.live,
        "initial_order_setting": opts.initial_order,  # every strategy's but random-start's; runs say what they got
        "target_share": TARGET_SHARE,
        "bootstrap": {"resamples": curves.BOOTSTRAP_RESAMPLES, "seed": curves.BOOTSTRAP_SEED, "level": 0.95},
        "engine_hash": engine,
        "mix": opts.mix(),
        "summary": [asdict(sm) for sm in summaries],
        "runs": [asdict(r) for r in runs],
    }


def _write(
    out: Path, result: dict[str, Any], runs: list[StrategyRun], summaries: list[StrategySummary], full: float
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    name = result["dataset"]
    stem = result_stem(name, live=result["live"])
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    plot(name, runs, summaries, full, result["metric"], out / f"{stem}.png")
