"""Project analytics for the model dashboard: how much the model helps and how the people labeling are doing.

    acceptance_by_version(store, actor, project_id) -> list[VersionAcceptance]
        per model version: labels given while its prediction was shown, and how many agreed with it
    labeler_throughput(store, actor, project_id) -> list[LabelerThroughput]
        per author: labels, median seconds per label, active hours, labels per active hour, last label
    honeypot_accuracy(store, actor, project_id) -> list[HoneypotAccuracy]
        per author: DEFAULT labels on honeypots that have a gold answer, and how many match it exactly
    learning_curve(store, actor, project_id) -> list[CurvePoint]
        per finished model version: its score (the trainer's CV score) against its number of labels
    class_distribution(store, actor, project_id) -> list[ClassCount]
        per job and category: assets whose effective label has it, and assets the newest model predicts
    recent_acceptance(store, actor, project_id, n) -> RecentAcceptance
        of the newest `n` labels given with a suggestion on screen, how many agreed with it
    suggestion_quality(store, actor, project_id) -> SuggestionQuality | None
        for the version serving the suggestions (`repo.serving_version`: the newest READY one the project
        trusts, setting suggestions_from), per job: the score shown (repeated
        cross-validation below `automl.label_counts.HONEST_MAX_LABELS` labels, else the classifier's own CV score)
        with its interval, the expected accuracy if the probabilities are calibrated, and the measured
        acceptance of this version's suggestions
    dashboard(store, actor, project_id) -> Dashboard      all of the above

Every function checks that the actor may see the project (`projects.get_project`: NotFound otherwise) and
reads in one read-only transaction. "Effective label" follows the architecture: the newest REVIEW label of an
asset, else its newest DEFAULT label. Active time groups one author's labels into sessions split by gaps
over `SESSION_GAP_S`; a session's length is its span plus the median time of one label, so a lone label
still counts.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from prelabel.domain import LabelType, parse_interface
from prelabel.service.auth import Actor
from prelabel.store import analytics as analytics_repo
from prelabel.store import repositories as repo
from prelabel.store.engine import Session, Store

SESSION_GAP_S = 10 * 60
RECENT_LABELS = 100  # recent_acceptance: the newest labels given with a suggestion on screen
# Metric keys the trainer may use for a model version's headline score, most specific first.
SCORE_KEYS = ("cv_score", "best_score", "score", "f1", "f1_macro", "accuracy")


class VersionAcceptance(BaseModel):
    model_version_id: int
    display_name: str
    tier: str
    status: str
    n_train_labels: int = Field(description="Labels the version was trained on.")
    n_seen: int = Field(description="Labels given while this version's prediction was shown.")
    n_accepted: int = Field(description="Of those, labels that agree with the prediction.")
    acceptance_rate: float | None = Field(description="n_accepted / n_seen; None when nothing was seen.")


class LabelerThroughput(BaseModel):
    user_id: int | None
    username: str
    n_labels: int
    n_review_labels: int
    median_seconds: float | None = Field(description="Median seconds_to_label of the author's labels.")
    active_hours: float
    labels_per_hour: float | None
    last_label_at: datetime | None


class HoneypotAccuracy(BaseModel):
    user_id: int | None
    username: str
    n_answered: int
    n_correct: int
    accuracy: float | None


class CurvePoint(BaseModel):
    model_version_id: int
    display_name: str
    version: int
    tier: str
    n_labels: int
    score: float
    metric: str | None


class ClassCount(BaseModel):
    job: str
    category: str
    name: str
    labeled: int
    predicted: int


class RecentAcceptance(BaseModel):
    n_seen: int = Field(description="Of the newest RECENT_LABELS labels given with a suggestion on screen.")
    n_accepted: int = Field(description="Of those, labels that agree with the suggestion shown.")
    acceptance_rate: float | None
    versions: list[str] = Field(default_factory=list, description="Versions whose suggestions they saw.")


class Estimate(BaseModel):
    name: str = Field(description="accuracy, f1 (of `positive`), f1_macro, f1_micro, f1_samples, …")
    value: float
    low: float | None = None
    high: float | None = None
    positive: str | None = None


class JobQuality(BaseModel):
    job: str
    n_labels: int
    source: str = Field(
        description='"repeated_cv" (honest estimate), "pending" (still running), "cv" (the '
        "classifier's own CV score: enough labels, or the estimate failed)"
    )
    score: Estimate | None = Field(description="The score shown for the job: its project metric.")
    accuracy: Estimate | None = Field(description="Repeated CV: accuracy (single-label) / micro-F1 (multi).")
    method: str | None = None
    n_repeats: int | None = None
    n_repeats_planned: int | None = None
    stopped: str | None = None
    seconds: float | None = None
    interval: str | None = None
    error: str | None = None
    per_class: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="From the same pooled out-of-fold predictions as `score`."
    )
    expected_accuracy: float | None = Field(
        None,
        description="Mean over the unlabeled pool of the suggestion's probability of being right, if "
        "the probabilities are calibrated (multi-choice: expected share of categories decided right).",
    )
    n_pool: int | None = None


class SuggestionQuality(BaseModel):
    model_version_id: int
    display_name: str
    tier: str
    n_labels: int
    status: str = Field(description='honest estimate: "done", "pending", "failed", or "none" (not needed)')
    jobs: list[JobQuality]
    n_seen: int = Field(description="Labels given while this version's suggestion was shown.")
    n_accepted: int
    acceptance_rate: float | None


class Dashboard(BaseModel):
    acceptance: list[VersionAcceptance]
    throughput: list[LabelerThroughput]
    honeypots: list[HoneypotAccuracy]
    learning_curve: list[CurvePoint]
    class_distribution: list[ClassCount]
    predicted_by: str | None = Field(None, description="Display name of the version class_distribution predicted by.")
    recent_acceptance: RecentAcceptance | None = None
    quality: SuggestionQuality | None = None


def model_score(metrics: dict[str, Any] | None) -> tuple[float | None, str | None]:
    """The headline score of a model version's metrics and the metric's name (None, None if there is none).

    The trainer stores the mean CV score over the project's jobs as ``cv_score`` and each job's metric name
    under ``jobs.<job>.metric``; predictions pushed through the API may carry any of `SCORE_KEYS`. A version
    with jobs trained on few labels has an honest estimate (``metrics.honest``, `service.models.honest_summary`):
    its score is the one shown, and none is shown while it is still being computed.
    """
    if not metrics:
        return None, None
    honest = metrics.get("honest")
    if isinstance(honest, dict):
        score = honest.get("score")
        if honest.get("status") == "pending" or not isinstance(score, int | float):
            return None, None
        name = honest.get("metric")
        return float(score), name if isinstance(name, str) else "score"
    metric = metrics.get("metric")
    if not isinstance(metric, str):
        jobs = metrics.get("jobs")
        if isinstance(jobs, dict):
            metric = next(
                (j["metric"] for j in jobs.values() if isinstance(j, dict) and isinstance(j.get("metric"), str)),
                None,
            )
    for key in SCORE_KEYS:
        value = metrics.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value), metric if isinstance(metric, str) else key
    return None, None


def _check_access(store: Store, actor: Actor, project_id: int) -> dict[str, Any]:
    from prelabel.service.projects import get_project

    return get_project(store, actor, project_id).interface


def _names(s: Session, user_ids: Iterable[int | None]) -> dict[int | None, str]:
    names: dict[int | None, str] = {None: "(deleted user)"}
    names.update(analytics_repo.usernames(s, {u for u in user_ids if u is not None}).items())
    return names


def _category_set(response: dict[str, Any] | None, job: str) -> frozenset[str]:
    if not response or not isinstance(response.get(job), dict):
        return frozenset()
    return frozenset(str(c.get("name")) for c in response[job].get("categories", []) if isinstance(c, dict))


def _same_answer(label: dict[str, Any], gold: dict[str, Any]) -> bool:
    jobs = set(label) | set(gold)
    return all(_category_set(label, j) == _category_set(gold, j) for j in jobs)


# --- acceptance ---------------------------------------------------------------------------------------------
def _acceptance(s: Session, project_id: int) -> list[VersionAcceptance]:
    seen = analytics_repo.acceptance_by_version(s, project_id)
    out = []
    for mv in analytics_repo.model_versions(s, project_id):
        n_seen, n_ok = seen.get(mv.id, analytics_repo.Acceptance(0, 0))
        out.append(
            VersionAcceptance(
                model_version_id=mv.id,
                display_name=f"{mv.name}-{mv.version}",
                tier=mv.tier,
                status=mv.status,
                n_train_labels=mv.n_labels,
                n_seen=n_seen,
                n_accepted=n_ok,
                acceptance_rate=(n_ok / n_seen) if n_seen else None,
            )
        )
    return out


def acceptance_by_version(store: Store, actor: Actor, project_id: int) -> list[VersionAcceptance]:
    _check_access(store, actor, project_id)
    with store.transaction(read_only=True) as s:
        return _acceptance(s, project_id)


# --- throughput ---------------------------------------------------------------------------------------------
def _throughput(s: Session, project_id: int) -> list[LabelerThroughput]:
    per_user: dict[int | None, list[tuple[str, datetime, float | None]]] = defaultdict(list)
    for author, kind, created, secs in analytics_repo.label_times(s, project_id):
        per_user[author].append((kind, created, secs))
    names = _names(s, per_user)
    out = []
    for user_id, items in per_user.items():
        secs_list = [x[2] for x in items if x[2] is not None and x[2] >= 0]
        median = statistics.median(secs_list) if secs_list else None
        active_s = _active_seconds([x[1] for x in items], median if median is not None else 5.0)
        hours = active_s / 3600
        out.append(
            LabelerThroughput(
                user_id=user_id,
                username=names.get(user_id, f"user {user_id}"),
                n_labels=sum(1 for x in items if x[0] == LabelType.DEFAULT.value),
                n_review_labels=sum(1 for x in items if x[0] == LabelType.REVIEW.value),
                median_seconds=median,
                active_hours=round(hours, 3),
                labels_per_hour=(len(items) / hours) if hours > 0 else None,
                last_label_at=items[-1][1] if items else None,
            )
        )
    out.sort(key=lambda r: (-r.n_labels - r.n_review_labels, r.username))
    return out


def _active_seconds(times: list[datetime], per_label_s: float) -> float:
    """Sum over sessions (gaps > SESSION_GAP_S split them) of span + one label's time."""
    if not times:
        return 0.0
    total = 0.0
    start = prev = times[0]
    for ts in times[1:]:
        if (ts - prev).total_seconds() > SESSION_GAP_S:
            total += (prev - start).total_seconds() + per_label_s
            start = ts
        prev = ts
    total += (prev - start).total_seconds() + per_label_s
    return total


