"""Model versions: numbered per project (1, 2, 3 … never reused), with status, metrics and artifact bytes.

The trainer creates a version (TRAINING), writes its predictions, then finishes it (READY or FAILED).
Tiers (`model_versions.tier`, free text up to 20 characters): "zero-shot" (built by the trainer from the
categories' descriptions and the job's question before any label), "fast", "search", and "external":
predictions pushed through the API create READY versions of tier "external".
"""

from __future__ import annotations

from typing import Any

from prelabel.domain import ModelStatus
from prelabel.errors import InvalidInput, NotFound
from prelabel.service._access import require
from prelabel.service.auth import Actor
from prelabel.service.dto import ModelVersionOut
from prelabel.store import models as models_repo
from prelabel.store import repositories as repo
from prelabel.store import tables as t
from prelabel.store.engine import Session, Store

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def model_version_out(mv: t.ModelVersion) -> ModelVersionOut:
    return ModelVersionOut(
        id=mv.id,
        project_id=mv.project_id,
        name=mv.name,
        version=mv.version,
        display_name=f"{mv.name}-{mv.version}",
        tier=mv.tier,
        status=mv.status,
        metrics=mv.metrics or {},
        n_labels=mv.n_labels,
        created_at=mv.created_at,
        finished_at=mv.finished_at,
    )


def _status(status: ModelStatus | str) -> str:
    try:
        return ModelStatus(status).value
    except ValueError:
        raise InvalidInput(f"Unknown model status {status!r}; use one of {[m.value for m in ModelStatus]}.") from None


def check_model_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100 or not set(name) <= _NAME_CHARS:
        raise InvalidInput(f"Invalid model name {name!r}: use 1-100 letters, digits, '_', '.' or '-' (e.g. 'automl').")
    return name


def new_model_version(
    s: Session,
    project_id: int,
    *,
    name: str,
    tier: str,
    status: str,
    n_labels: int = 0,
    metrics: dict[str, Any] | None = None,
) -> t.ModelVersion:
    """Insert a model version with the project's next number, inside the caller's transaction."""
    number = repo.next_model_version_number(s, project_id)
    if number is None:
        raise NotFound(f"Project {project_id} not found.")
    # Guard against rows written without the counter (e.g. restored data): never collide with them.
    highest = models_repo.highest_version_number(s, project_id)
    if highest is not None and highest >= number:
        number = highest + 1
        models_repo.set_version_counter(s, project_id, number)
    return models_repo.insert_model_version(
        s,
        project_id,
        name=name,
        version=number,
        tier=tier,
        status=status,
        n_labels=n_labels,
        metrics=metrics or {},
    )


def create_model_version(
    store: Store,
    project_id: int,
    *,
    name: str = "automl",
    tier: str = "fast",
    status: ModelStatus | str = ModelStatus.TRAINING,
    n_labels: int = 0,
    metrics: dict[str, Any] | None = None,
) -> ModelVersionOut:
    """A new model version with the project's next version number (atomic; numbers are never reused)."""
    name = check_model_name(name)
    status = _status(status)
    with store.transaction() as s:
        return model_version_out(
            new_model_version(s, project_id, name=name, tier=tier, status=status, n_labels=n_labels, metrics=metrics)
        )


def finish_model_version(
    store: Store,
    model_version_id: int,
    *,
    status: ModelStatus | str,
    metrics: dict[str, Any] | None = None,
    artifact: bytes | None = None,
    n_labels: int | None = None,
) -> ModelVersionOut:
    """Set the final status (READY / FAILED), metrics (merged into existing ones) and artifact bytes."""
    status = _status(status)
    with store.transaction() as s:
        mv = models_repo.model_version_by_id(s, model_version_id)
        if mv is None:
            raise NotFound(f"Model version {model_version_id} not found.")
        models_repo.set_version_fields(
            s,
            mv,
            status=status,
            metrics={**(mv.metrics or {}), **metrics} if metrics is not None else None,
            artifact=artifact,
            n_labels=n_labels,
            finished_at=t.utcnow(),
        )
        return model_version_out(mv)


def list_model_versions(store: Store, actor: Actor, project_id: int) -> list[ModelVersionOut]:
    """The project's model versions, newest first (any member)."""
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id)
        return [model_version_out(mv) for mv in models_repo.versions_of(s, project_id)]


def get_model_version(store: Store, actor: Actor, project_id: int, model_version_id: int) -> ModelVersionOut:
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id)
        mv = models_repo.model_version_by_id(s, model_version_id)
        if mv is None or mv.project_id != project_id:
            raise NotFound(f"Model version {model_version_id} not found in project {project_id}.")
        return model_version_out(mv)


def load_artifact(store: Store, model_version_id: int) -> bytes | None:
    """The fitted model's bytes (None when the version has none)."""
    with store.transaction(read_only=True) as s:
        stored = models_repo.artifact_of(s, model_version_id)
        if stored is None:
            raise NotFound(f"Model version {model_version_id} not found.")
        return stored.data


