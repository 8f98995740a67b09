"""Training jobs: requesting them (API/CLI/UI), listing them, and the worker-side claim/heartbeat/finish.

A training job is a row of ``training_jobs`` (tier ``fast``, ``search`` or ``prepare``). Workers claim jobs atomically
with a lease (see `prelabel.store.jobs`); a worker that dies stops heart-beating and its job is claimed again
once the lease expires (up to `MAX_ATTEMPTS` times). Jobs are created on demand (`request_training`, admin
only) or by the label trigger (`schedule_due_training`, run by every worker between jobs):

* the first model comes as soon as the project has ``train_min_labels`` (default 10) labeled assets;
* later, a new fast job is queued once ``max(train_min_new_labels, train_growth * labeled assets)`` new
  DEFAULT/REVIEW labels have arrived since the previous fast job was queued, and no label has come for
  ``train_debounce_s`` (a burst of labels gives one job, not one per label; the wait is capped at 10 times
  the debounce so that a labeler who never pauses still gets fresh predictions);
* a budgeted search job follows when ``search_enabled`` and the project has ``search_min_labels``, unless
  one is already queued or running;
* an import queues a ``prepare`` job (`queue_prepare`): it trains nothing, but encodes the new texts with the
  sentence model and, while the project has no model, puts the most representative unlabeled texts at the
  front of the queue (``queue_initial_order`` "diverse"), so that the first model learns from every region
  of the data instead of ten random texts.

Trigger settings live in the project's settings (defaults and help: `TRAINING_SETTINGS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from prelabel.domain import JobStatus, Role
from prelabel.errors import InvalidInput, NotFound
from prelabel.service._access import require, role_of
from prelabel.service.auth import Actor
from prelabel.service.dto import TrainingJobOut
from prelabel.store import jobs as sql
from prelabel.store import models as models_repo
from prelabel.store import projects as projects_repo
from prelabel.store import repositories as repo
from prelabel.store import tables as t
from prelabel.store import training as training_repo
from prelabel.store.engine import Session, Store

Tier = Literal["fast", "search", "prepare"]
TierRequest = Literal["fast", "search", "both"]

MAX_ATTEMPTS = 3
DEFAULT_LEASE_SECONDS = 60.0

# Project settings read by the trainer and the queue: key → (default, help). Stored in projects.settings.
TRAINING_SETTINGS: dict[str, tuple[Any, str]] = {
    "auto_train": (True, "Retrain automatically as labels arrive (else only on demand)."),
    "train_min_labels": (10, "Labels needed for the first model."),
    "train_min_new_labels": (
        5,
        "The least number of new labels for a retrain: every 5 labels while the project is young, so that "
        "labelers see fresher pre-annotations and the active-learning queue adapts sooner (docs/loop.md).",
    ),
    "train_growth": (0.1, "A retrain needs max(train_min_new_labels, train_growth * labeled assets) new labels."),
    "train_debounce_s": (0.5, "Wait until no label has arrived for this many seconds before retraining."),
    "search_enabled": (
        True,
        "Follow fast models with a budgeted AutoML search, warm-started from the last one.",
    ),
    "search_min_labels": (
        100,
        "Labels needed before the first AutoML search. With fewer, a search's choice rests on too few labels: "
        "its model was less often right than the fast model it would replace (docs/first-labels.md).",
    ),
    "search_budget_s": (30.0, "Wall-clock budget of one AutoML search (seconds)."),
    "zero_shot": (
        True,
        "Before the first label, suggest categories from their names, descriptions and the job's question (a "
        "model version of tier zero-shot, on the sentence vectors; needs use_embeddings). Once labels arrive the "
        "fast model uses it as a prior only as far as it helps out of fold, and hides it when it is no better "
        "than the labels' majority class.",
    ),
    "use_embeddings": (
        True,
        "Encode every text once with the MiniLM sentence model (the prepare job does it in the background, labeled "
        "texts and the queue's head first, about 200-400 texts/s on 2 cores with the default ONNX encoder; needs "
        "prelabel[embeddings]) and let fast models add the sentence vectors to TF-IDF as soon as the labeled texts "
        "have them: far better models from few labels (docs/first-labels.md).",
    ),
    "queue_strategy": (
        "mix",
        "Active-learning order of the queue: random, least_confidence, margin, entropy or mix "
        "(margin uncertainty + diversity clusters + a random share; the default: best learning-curve area and "
        "fewest labels on most simulated data sets, docs/loop.md).",
    ),
    "queue_random_share": (
        0.0,
        "Share of random picks in the 'mix' strategy (0 by the simulations, docs/loop.md; 0.1 did better on "
        "the noisy disaster tweets only with the TF-IDF-only fast tier).",
    ),
    "queue_initial_order": (
        "diverse",
        "Order in which newly imported assets are served until a model has scored them: diverse (the default: "
        "first the most central text of each of train_min_labels k-means clusters of the sentence vectors, then "
        "random; needs use_embeddings and prelabel[embeddings], else random), random (a file sorted by class or "
        "date would otherwise give the first model one class or one period) or import (file order).",
    ),
    "honeypot_rate": (
        0.0,
        "Share of queue requests answered with a honeypot the labeler has not labeled yet.",
    ),
    "review_threshold": (0.5, "Label-error flags: least margin by which the model contradicts a label."),
    "suggestions_from": (
        "trainer",
        "Which model versions give the suggestions labelers see: trainer (the default: the project's own models; "
        "predictions pushed from outside, tier external, are kept and listed, and suggested only for texts no "
        "trained version has predicted), external (pushed predictions first, the trainer's where none was "
        "pushed) or newest (the newest ready version, whatever made it).",
    ),
}


def retrain_threshold(settings: dict[str, Any] | None, n_labeled: int) -> int:
    """New labels a project with `n_labeled` labeled assets needs before its next fast model."""
    return max(
        int(training_setting(settings, "train_min_new_labels")),
        int(float(training_setting(settings, "train_growth")) * n_labeled),
    )


def training_setting(settings: dict[str, Any] | None, key: str) -> Any:
    """A trainer/queue setting from a project's settings, or its default."""
    default = TRAINING_SETTINGS[key][0]
    if not settings or settings.get(key) is None:
        return default
    value = settings[key]
    try:
        return type(default)(value)
    except (TypeError, ValueError):
        return default