def labeler_throughput(store: Store, actor: Actor, project_id: int) -> list[LabelerThroughput]:
    _check_access(store, actor, project_id)
    with store.transaction(read_only=True) as s:
        return _throughput(s, project_id)


# --- honeypots ----------------------------------------------------------------------------------------------
def _honeypots(s: Session, project_id: int) -> list[HoneypotAccuracy]:
    counts: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
    for author, response, gold in analytics_repo.honeypot_answers(s, project_id):
        if not isinstance(gold, dict) or not gold:
            continue
        c = counts[author]
        c[0] += 1
        c[1] += int(_same_answer(response or {}, gold))
    names = _names(s, counts)
    out = [
        HoneypotAccuracy(
            user_id=u,
            username=names.get(u, f"user {u}"),
            n_answered=n,
            n_correct=ok,
            accuracy=ok / n if n else None,
        )
        for u, (n, ok) in counts.items()
    ]
    out.sort(key=lambda r: r.username)
    return out


def honeypot_accuracy(store: Store, actor: Actor, project_id: int) -> list[HoneypotAccuracy]:
    _check_access(store, actor, project_id)
    with store.transaction(read_only=True) as s:
        return _honeypots(s, project_id)


# --- learning curve -----------------------------------------------------------------------------------------
def _curve(s: Session, project_id: int) -> list[CurvePoint]:
    out = []
    for mv in analytics_repo.model_versions(s, project_id, ready_only=True):
        score, metric = model_score(mv.metrics)
        if score is None:
            continue
        out.append(
            CurvePoint(
                model_version_id=mv.id,
                display_name=f"{mv.name}-{mv.version}",
                version=mv.version,
                tier=mv.tier,
                n_labels=mv.n_labels or int((mv.metrics or {}).get("n_labels", 0) or 0),
                score=score,
                metric=metric,
            )
        )
    return out


