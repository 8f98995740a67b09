"""The trainer: claim a job, train, store a complete model version, recompute the queue.

One job, in order (each step its own short transaction, so the database is never held during training):

1. claim (atomic, with a lease; a TRAINING version left by a crashed holder is abandoned at claim time);
2. read the effective labels (newest REVIEW label of an asset, else its newest DEFAULT label) and fit one
   classifier per job (`worker.model.ProjectModel`), the lease kept alive by a heartbeat thread; a search job
   first encodes the project's texts missing from the MiniLM embedding cache, and a fast job adds the sentence
   vectors of the texts already encoded to its features, with a word-only fallback for the others (setting
   `use_embeddings`);
3. create the model version (status TRAINING; its number comes from the project's counter, never reused)
   and record it on the job;
4. predict every asset of the project in chunks and upsert the predictions of this version chunk by chunk
   (unique per asset and version, so a retry never duplicates), heart-beating with progress between chunks;
5. in ONE transaction, only if the version is still TRAINING and this worker still holds the job: mark the
   version READY with its metrics and artifact, and the job SUCCEEDED;
6. give every unlabeled asset a queue priority (the project's active-learning strategy) and refresh the
   label-error review flags (confident learning on out-of-fold probabilities);
7. for a job trained on fewer than `automl.label_counts.HONEST_MAX_LABELS` labels, estimate how right the served
   suggestions are by repeated cross-validation of the published classifier (`ProjectModel.honest_metrics`,
   time-capped) and write it into the version's metrics (`service.models.record_honest_metrics`); until then
   the version's ``metrics.honest.status`` is "pending".

A `prepare` job (queued by every import) trains nothing: while the project has no model and its
`queue_initial_order` is "diverse", it encodes a sample of the unlabeled texts and moves the most central text of
each k-means cluster to the front of the queue (`automl.active.representatives`), then encodes the rest of the
project's texts so that fast models use the sentence vectors.

A worker killed at any point leaves either nothing visible or a complete READY version; its job's lease
expires and another worker claims it again (abandoning the partial TRAINING version first). The server logs
one
line per job with its timings.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from prelabel.automl.active import STRATEGIES, QueryContext, make_strategy, representatives
from prelabel.automl.embeddings import count_missing, default_cache_dir, embed, embeddings_available
from prelabel.automl.features import EMBEDDING_KINDS, KINDS
from prelabel.automl.honest import TIME_CAP_S
from prelabel.automl.label_counts import HONEST_MAX_LABELS
from prelabel.automl.label_errors import confident_learning_issues, disagreements, multilabel_issues
from prelabel.domain import AssetStatus, Interface, parse_interface
from prelabel.service import training as tsvc
from prelabel.service.models import honest_summary, record_honest_metrics
from prelabel.service.training import ClaimedJob, LeaseLost, retrain_threshold, training_setting
from prelabel.store import jobs as sql
from prelabel.store import predictions as predictions_repo
from prelabel.store import projects as projects_repo
from prelabel.store import repositories as repo
from prelabel.store.engine import Store
from prelabel.worker.model import NotEnoughLabels, ProjectModel, has_vectors, training_sets

logger = logging.getLogger("prelabel.worker")

Progress = Callable[[str, float, str], None]  # (phase, fraction 0-1 of the job, message)
REVIEW_REASONS = ("label_error", "model_disagrees")
UNLABELED = (AssetStatus.TODO, AssetStatus.ONGOING)
# The progress range of a prepare job's encoding of the project: the first queue order and the zero-shot
# version before it take a moment, publishing after it less.
PREPARE_ENCODE_SPAN = (0.02, 0.98)
# Rows per write transaction of the trainer's bulk writes. Each transaction holds SQLite's one write lock, which
# every labeler's next asset and label waits for: 500 predictions take 20-90 ms on 2 busy cores, 2000 took 0.36 s.
WRITE_ROWS = 500


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class JobResult:
    job_id: int
    project_id: int
    tier: str
    status: str  # SUCCEEDED | FAILED | LOST
    message: str
    model_version_id: int | None = None
    version: int | None = None
    n_labels: int = 0
    n_predicted: int = 0
    timings: dict[str, float] = field(default_factory=dict)


class _Heartbeat:
    """Keeps a job's lease alive from a thread while the main thread trains; remembers a lost lease."""

    def __init__(self, store: Store, job: ClaimedJob, lease_seconds: float) -> None:
        self.store = store
        self.job = job
        self.lease_seconds = lease_seconds
        self.progress = 0.0
        self.message = "claimed"
        self.lost: LeaseLost | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job.id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        interval = max(0.2, self.lease_seconds / 4)
        while not self._stop.wait(interval):
            self.beat()

    def beat(self, progress: float | None = None, message: str | None = None) -> None:
        if progress is not None:
            self.progress = progress
        if message is not None:
            self.message = message
        try:
            tsvc.heartbeat_job(
                self.store,
                self.job,
                lease_seconds=self.lease_seconds,
                progress=self.progress,
                message=self.message,
            )
        except LeaseLost as exc:
            self.lost = exc
        except Exception:  # a transient database error: the next beat retries
            logger.warning("heartbeat of job %d failed", self.job.id, exc_info=True)

    def check(self) -> None:
        if self.lost is not None:
            raise self.lost