# --- user-facing
def _out(job: t.TrainingJob) -> TrainingJobOut:
    return TrainingJobOut.model_validate(job)


def _tiers(tier: str) -> list[Tier]:
    if tier == "both":
        return ["fast", "search"]
    if tier in ("fast", "search"):
        return [tier]  # type: ignore[list-item]
    raise InvalidInput(f"Invalid tier {tier!r}; use 'fast', 'search' or 'both'.")


def labeled_count(store: Store, project_id: int) -> int:
    """Assets of the project with a DEFAULT or REVIEW label."""
    with store.transaction(read_only=True) as s:
        return training_repo.labeled_asset_count(s, project_id)


def enqueue(
    session: Session,
    project_id: int,
    tier: Tier,
    *,
    reason: str,
    requested_by: int | None = None,
    n_labels: int = 0,
) -> tuple[t.TrainingJob, bool]:
    """Queue a job unless one of the same tier is already QUEUED for the project; (job, created)."""
    for job in sql.active_jobs(session, project_id):
        if job.tier == tier and job.status == JobStatus.QUEUED:
            return job, False
    job = training_repo.insert_job(
        session, project_id, tier, reason=reason[:40], requested_by=requested_by, n_labels=n_labels
    )
    return job, True


def queue_prepare(session: Session, project_id: int, settings: dict[str, Any] | None) -> t.TrainingJob | None:
    """Inside an import's transaction: queue the project's `prepare` job (one at most) when the project uses the
    sentence model (`use_embeddings`): texts to encode for the fast models and, with `queue_initial_order`
    "diverse", a first queue order from their vectors. With `use_embeddings` off nothing is queued."""
    if not training_setting(settings, "use_embeddings"):
        return None
    job, _ = enqueue(session, project_id, "prepare", reason="import")
    return job