def learning_curve(store: Store, actor: Actor, project_id: int) -> list[CurvePoint]:
    _check_access(store, actor, project_id)
    with store.transaction(read_only=True) as s:
        return _curve(s, project_id)


# --- class distribution -------------------------------------------------------------------------------------
# Predicted-class counts per model version, keyed by (version id, the state of its predictions: database url,
# row count, max row id, newest write; the jobs counted): parsing every prediction of a large project takes
# ~0.5 s per 10k, and a version's predictions rarely change once it is READY. Bounded and per process.
_PREDICTED_CACHE: dict[tuple[Any, ...], dict[tuple[str, str], int]] = {}
_PREDICTED_CACHE_MAX = 64


def _predicted_counts(
    s: Session, project_id: int, model_version_id: int, jobs: list[str]
) -> dict[tuple[str, str], int]:
    key = (model_version_id, analytics_repo.predictions_state(s, project_id, model_version_id), tuple(jobs))
    cached = _PREDICTED_CACHE.get(key)
    if cached is not None:
        return cached
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for response in analytics_repo.prediction_responses(s, project_id, model_version_id):
        for job in jobs:
            for cat in _category_set(response, job):
                counts[(job, cat)] += 1
    if len(_PREDICTED_CACHE) >= _PREDICTED_CACHE_MAX:
        _PREDICTED_CACHE.pop(next(iter(_PREDICTED_CACHE)))
    _PREDICTED_CACHE[key] = dict(counts)
    return _PREDICTED_CACHE[key]