class Trainer:
    """Runs training jobs against a `Store`. Thread-compatible, not thread-safe: one Trainer per thread.

    progress: optional callback ``(phase, fraction, message)`` called at each step (the CLI draws progress
        bars with it). An exception raised by it aborts the job like a crash would (tests use this).
    tiers: claim only jobs of these tiers (None: any). `prelabel serve` runs one process per tier so that a
        long search never delays the next fast model.
    initial_order_threads: torch threads for encoding the sample a prepare job picks the first labels from
        (None: `blas_threads`). More threads choose the first labels sooner but not reproducibly.
    blas_threads: BLAS/OpenMP threads while a job runs (None: the library default). One by default: the
        trainer's small solver steps gain nothing from threads, and on a busy 2-core machine oversubscribed
        OpenBLAS threads made a fast-tier fit 5x slower (measured: 19 s → 3.4 s CPU for 100 BBC articles).
    mix_options: parameters of the `mix` queue strategy in place of its defaults (`automl.active.MIX_OPTIONS`);
        no project setting reaches them: `prelabel bench loop --mix-options` compares variants with them.
    """

    def __init__(
        self,
        store: Store,
        *,
        worker_id: str | None = None,
        lease_seconds: float = tsvc.DEFAULT_LEASE_SECONDS,
        chunk_size: int = 2000,
        poll_seconds: float = 0.25,
        search_n_jobs: int = 1,
        cache_dir: str | None = None,
        max_trials: int | None = None,
        progress: Progress | None = None,
        schedule: bool = True,
        blas_threads: int | None = 1,
        tiers: tuple[str, ...] | None = None,
        initial_order_threads: int | None = None,
        mix_options: Mapping[str, float] | None = None,
    ) -> None:
        self.store = store
        self.worker_id = worker_id or default_worker_id()
        self.lease_seconds = lease_seconds
        self.chunk_size = chunk_size
        self.poll_seconds = poll_seconds
        self.search_n_jobs = search_n_jobs
        self.cache_dir = cache_dir
        self.max_trials = max_trials
        self.progress = progress
        self.schedule = schedule
        self.blas_threads = blas_threads
        self.tiers = tiers
        self.initial_order_threads = initial_order_threads
        self.mix_options = dict(mix_options or {})
        self._encoded: dict[int, int] = {}  # project id → asset count when all its texts were found encoded

    # --- loop ------------------------------------------------------------------------------------------
    def run_once(self, *, project_id: int | None = None) -> JobResult | None:
        """Queue due jobs (label triggers), then claim and run one job; None when there is nothing to do."""
        if self.schedule:
            tsvc.schedule_due_training(self.store)
        job = tsvc.claim_next_job(
            self.store, self.worker_id, lease_seconds=self.lease_seconds, project_id=project_id, tiers=self.tiers
        )
        if job is None:
            return None
        return self.run_job(job)

    def run_until_idle(self, *, project_id: int | None = None, max_jobs: int = 100) -> list[JobResult]:
        """Run jobs until none is due (used by `prelabel train` and the simulation benchmark)."""
        results = []
        for _ in range(max_jobs):
            r = self.run_once(project_id=project_id)
            if r is None:
                break
            results.append(r)
        return results

    def run_forever(self, stop: threading.Event | Any) -> None:
        """Poll for jobs until `stop` is set (a threading Event, or `process.StopFlag`: anything with
        `is_set()` and `wait(timeout)`)."""
        logger.info("worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                result = self.run_once()
            except Exception:
                logger.exception("worker %s: unexpected error; retrying", self.worker_id)
                result = None
            if result is None:
                stop.wait(self.poll_seconds)
        logger.info("worker %s stopped", self.worker_id)

    # --- one job ---------------------------------------------------------------------------------------
    def _store_predictions(self, project_id: int, model_version_id: int, rows: list[tuple[int, Any, float]]) -> None:
        """Upsert a version's predictions in transactions of `WRITE_ROWS` (the version is not READY yet, so no
        reader sees a part of them)."""
        from prelabel.service.predictions import bulk_store_predictions

        for start in range(0, len(rows), WRITE_ROWS):
            bulk_store_predictions(self.store, project_id, model_version_id, rows[start : start + WRITE_ROWS])

    def _report(self, hb: _Heartbeat | None, phase: str, fraction: float, message: str) -> None:
        if self.progress is not None:
            self.progress(phase, fraction, message)
        if hb is not None:
            hb.check()
            hb.progress, hb.message = fraction, message

    def run_job(self, job: ClaimedJob) -> JobResult:
        start = time.perf_counter()
        timings: dict[str, float] = {}
        mv_id: int | None = None
        result = JobResult(job.id, job.project_id, job.tier, "FAILED", "")
        try:
            with _Heartbeat(self.store, job, self.lease_seconds) as hb, threadpool_limits(self.blas_threads):
                if job.tier == "prepare":
                    self._prepare(job, hb, result, timings)
                else:
                    mv_id = self._run(job, hb, result, timings)
            result.status = "SUCCEEDED"
        except LeaseLost as exc:
            result.status, result.message = "LOST", str(exc)
        except NotEnoughLabels as exc:
            result.message = str(exc)
            tsvc.fail_job(self.store, job, result.message, model_version_id=mv_id or result.model_version_id)
        except Exception as exc:
            logger.exception("training job %d failed", job.id)
            result.message = f"{type(exc).__name__}: {exc}"
            tsvc.fail_job(self.store, job, result.message, model_version_id=result.model_version_id)
        timings["total"] = time.perf_counter() - start
        result.timings = {k: round(v, 3) for k, v in timings.items()}
        logger.info(
            "job %d project %d tier %s %s: %s labels, %s assets, version %s | %s",
            job.id,
            job.project_id,
            job.tier,
            result.status,
            result.n_labels,
            result.n_predicted,
            f"automl-{result.version}" if result.version else "-",
            " ".join(f"{k}={v:.2f}s" for k, v in result.timings.items()),
        )
        if result.status != "SUCCEEDED":
            logger.info("job %d: %s", job.id, result.message)
        return result

    def _load(self, job: ClaimedJob) -> tuple[Interface, dict[str, Any], list[tuple[int, str, dict[str, Any]]]]:
        from prelabel.service.labels import effective_labels

        with self.store.transaction(read_only=True) as s:
            project = projects_repo.get_project(s, job.project_id)
            if project is None:
                raise NotEnoughLabels(f"project {job.project_id} no longer exists")
            interface = parse_interface(project.interface)
            settings = dict(project.settings or {})
        rows = [(int(a), str(c), dict(r)) for a, _ext, c, r in effective_labels(self.store, job.project_id)]
        return interface, settings, rows

    def _warm_start(self, project_id: int) -> dict[str, list[dict[str, Any]]]:
        """Best configurations of the newest READY searched version (else any READY version) per job."""
        with self.store.transaction(read_only=True) as s:
            rows = predictions_repo.ready_version_metrics(s, project_id, family="automl", limit=50)
        for tier in ("search", "fast"):
            for row_tier, metrics in rows:
                if row_tier == tier and isinstance(metrics, dict) and metrics.get("best_configs"):
                    return dict(metrics["best_configs"])
        return {}

    def _run(self, job: ClaimedJob, hb: _Heartbeat, result: JobResult, timings: dict[str, float]) -> int:
        from prelabel.service.models import create_model_version

        t0 = time.perf_counter()
        self._report(hb, "load", 0.02, "reading labels")
        interface, settings, rows = self._load(job)
        result.n_labels = len(rows)
        sets = training_sets(interface, rows)
        warm = self._warm_start(job.project_id) if job.tier == "search" else {}
        timings["load"] = time.perf_counter() - t0

        fast_features = "word"
        partial = False
        use_embeddings = bool(training_setting(settings, "use_embeddings"))
        if use_embeddings and embeddings_available():
            if job.tier == "search":
                t0 = time.perf_counter()
                self._encode_project(job.project_id, hb)
                timings["embed"] = time.perf_counter() - t0
                fast_features = "auto"  # a search that falls back to fast mode (few labels) uses the vectors
            else:
                # the labeled texts get vectors at once (a few); texts not encoded yet get a word-only fallback
                fast_features = "word+emb"
                partial = not self._project_encoded(job.project_id)

        t0 = time.perf_counter()
        self._report(hb, "fit", 0.05, f"training on {len(rows)} labels ({job.tier})")
        model = ProjectModel(
            interface,
            tier=job.tier,
            time_budget=float(training_setting(settings, "search_budget_s")),
            warm_start=warm,
            n_jobs=self.search_n_jobs,
            cache_dir=self.cache_dir,
            max_trials=self.max_trials,
            fast_features=fast_features,
            partial_vectors=partial,
            zero_shot=bool(training_setting(settings, "zero_shot")),
            # off: no sentence model at all, not even in the search's portfolio
            feature_sets=None if use_embeddings else [k for k in KINDS if k not in EMBEDDING_KINDS],
        )
        # the texts the model will predict, so that its calibration is chosen for them (the labels active
        # learning chose are the hard cases: AutoTextClassifier.fit, calibration.pool_weights)
        from prelabel.automl.estimator import MAX_POOL_SAMPLE

        pool_sample = sql.sample_asset_texts(self.store, job.project_id, UNLABELED, MAX_POOL_SAMPLE)
        if partial:  # neither the calibration nor the honest estimate may wait for texts to be encoded
            pool_sample = [x for x, ok in zip(pool_sample, has_vectors(pool_sample, self.cache_dir), strict=True) if ok]
        model.fit(
            sets,
            on_job=lambda name, i, n: self._report(hb, "fit", 0.05 + 0.4 * i / n, f"training {name}"),
            unlabeled=pool_sample,
        )
        timings["fit"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        mv = create_model_version(
            self.store, job.project_id, name="automl", tier=job.tier, status="TRAINING", n_labels=len(rows)
        )
        result.model_version_id, result.version = mv.id, mv.version
        tsvc.attach_model_version(self.store, job, mv.id, len(rows))
        self._report(hb, "version", 0.5, f"automl-{mv.version}: predicting")

        # --- predictions for every asset, chunk by chunk ---
        n_total = _count_assets(self.store, job.project_id)
        pool_ids: list[int] = []
        pool_texts: list[str] = []
        pool_proba: dict[str, list[np.ndarray]] = {name: [] for name in model.models}
        statuses: dict[int, str] = {}
        strategy_name = str(training_setting(settings, "queue_strategy"))
        if strategy_name not in STRATEGIES:
            logger.warning("project %d: unknown queue_strategy %r; using mix", job.project_id, strategy_name)
            strategy_name = "mix"
        done = 0
        expected: dict[str, float] = {}  # per job: sum over the pool of the suggestion's expected agreement
        for chunk in sql.iter_asset_texts(self.store, job.project_id, chunk=self.chunk_size):
            ids = [a for a, _, _ in chunk]
            texts = [c for _, c, _ in chunk]
            proba = model.predict_proba(texts)
            responses = model.responses(proba)
            self._store_predictions(
                job.project_id, mv.id, [(a, resp, conf) for a, (resp, conf) in zip(ids, responses, strict=True)]
            )
            unl = [i for i, (_, _, st) in enumerate(chunk) if st in UNLABELED]
            for a, _, st in chunk:
                statuses[a] = st
            pool_ids.extend(ids[i] for i in unl)
            if strategy_name == "mix":
                pool_texts.extend(texts[i] for i in unl)
            for name, p in model.ranking_proba({k: v[unl] for k, v in proba.items()}).items():
                pool_proba[name].append(p)
            for name, total in model.expected_agreement_sums({k: v[unl] for k, v in proba.items()}).items():
                expected[name] = expected.get(name, 0.0) + total
            done += len(chunk)
            result.n_predicted = done
            self._report(hb, "predict", 0.5 + 0.4 * done / max(n_total, 1), f"predicted {done}/{n_total} assets")
        timings["predict"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        job_metrics: dict[str, Any] = model.job_metrics()
        metrics: dict[str, Any] = {
            "tier": job.tier,
            "n_labels": len(rows),
            "n_predicted": done,
            "jobs": job_metrics,
            "best_configs": model.best_configs(),
            "warm_started": bool(warm),
            "timings": {k: round(v, 3) for k, v in timings.items()},
            "worker_id": job.worker_id,
        }
        scores = [m.get("cv_score") for m in job_metrics.values() if m.get("cv_score") is not None]
        metrics["cv_score"] = round(float(np.mean(scores)), 6) if scores else None
        eces = [m.get("ece") for m in job_metrics.values() if m.get("ece") is not None]
        metrics["ece"] = round(float(np.mean(eces)), 6) if eces else None
        # expected accuracy of the suggestions served to the unlabeled pool, if the probabilities are calibrated
        for name, total in expected.items():
            job_metrics[name]["expected_accuracy"] = round(total / len(pool_ids), 6) if pool_ids else None
            job_metrics[name]["n_pool"] = len(pool_ids)
        exp = [m["expected_accuracy"] for m in job_metrics.values() if m.get("expected_accuracy") is not None]
        metrics["expected_accuracy"] = round(float(np.mean(exp)), 6) if exp else None
        # under HONEST_MAX_LABELS labels the score shown comes from repeated CV, computed after publishing
        honest_jobs = model.honest_jobs(HONEST_MAX_LABELS)
        for name in honest_jobs:
            job_metrics[name]["honest"] = {"status": "pending"}
        if honest_jobs:
            metrics["honest"] = honest_summary(metrics)
        artifact = model.to_bytes()
        self._report(hb, "finish", 0.98, f"automl-{mv.version}: publishing")
        hb.check()
        tsvc.complete_job(self.store, job, mv.id, metrics=metrics, artifact=artifact, n_labels=len(rows))
        timings["publish"] = time.perf_counter() - t0
        result.message = f"automl-{mv.version} on {len(rows)} labels"

        # After publishing (the predictions are what labelers wait for): the queue order and review flags.
        # A crash here only leaves the previous order/flags until the next model.
        t0 = time.perf_counter()
        if self.progress is not None:
            self.progress("queue", 0.99, "recomputing queue priorities")
        self._priorities(job, model, settings, strategy_name, pool_ids, pool_texts, pool_proba, len(rows))
        self._review_flags(job, model, settings, statuses)
        timings["queue"] = time.perf_counter() - t0
        if honest_jobs:
            t0 = time.perf_counter()
            self._honest(job, mv.id, model, honest_jobs, pool_sample)
            timings["honest"] = time.perf_counter() - t0
        return mv.id

    # --- honest early metrics, after publishing ---------------------------------------------------------------
    HONEST_TIME_CAP_S = TIME_CAP_S  # no new repeat of the estimate after this many seconds

    def _honest(
        self, job: ClaimedJob, mv_id: int, model: ProjectModel, jobs: list[str], pool_sample: list[str]
    ) -> None:
        """Repeated cross-validation of the published model's jobs (`ProjectModel.honest_metrics`), written into
        the version's metrics. Its first repeat always runs; no further repeat starts after
        `HONEST_TIME_CAP_S` seconds or once a job waits for this worker. Never raises: the version is published
        already, and a failure is recorded as the estimate's status."""
        if self.progress is not None:
            self.progress("estimate", 0.995, "estimating the accuracy by repeated cross-validation")

        def waiting() -> bool:
            with self.store.transaction(read_only=True) as s:
                return sql.job_waiting(s, self.tiers)

        try:
            per_job = model.honest_metrics(
                jobs, unlabeled=pool_sample or None, time_cap_s=self.HONEST_TIME_CAP_S, should_stop=waiting
            )
        except Exception as exc:
            logger.exception("job %d: the honest estimate failed", job.id)
            per_job = {name: {"status": "failed", "error": f"{type(exc).__name__}: {exc}"} for name in jobs}
        try:
            record_honest_metrics(self.store, mv_id, per_job)
        except Exception:
            logger.exception("job %d: storing the honest estimate failed", job.id)

    # --- prepare: a first queue order and the sentence vectors ---------------------------------------------
    INITIAL_SAMPLE = 1000  # unlabeled texts the first queue order is chosen from (encoded first)

    def _prepare(self, job: ClaimedJob, hb: _Heartbeat, result: JobResult, timings: dict[str, float]) -> None:
        with self.store.transaction(read_only=True) as s:
            project = projects_repo.get_project(s, job.project_id)
            if project is None:
                raise NotEnoughLabels(f"project {job.project_id} no longer exists")
            settings = dict(project.settings or {})
        use_embeddings = bool(training_setting(settings, "use_embeddings"))
        t0 = time.perf_counter()
        order, encoded = self._initial_order(job, settings, hb)
        timings["order"] = time.perf_counter() - t0
        if use_embeddings and embeddings_available() and training_setting(settings, "zero_shot"):
            t0 = time.perf_counter()
            order += "; " + self._zero_shot(job, hb, result)
            timings["zero_shot"] = time.perf_counter() - t0
        if use_embeddings and embeddings_available():
            t0 = time.perf_counter()
            # encoding every text is nearly all of a prepare job's work: it carries the job's progress bar
            encoded += self._encode_project(job.project_id, hb, span=PREPARE_ENCODE_SPAN)
            timings["embed"] = time.perf_counter() - t0
            if result.model_version_id is None and training_setting(settings, "zero_shot"):
                order += "; " + self._zero_shot(job, hb, result)  # no text had a vector before the encoding
        hb.check()
        result.message = f"{order}; {encoded} texts encoded"
        tsvc.complete_job_without_model(self.store, job, result.message)

    def _zero_shot(self, job: ClaimedJob, hb: _Heartbeat, result: JobResult) -> str:
        """Before the first label: publish a `zero-shot` version (`ProjectModel.zero_shot_model`) with
        predictions for every asset whose text already has a sentence vector (the first queue order has just
        encoded a sample of them); what was done."""
        from prelabel.service.models import create_model_version, finish_model_version

        with self.store.transaction(read_only=True) as s:
            if sql.has_ready_model(s, job.project_id, zero_shot=True):
                return "no zero-shot version: the project has a model"
            interface = parse_interface(projects_repo.get_project(s, job.project_id).interface)  # type: ignore[union-attr]
        if tsvc.labeled_count(self.store, job.project_id):
            return "no zero-shot version: the project has labels"
        encoded = [(a, c) for chunk in sql.iter_asset_texts(self.store, job.project_id, chunk=self.chunk_size)
                   for a, c, _ in chunk if c.strip()]
        has = has_vectors([c for _, c in encoded], self.cache_dir)
        encoded = [row for row, ok in zip(encoded, has, strict=True) if ok]
        if not encoded:
            return "no zero-shot version: no text encoded yet"
        from prelabel.automl.estimator import MAX_POOL_SAMPLE

        model = ProjectModel.zero_shot_model(interface, [c for _, c in encoded[:MAX_POOL_SAMPLE]], self.cache_dir)
        mv = create_model_version(self.store, job.project_id, name="automl", tier="zero-shot", status="TRAINING")
        result.model_version_id, result.version = mv.id, mv.version
        for start in range(0, len(encoded), self.chunk_size):
            part = encoded[start : start + self.chunk_size]
            responses = model.responses(model.predict_proba([c for _, c in part]))
            rows = [(a, r, conf) for (a, _), (r, conf) in zip(part, responses, strict=True)]
            self._store_predictions(job.project_id, mv.id, rows)
            hb.check()
        metrics = {"tier": "zero-shot", "n_labels": 0, "n_predicted": len(encoded), "jobs": model.job_metrics()}
        finish_model_version(self.store, mv.id, status="READY", metrics=metrics, artifact=model.to_bytes(), n_labels=0)
        return f"zero-shot version {mv.version} on {len(encoded)} encoded texts"

    def _initial_order(self, job: ClaimedJob, settings: dict[str, Any], hb: _Heartbeat) -> tuple[str, int]:
        """Put the most representative unlabeled texts first while no model orders the queue; what was done
        and how many texts were encoded for it."""
        from prelabel.service.queue import set_initial_order

        if training_setting(settings, "queue_initial_order") != "diverse":
            return f"initial order {training_setting(settings, 'queue_initial_order')}", 0
        if not training_setting(settings, "use_embeddings"):
            return "initial order random: use_embeddings is off", 0
        if not embeddings_available():
            return "initial order random: the sentence model is not installed (prelabel[embeddings])", 0
        with self.store.transaction(read_only=True) as s:
            if sql.has_ready_model(s, job.project_id):
                return "initial order left to the model", 0
            sample = sql.queue_head(s, job.project_id, self.INITIAL_SAMPLE)  # priorities are random here
        # which texts are sampled is random; the picks must not also depend on the order they were drawn in
        # (k-means starts from the rows' order), so a project's first labels are reproducible from its texts
        sample = sorted(sample)
        k = int(training_setting(settings, "train_min_labels"))
        if len(sample) <= k:
            return f"initial order random: {len(sample)} unlabeled texts", 0
        self._report(hb, "order", 0.01, f"encoding {len(sample)} texts for the first queue order")
        texts = [c for _, c in sample]
        encoded = count_missing(texts, self._embedding_cache_dir())
        # one thread by default, like every other encoding: with several, torch's sums run in a varying order
        # and the vectors (so the k-means picks) differ from run to run (docs/loop.md, "Import → first labels")
        threads = self.initial_order_threads or self.blas_threads or 1
        vectors = embed(texts, self._embedding_cache_dir(), threads=threads)
        hb.check()
        picks = representatives(vectors, k, np.random.default_rng(job.id))
        ranked = [(sample[int(i)][0], 1.0 + (len(picks) - r) / (len(picks) + 1)) for r, i in enumerate(picks)]
        if not set_initial_order(self.store, job.project_id, ranked):
            return "initial order left to the model", encoded
        logger.info(
            "project %d: %d representative texts at the front of the queue (from %d, %d newly encoded)",
            job.project_id, len(picks), len(sample), encoded,
        )  # fmt: skip
        return f"initial order diverse: {len(picks)} representative texts first", encoded

    # --- sentence embeddings -----------------------------------------------------------------------------
    def _embedding_cache_dir(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()

    def _project_encoded(self, project_id: int) -> bool:
        """True when every asset text of the project is in the embedding cache (remembered per asset count,
        so a fast job re-reads the texts only after assets were added or removed)."""
        n_assets = _count_assets(self.store, project_id)
        if self._encoded.get(project_id) == n_assets:
            return True
        cache_dir = self._embedding_cache_dir()
        for chunk in sql.iter_asset_texts(self.store, project_id, chunk=self.chunk_size):
            if count_missing([c for _, c, _ in chunk if c.strip()], cache_dir):
                return False
        self._encoded[project_id] = n_assets
        return True

    # assets per encoding step: a few seconds on one core, so progress moves and a killed worker loses little
    ENCODE_CHUNK = 256

    def _encode_project(self, project_id: int, hb: _Heartbeat, span: tuple[float, float] = (0.0, 0.05)) -> int:
        """Encode the project's texts missing from the embedding cache in the order labelers meet them: the
        labeled assets first (the next model trains on them), then the queue's head (served next), then the
        rest (`sql.ids_in_serving_order`); `ENCODE_CHUNK` assets at a time, each chunk saved (a killed worker's
        successor starts where it stopped) and reported. The job's progress moves through `span` in step with
        the share of the project's texts done (the reported message's i/n). Returns the number encoded."""
        cache_dir = self._embedding_cache_dir()
        with self.store.transaction(read_only=True) as s:
            ids = sql.ids_in_serving_order(s, project_id)
        encoded = 0
        low, high = span
        for done in range(0, len(ids), self.ENCODE_CHUNK):
            texts = sql.asset_contents(self.store, ids[done : done + self.ENCODE_CHUNK])
            missing = count_missing(texts, cache_dir)
            if missing:
                fraction = low + (high - low) * done / len(ids)
                self._report(hb, "embed", fraction, f"encoding texts {done}/{len(ids)} (MiniLM)")
                embed(texts, cache_dir, threads=self.blas_threads)  # encodes only the missing ones
                encoded += missing
        if encoded:
            logger.info("project %d: encoded %d texts with MiniLM", project_id, encoded)
        return encoded

    def _priorities(
        self,
        job: ClaimedJob,
        model: ProjectModel,
        settings: dict[str, Any],
        strategy_name: str,
        pool_ids: list[int],
        pool_texts: list[str],
        pool_proba: dict[str, list[np.ndarray]],
        n_labels: int,
    ) -> None:
        from prelabel.service.queue import set_priorities

        if not pool_ids:
            return
        names = [j.name for j in model.interface.jobs if j.name in model.models]
        proba = [np.concatenate(pool_proba[n]) for n in names]
        jobs = [model.interface.job(n) for n in names]
        multi = [jb.input == "multi" for jb in jobs]
        features = labeled_features = None
        if strategy_name == "mix":
            first = names[0]

            def features(rows: np.ndarray) -> Any:  # only the candidates are featurised
                return model.transform_features(first, [pool_texts[int(i)] for i in rows])

            labeled_texts = model.train_sets[names[0]].texts

            def labeled_features() -> Any:  # called by the mix's cold start only
                return model.transform_features(first, labeled_texts)

        # the labels the trigger waits for before the next model: the batch the mix spreads over clusters
        next_batch = retrain_threshold(settings, n_labels)
        strategy = make_strategy(
            strategy_name,
            random_share=float(training_setting(settings, "queue_random_share")),
            batch=max(1, next_batch),
            **(self.mix_options if strategy_name == "mix" else {}),
        )
        thresholds = [model.thresholds(jb) if m else None for jb, m in zip(jobs, multi, strict=True)]
        # a required multi-choice job's pre-annotation names its most probable category when none passes
        # (`ProjectModel.chosen`): its uncertainty is measured around that decision
        at_least_one = [m and jb.required for jb, m in zip(jobs, multi, strict=True)]
        ctx = QueryContext(
            proba, multi, features, np.random.default_rng(job.id), thresholds=thresholds, n_labeled=n_labels,
            at_least_one=at_least_one, labeled_features=labeled_features,
        )
        scores = strategy.score(ctx)
        set_priorities(self.store, job.project_id, zip(pool_ids, scores.tolist(), strict=True))

    def _review_flags(
        self, job: ClaimedJob, model: ProjectModel, settings: dict[str, Any], statuses: dict[int, str]
    ) -> None:
        margin = float(training_setting(settings, "review_threshold"))
        flags: dict[int, tuple[str, float]] = {}
        for jb in model.interface.jobs:
            clf = model.models.get(jb.name)
            if clf is None:
                continue
            ts = model.train_sets[jb.name]
            oof = np.asarray(getattr(clf, "oof_proba_", np.zeros((0, 0))), dtype=np.float64)
            if oof.shape[0] != len(ts.asset_ids) or oof.shape[0] < 10:
                continue
            classes = [str(c) for c in clf.classes_]
            index = {c: i for i, c in enumerate(classes)}
            if jb.input == "single":
                y = np.array([index[c] for c in ts.targets])
                found = [("label_error", i) for i in confident_learning_issues(y, oof)]
                found += [("model_disagrees", i) for i in disagreements(y, oof, margin=margin)]
            else:
                ind = np.array([[int(c in tg) for c in classes] for tg in ts.targets])
                found = [("label_error", i) for i in multilabel_issues(ind, oof)]
            for reason, issue in found:
                aid = ts.asset_ids[issue.index]
                if statuses.get(aid) == AssetStatus.REVIEWED:
                    continue
                cur = flags.get(aid)
                # a confident-learning flag wins over a plain disagreement; else the larger score
                if (
                    cur is None
                    or (cur[0] != "label_error" and reason == "label_error")
                    or (cur[0] == reason and issue.score > cur[1])
                ):
                    flags[aid] = (reason, round(issue.score, 6))
        with self.store.transaction() as s:
            sql.set_review_flags(s, job.project_id, flags, reasons=REVIEW_REASONS)


def _count_assets(store: Store, project_id: int) -> int:
    with store.transaction(read_only=True) as s:
        return repo.count_assets(s, repo.asset_conditions(project_id))