def request_training(
    store: Store, actor: Actor, project_id: int, *, tier: TierRequest = "both", reason: str = "manual"
) -> list[TrainingJobOut]:
    """Queue training now (admin only). Returns the queued jobs (an already queued job of a tier is
    reused)."""
    tiers = _tiers(tier)
    with store.transaction() as s:
        require(s, actor, project_id, Role.ADMIN, "start training")
        sql.lock_project(s, project_id)
        n = training_repo.labeled_asset_count(s, project_id)
        if n < 2:
            raise InvalidInput(
                f"Project {project_id} has {n} labeled asset(s); training needs labels on at least 2 assets "
                "with at least 2 different categories. Label some assets first."
            )
        out = []
        for tr in tiers:
            job, _ = enqueue(s, project_id, tr, reason=reason, requested_by=actor.user_id, n_labels=n)
            out.append(_out(job))
        return out


def list_training_jobs(store: Store, actor: Actor, project_id: int, *, limit: int = 20) -> list[TrainingJobOut]:
    """The project's newest training jobs first (any member)."""
    limit = max(1, min(int(limit), 500))
    with store.transaction(read_only=True) as s:
        role_of(s, actor, project_id)
        return [_out(j) for j in training_repo.newest_jobs(s, project_id, limit)]


def get_training_job(store: Store, actor: Actor, project_id: int, job_id: int) -> TrainingJobOut:
    with store.transaction(read_only=True) as s:
        role_of(s, actor, project_id)
        job = training_repo.job_by_id(s, job_id)
        if job is None or job.project_id != project_id:
            raise NotFound(f"Training job {job_id} not found in project {project_id}.")
        return _out(job)


# --- worker side
@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker holds. `previous_model_version_id`: a TRAINING version a crashed holder left behind."""

    id: int
    project_id: int
    tier: Tier
    reason: str
    attempts: int
    worker_id: str
    previous_model_version_id: int | None


class LeaseLost(Exception):
    """The worker's lease on a job expired and another worker took it (or the job was cancelled)."""


def claim_next_job(
    store: Store,
    worker_id: str,
    *,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    project_id: int | None = None,
    tiers: Sequence[str] | None = None,
) -> ClaimedJob | None:
    """Atomically claim the next job (fast first, then oldest). A job already tried `MAX_ATTEMPTS` times is
    failed instead of claimed again; a TRAINING model version left by a crashed holder is abandoned (its
    partial
    predictions deleted, status FAILED) in the same transaction."""
    while True:
        with store.transaction() as s:
            job = sql.claim_job(s, worker_id, lease_seconds=lease_seconds, project_id=project_id, tiers=tiers)
            if job is None:
                return None
            prev = job.model_version_id
            if prev is not None:
                sql.abandon_model_version(s, prev, f"abandoned by a crashed worker (job {job.id})")
                job.model_version_id = None
            if job.attempts > MAX_ATTEMPTS:
                sql.finish_job(
                    s,
                    job.id,
                    worker_id,
                    status=JobStatus.FAILED,
                    message=f"gave up after {MAX_ATTEMPTS} attempts (each worker died or lost its lease)",
                )
                continue
            return ClaimedJob(
                id=job.id,
                project_id=job.project_id,
                tier=job.tier,  # type: ignore[arg-type]
                reason=job.reason,
                attempts=job.attempts,
                worker_id=worker_id,
                previous_model_version_id=prev,
            )


def heartbeat_job(
    store: Store,
    job: ClaimedJob,
    *,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    progress: float | None = None,
    message: str | None = None,
) -> None:
    """Extend the lease and record progress; raises LeaseLost when another worker has taken the job."""
    with store.transaction() as s:
        ok = sql.heartbeat(s, job.id, job.worker_id, lease_seconds=lease_seconds, progress=progress, message=message)
    if not ok:
        raise LeaseLost(f"worker {job.worker_id} lost the lease on training job {job.id}")