def _distribution(s: Session, project_id: int, interface_doc: dict[str, Any]) -> tuple[list[ClassCount], str | None]:
    interface = parse_interface(interface_doc)
    labeled: dict[tuple[str, str], int] = defaultdict(int)
    effective: dict[int, tuple[bool, dict[str, Any]]] = {}
    for asset_id, kind, response in analytics_repo.label_answers(s, project_id):
        is_review = kind == LabelType.REVIEW.value
        prev = effective.get(asset_id)
        if prev is None or is_review or not prev[0]:
            effective[asset_id] = (is_review, response or {})
    for _review, response in effective.values():
        for job in interface.jobs:
            for cat in _category_set(response, job.name):
                labeled[(job.name, cat)] += 1

    predicted: dict[tuple[str, str], int] = {}
    newest = analytics_repo.newest_predicting_version(s, project_id)
    predicted_by = None
    if newest is not None:
        predicted_by = f"{newest.name}-{newest.version}"
        predicted = _predicted_counts(s, project_id, newest.id, [j.name for j in interface.jobs])
    out = [
        ClassCount(
            job=job.name,
            category=cat.key,
            name=cat.name or cat.key,
            labeled=labeled.get((job.name, cat.key), 0),
            predicted=predicted.get((job.name, cat.key), 0),
        )
        for job in interface.jobs
        for cat in job.categories
    ]
    return out, predicted_by


def class_distribution(store: Store, actor: Actor, project_id: int) -> list[ClassCount]:
    interface = _check_access(store, actor, project_id)
    with store.transaction(read_only=True) as s:
        return _distribution(s, project_id, interface)[0]


# --- how good the suggestions are ------------------------------------------------------------------------
def _recent_acceptance(s: Session, project_id: int, n: int = RECENT_LABELS) -> RecentAcceptance:
    rows = analytics_repo.recent_judgements(s, project_id, n)
    ids = sorted({row.model_version_id for row in rows})
    names = {v.id: f"{v.name}-{v.version}" for v in analytics_repo.version_names(s, ids)}
    n_ok = sum(1 for row in rows if row.agrees)
    return RecentAcceptance(
        n_seen=len(rows),
        n_accepted=n_ok,
        acceptance_rate=n_ok / len(rows) if rows else None,
        versions=[names[i] for i in ids if i in names],
    )