def withdrawn_zero_shot(store: Store, project_id: int) -> ModelVersionOut | None:
    """The zero-shot version the first labels withdrew (`labels.judge_zero_shot`), while no READY version
    has replaced it; else None."""
    with store.transaction(read_only=True) as s:
        newest = models_repo.newest_ready_or_withdrawn(s, project_id)
        if newest is None or newest.status != ModelStatus.WITHDRAWN.value:
            return None
        return model_version_out(newest)


def latest_ready_model_version(
    store: Store, project_id: int, *, name: str | None = None, tier: str | None = None
) -> ModelVersionOut | None:
    """The project's newest READY model version (optionally of one family name / tier), or None. Not
    necessarily the one serving the suggestions (`repo.serving_version`: the versions the project trusts
    first)."""
    with store.transaction(read_only=True) as s:
        mv = models_repo.newest_ready_version(s, project_id, name=name, tier=tier)
        return model_version_out(mv) if mv is not None else None


def serving_model_version(store: Store, project_id: int) -> ModelVersionOut | None:
    """The READY model version that serves the project's suggestions (its "suggestions_from" setting: the
    versions it trusts first), or None before any."""
    with store.transaction(read_only=True) as s:
        mv = repo.serving_version(s, project_id)
        return model_version_out(mv) if mv is not None else None


# --- honest early metrics (automl.honest, computed by the trainer after publishing) -------------------------
def honest_summary(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The version-level summary of its jobs' honest estimates (``metrics.jobs.<job>.honest``), None when no
    job has one (every job had enough labels for the classifier's own CV score).

    status: "pending" while any job's estimate is still running, "done" when all are in, "failed" when one
    failed. score: the mean over the fitted jobs of the figure the dashboard shows for each: the repeated-CV
    estimate of the project metric where there is one, else the job's own CV score (``cv_score``);
    accuracy: the mean of the estimated accuracies (micro-F1 for multi-label jobs); low / high: the interval
    when the version has a single job."""
    jobs = metrics.get("jobs")
    if not isinstance(jobs, dict):
        return None
    fitted = {k: v for k, v in jobs.items() if isinstance(v, dict) and "skipped" not in v}
    honest = {k: v["honest"] for k, v in fitted.items() if isinstance(v.get("honest"), dict)}
    if not honest:
        return None
    states = {str(h.get("status")) for h in honest.values()}
    status = "pending" if "pending" in states else "done" if states == {"done"} else "failed"
    out: dict[str, Any] = {"status": status, "jobs": list(honest)}
    if status == "pending":
        return out
    scores: list[float] = []
    accuracies: list[float] = []
    headline: dict[str, Any] | None = None
    fallback_name: str | None = None
    for name, m in fitted.items():
        h = honest.get(name)
        fig = (h.get("metric") or h.get("accuracy")) if h and h.get("status") == "done" else None
        if isinstance(fig, dict) and isinstance(fig.get("value"), int | float):
            scores.append(float(fig["value"]))
            headline = headline or fig
            acc = h.get("accuracy") if h else None
            if isinstance(acc, dict) and isinstance(acc.get("value"), int | float):
                accuracies.append(float(acc["value"]))
        elif isinstance(m.get("cv_score"), int | float):
            scores.append(float(m["cv_score"]))
            if fallback_name is None and isinstance(m.get("metric"), str):
                fallback_name = m["metric"]
    out["score"] = round(sum(scores) / len(scores), 6) if scores else None
    out["accuracy"] = round(sum(accuracies) / len(accuracies), 6) if accuracies else None
    out["metric"] = headline.get("name") if headline else fallback_name
    if len(fitted) == 1 and headline is not None:
        out["low"], out["high"] = headline.get("low"), headline.get("high")
    return out


def record_honest_metrics(store: Store, model_version_id: int, per_job: dict[str, dict[str, Any]]) -> bool:
    """Store the trainer's honest estimates of a READY version (``metrics.jobs.<job>.honest``) and the
    refreshed summary (``metrics.honest``, `honest_summary`); False when the version is gone or not READY."""
    with store.transaction() as s:
        mv = repo.model_version_for_update(s, model_version_id)
        if mv is None or mv.status != ModelStatus.READY.value:
            return False
        metrics = dict(mv.metrics or {})
        jobs = {k: dict(v) if isinstance(v, dict) else v for k, v in (metrics.get("jobs") or {}).items()}
        for name, estimate in per_job.items():
            if isinstance(jobs.get(name), dict):
                jobs[name]["honest"] = estimate
        metrics["jobs"] = jobs
        summary = honest_summary(metrics)
        if summary is not None:
            metrics["honest"] = summary
        models_repo.set_version_fields(s, mv, metrics=metrics)  # a new dict: the JSON column is not mutation-tracked
        return True