def attach_model_version(store: Store, job: ClaimedJob, model_version_id: int, n_labels: int) -> None:
    """Record on the job which (TRAINING) model version it is writing, so a re-claimer can abandon it."""
    with store.transaction() as s:
        row = training_repo.job_by_id(s, job.id)
        if row is None or row.worker_id != job.worker_id or row.status != JobStatus.RUNNING:
            raise LeaseLost(f"worker {job.worker_id} lost the lease on training job {job.id}")
        row.model_version_id = model_version_id
        row.n_labels = n_labels


def fail_job(store: Store, job: ClaimedJob, message: str, *, model_version_id: int | None = None) -> None:
    """Mark the job FAILED (if still held) and abandon its TRAINING model version."""
    with store.transaction() as s:
        if model_version_id is not None:
            sql.abandon_model_version(s, model_version_id, message)
        sql.finish_job(s, job.id, job.worker_id, status=JobStatus.FAILED, message=message)


def succeed_job_in(
    session: Session, job: ClaimedJob, *, message: str, model_version_id: int | None, n_labels: int
) -> None:
    """Inside the caller's transaction (the one that marks the model version READY): finish the job."""
    if not sql.finish_job(
        session,
        job.id,
        job.worker_id,
        status=JobStatus.SUCCEEDED,
        message=message,
        model_version_id=model_version_id,
        n_labels=n_labels,
    ):
        raise LeaseLost(f"worker {job.worker_id} lost the lease on training job {job.id}")


def complete_job_without_model(store: Store, job: ClaimedJob, message: str) -> None:
    """Succeed a job that publishes no model version (a `prepare` job); LeaseLost if no longer held."""
    with store.transaction() as s:
        succeed_job_in(s, job, message=message, model_version_id=None, n_labels=0)


def schedule_due_training(store: Store, *, now: datetime | None = None) -> list[TrainingJobOut]:
    """The label trigger: queue the jobs that projects are due for (see the module docstring).

    Runs before every claim, so it is cheap: per project one index lookup of its newest label (by the
    ``(project_id, id)`` index) against its newest fast job; only projects with newer labels get the full check.
    Safe to run from any number of workers at once: each project is checked under a row lock (PostgreSQL) or
    the single SQLite writer, and a tier never gets a second QUEUED job."""
    now = now or t.utcnow()
    with store.transaction(read_only=True) as s:
        due = _projects_with_new_labels(s)
    created: list[TrainingJobOut] = []
    for pid in due:
        created.extend(_schedule_project(store, pid, now))
    return created


def _projects_with_new_labels(s: Session) -> list[int]:
    """Projects with a label newer than their newest fast job (or with labels and no fast job yet)."""
    last_job = training_repo.fast_job_times(s)
    due = []
    for pid in training_repo.project_ids(s):
        newest = training_repo.newest_label_time(s, pid)
        if newest is None:
            continue
        lj = last_job.get(pid)
        if lj is None or newest > lj:
            due.append(pid)
    return due


def _schedule_project(store: Store, project_id: int, now: datetime) -> list[TrainingJobOut]:
    # Every poll of every worker comes here while a project has labels newer than its last fast job: decide
    # read-only first, and take the project lock (a write transaction) only to queue, deciding again under it.
    with store.transaction(read_only=True) as s:
        if not _fast_job_due(s, projects_repo.get_project(s, project_id), now):
            return []
    with store.transaction() as s:
        project = sql.lock_project(s, project_id)
        if not _fast_job_due(s, project, now):
            return []
        assert project is not None
        settings = project.settings or {}
        n_total = training_repo.labeled_asset_count(s, project_id)
        out = []
        job, made = enqueue(s, project_id, "fast", reason="labels", n_labels=n_total)
        if made:
            out.append(_out(job))
        if (
            training_setting(settings, "search_enabled")
            and n_total >= int(training_setting(settings, "search_min_labels"))
            and not any(j.tier == "search" for j in sql.active_jobs(s, project_id))
        ):
            sjob, smade = enqueue(s, project_id, "search", reason="labels", n_labels=n_total)
            if smade:
                out.append(_out(sjob))
        return out