def recent_acceptance(store: Store, actor: Actor, project_id: int, n: int = RECENT_LABELS) -> RecentAcceptance:
    _check_access(store, actor, project_id)
    with store.transaction(read_only=True) as s:
        return _recent_acceptance(s, project_id, n)


def _estimate(doc: Any) -> Estimate | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("value"), int | float):
        return None
    return Estimate.model_validate({k: doc.get(k) for k in ("name", "value", "low", "high", "positive")})


def _job_quality(name: str, m: dict[str, Any]) -> JobQuality:
    h = m.get("honest") if isinstance(m.get("honest"), dict) else None
    common: dict[str, Any] = {
        "job": name,
        "n_labels": int(m.get("n_labels") or 0),
        "expected_accuracy": m.get("expected_accuracy"),
        "n_pool": m.get("n_pool"),
    }
    if h is not None and h.get("status") == "done":
        acc = _estimate(h.get("accuracy"))
        return JobQuality(
            **common,
            source="repeated_cv",
            score=_estimate(h.get("metric")) or acc,
            accuracy=acc,
            **{k: h.get(k) for k in ("method", "n_repeats", "n_repeats_planned", "stopped", "seconds", "interval")},
            per_class=h.get("per_class") if isinstance(h.get("per_class"), dict) else {},
        )
    if h is not None and h.get("status") == "pending":
        return JobQuality(**common, source="pending", score=None, accuracy=None)
    cv = m.get("cv_score")
    metric = m.get("metric") if isinstance(m.get("metric"), str) else "score"
    score = (
        Estimate(name=metric, value=float(cv), positive=m.get("positive") if metric == "f1" else None)
        if isinstance(cv, int | float)
        else None
    )
    return JobQuality(
        **common,
        source="cv",
        score=score,
        accuracy=None,
        error=h.get("error") if h is not None else None,
        per_class=m.get("per_class") if isinstance(m.get("per_class"), dict) else {},
    )


def _quality(s: Session, project_id: int, acceptance: list[VersionAcceptance]) -> SuggestionQuality | None:
    mv = repo.serving_version(s, project_id)
    if mv is None:
        return None
    metrics = mv.metrics or {}
    jobs = metrics.get("jobs")
    if not isinstance(jobs, dict):
        jobs = {}
    rows = [_job_quality(str(k), v) for k, v in jobs.items() if isinstance(v, dict) and "skipped" not in v]
    honest = metrics.get("honest")
    acc = next((a for a in acceptance if a.model_version_id == mv.id), None)
    return SuggestionQuality(
        model_version_id=mv.id,
        display_name=f"{mv.name}-{mv.version}",
        tier=mv.tier,
        n_labels=mv.n_labels,
        status=str(honest.get("status")) if isinstance(honest, dict) else "none",
        jobs=rows,
        n_seen=acc.n_seen if acc else 0,
        n_accepted=acc.n_accepted if acc else 0,
        acceptance_rate=acc.acceptance_rate if acc else None,
    )


def suggestion_quality(store: Store, actor: Actor, project_id: int) -> SuggestionQuality | None:
    _check_access(store, actor, project_id)
    with store.transaction(read_only=True) as s:
        return _quality(s, project_id, _acceptance(s, project_id))


def dashboard(store: Store, actor: Actor, project_id: int) -> Dashboard:
    """Everything the model dashboard shows, read in one transaction."""
    interface = _check_access(store, actor, project_id)
    with store.transaction(read_only=True) as s:
        dist, predicted_by = _distribution(s, project_id, interface)
        acceptance = _acceptance(s, project_id)
        return Dashboard(
            acceptance=acceptance,
            recent_acceptance=_recent_acceptance(s, project_id),
            quality=_quality(s, project_id, acceptance),
            throughput=_throughput(s, project_id),
            honeypots=_honeypots(s, project_id),
            learning_curve=_curve(s, project_id),
            class_distribution=dist,
            predicted_by=predicted_by,
        )