def _fast_job_due(s: Session, project: t.Project | None, now: datetime) -> bool:
    """Auto-training is on, enough labels came since the last fast job, and the labeler paused (or waited long)."""
    if project is None:
        return False
    settings = project.settings or {}
    if not training_setting(settings, "auto_train"):
        return False
    last = training_repo.newest_fast_job(s, project.id, with_cancelled=False)
    n_total = training_repo.labeled_asset_count(s, project.id)
    since = last.created_at if last is not None else None
    n_new, oldest_new, newest = sql.label_activity(s, project.id, since)
    if last is None:
        enough = n_total >= int(training_setting(settings, "train_min_labels"))
    else:
        enough = n_new >= retrain_threshold(settings, n_total)
    if not enough:
        return False
    debounce = float(training_setting(settings, "train_debounce_s"))
    if newest is not None and oldest_new is not None and debounce > 0:
        quiet = now - newest >= timedelta(seconds=debounce)
        waited_long = now - oldest_new >= timedelta(seconds=10 * debounce)
        return quiet or waited_long
    return True


def complete_job(
    store: Store,
    job: ClaimedJob,
    model_version_id: int,
    *,
    metrics: dict[str, Any],
    artifact: bytes | None,
    n_labels: int,
) -> None:
    """Publish a finished model version and succeed its job in ONE transaction: the version becomes READY only
    if it is still TRAINING (not abandoned by a re-claimer) and this worker still holds the job; otherwise
    nothing changes and LeaseLost is raised."""
    with store.transaction() as s:
        if not models_repo.publish_model_version(
            s, model_version_id, metrics=metrics, artifact=artifact, n_labels=n_labels
        ):
            raise LeaseLost(f"model version {model_version_id} is no longer TRAINING (job {job.id} was re-claimed)")
        succeed_job_in(
            s,
            job,
            message=f"model version {model_version_id} ready",
            model_version_id=model_version_id,
            n_labels=n_labels,
        )


class TrainingStatus(BaseModel):
    """What the trainer is doing for a project and when the next model comes (for progress displays)."""

    project_id: int
    n_labeled: int = Field(description="Assets with a DEFAULT or REVIEW label.")
    labels_since_last_job: int = Field(description="DEFAULT/REVIEW labels since the last fast job was queued.")
    labels_needed: int = Field(description="New labels that trigger the next automatic retrain (0: due now).")
    auto_train: bool
    active_jobs: list[TrainingJobOut] = Field(default_factory=list, description="QUEUED and RUNNING jobs.")
    latest_ready_version_id: int | None = Field(
        None,
        description="The READY model version serving the suggestions: the newest one of the kind the project "
        "trusts (setting suggestions_from), else the newest READY one.",
    )
    latest_ready_version: str | None = Field(None, description="Its display name, e.g. 'automl-4'.")
    latest_ready_at: datetime | None = Field(None, description="Its finish time.")


def training_status(store: Store, actor: Actor, project_id: int) -> TrainingStatus:
    """The trainer's state for a project (any member)."""
    with store.transaction(read_only=True) as s:
        role_of(s, actor, project_id)
        project = projects_repo.get_project(s, project_id)
        assert project is not None
        settings = project.settings or {}
        n = training_repo.labeled_asset_count(s, project_id)
        last = training_repo.newest_fast_job(s, project_id, with_cancelled=True)
        since = last.created_at if last is not None else None
        n_new, _, _ = sql.label_activity(s, project_id, since)
        if last is None:  # the first model
            threshold, n_new = int(training_setting(settings, "train_min_labels")), n
        else:
            threshold = retrain_threshold(settings, n)
        needed = max(0, threshold - n_new)
        mv = repo.serving_version(s, project_id)
        return TrainingStatus(
            project_id=project_id,
            n_labeled=n,
            labels_since_last_job=n_new,
            labels_needed=needed,
            auto_train=bool(training_setting(settings, "auto_train")),
            active_jobs=[_out(j) for j in sorted(sql.active_jobs(s, project_id), key=lambda j: j.id)],
            latest_ready_version_id=mv.id if mv else None,
            latest_ready_version=f"{mv.name}-{mv.version}" if mv else None,
            latest_ready_at=mv.finished_at if mv else None,
        )
