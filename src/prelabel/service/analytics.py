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
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from prelabel.domain import LabelType, ModelStatus, parse_interface
from prelabel.service.auth import Actor
from prelabel.store import tables as t
from prelabel.store.engine import Store

SESSION_GAP_S = 10 * 60
# Metric keys the trainer may use for a model version's headline score, most specific first.
SCORE_KEYS = ("cv_score", "best_score", "score", "f1", "f1_macro", "accuracy")
_COUNTED = (LabelType.DEFAULT.value, LabelType.REVIEW.value)


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


class Dashboard(BaseModel):
    acceptance: list[VersionAcceptance]
    throughput: list[LabelerThroughput]
    honeypots: list[HoneypotAccuracy]
    learning_curve: list[CurvePoint]
    class_distribution: list[ClassCount]
    predicted_by: str | None = Field(
        None, description="Display name of the version class_distribution predicted by."
    )


def model_score(metrics: dict[str, Any] | None) -> tuple[float | None, str | None]:
    """The headline score of a model version's metrics and the metric's name (None, None if there is none).

    The trainer stores the mean CV score over the project's jobs as ``cv_score`` and each job's metric name
    under ``jobs.<job>.metric``; predictions pushed through the API may carry any of `SCORE_KEYS`.
    """
    if not metrics:
        return None, None
    metric = metrics.get("metric")
    if not isinstance(metric, str):
        jobs = metrics.get("jobs")
        if isinstance(jobs, dict):
            metric = next(
                (
                    j["metric"]
                    for j in jobs.values()
                    if isinstance(j, dict) and isinstance(j.get("metric"), str)
                ),
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
    ids = [u for u in set(user_ids) if u is not None]
    names: dict[int | None, str] = {None: "(deleted user)"}
    if ids:
        names.update(dict(s.execute(select(t.User.id, t.User.username).where(t.User.id.in_(ids))).all()))
    return names


def _category_set(response: dict[str, Any] | None, job: str) -> frozenset[str]:
    if not response or not isinstance(response.get(job), dict):
        return frozenset()
    return frozenset(
        str(c.get("name")) for c in response[job].get("categories", []) if isinstance(c, dict)
    )


def _same_answer(label: dict[str, Any], gold: dict[str, Any]) -> bool:
    jobs = set(label) | set(gold)
    return all(_category_set(label, j) == _category_set(gold, j) for j in jobs)


# --- acceptance ---------------------------------------------------------------------------------------------
def _acceptance(s: Session, project_id: int) -> list[VersionAcceptance]:
    agree = func.sum(case((t.Label.agrees_with_prediction.is_(True), 1), else_=0))
    seen = dict(
        (row[0], (int(row[1]), int(row[2] or 0)))
        for row in s.execute(
            select(t.Label.model_version_id, func.count(), agree)
            .where(
                t.Label.project_id == project_id,
                t.Label.model_version_id.is_not(None),
                t.Label.agrees_with_prediction.is_not(None),
                t.Label.label_type.in_(_COUNTED),
            )
            .group_by(t.Label.model_version_id)
        )
    )
    out = []
    for mv in s.scalars(_versions(project_id)):
        n_seen, n_ok = seen.get(mv.id, (0, 0))
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


def _versions(project_id: int) -> Select[t.ModelVersion]:
    return (
        select(t.ModelVersion).where(t.ModelVersion.project_id == project_id).order_by(t.ModelVersion.version)
    )


def acceptance_by_version(store: Store, actor: Actor, project_id: int) -> list[VersionAcceptance]:
    _check_access(store, actor, project_id)
    with store.transaction(read_only=True) as s:
        return _acceptance(s, project_id)


# --- throughput ---------------------------------------------------------------------------------------------
def _throughput(s: Session, project_id: int) -> list[LabelerThroughput]:
    rows = s.execute(
        select(t.Label.author_id, t.Label.label_type, t.Label.created_at, t.Label.seconds_to_label)
        .where(t.Label.project_id == project_id, t.Label.label_type.in_(_COUNTED))
        .order_by(t.Label.author_id, t.Label.created_at)
    )
    per_user: dict[int | None, list[tuple[str, datetime, float | None]]] = defaultdict(list)
    for author, kind, created, secs in rows:
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
    rows = s.execute(
        select(t.Label.author_id, t.Label.json_response, t.Asset.honeypot_response)
        .join(t.Asset, t.Asset.id == t.Label.asset_id)
        .where(
            t.Label.project_id == project_id,
            t.Label.label_type == LabelType.DEFAULT.value,
            t.Asset.is_honeypot.is_(True),
            t.Asset.honeypot_response.is_not(None),
        )
    )
    counts: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
    for author, response, gold in rows:
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
    for mv in s.scalars(_versions(project_id).where(t.ModelVersion.status == ModelStatus.READY.value)):
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
# Predicted-class counts per model version, keyed by (database url, version id, row count, max row id, newest
# write): parsing every prediction of a large project takes ~0.5 s per 10k, and a version's predictions rarely
# change once it is READY. Bounded and per process.
_PREDICTED_CACHE: dict[tuple[Any, ...], dict[tuple[str, str], int]] = {}
_PREDICTED_CACHE_MAX = 64


def _predicted_counts(
    s: Session, project_id: int, model_version_id: int, jobs: list[str]
) -> dict[tuple[str, str], int]:
    where = (t.Prediction.project_id == project_id, t.Prediction.model_version_id == model_version_id)
    n, max_id, newest_write = s.execute(
        select(func.count(), func.max(t.Prediction.id), func.max(t.Prediction.created_at)).where(*where)
    ).one()
    key = (str(s.get_bind().engine.url), model_version_id, n, max_id, str(newest_write), tuple(jobs))
    cached = _PREDICTED_CACHE.get(key)
    if cached is not None:
        return cached
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for (response,) in s.execute(select(t.Prediction.json_response).where(*where)):
        for job in jobs:
            for cat in _category_set(response, job):
                counts[(job, cat)] += 1
    if len(_PREDICTED_CACHE) >= _PREDICTED_CACHE_MAX:
        _PREDICTED_CACHE.pop(next(iter(_PREDICTED_CACHE)))
    _PREDICTED_CACHE[key] = dict(counts)
    return _PREDICTED_CACHE[key]


def _distribution(
    s: Session, project_id: int, interface_doc: dict[str, Any]
) -> tuple[list[ClassCount], str | None]:
    interface = parse_interface(interface_doc)
    labeled: dict[tuple[str, str], int] = defaultdict(int)
    rows = s.execute(
        select(t.Label.asset_id, t.Label.label_type, t.Label.json_response)
        .where(t.Label.project_id == project_id, t.Label.label_type.in_(_COUNTED))
        .order_by(t.Label.asset_id, t.Label.id)
    )
    effective: dict[int, tuple[bool, dict[str, Any]]] = {}
    for asset_id, kind, response in rows:
        is_review = kind == LabelType.REVIEW.value
        prev = effective.get(asset_id)
        if prev is None or is_review or not prev[0]:
            effective[asset_id] = (is_review, response or {})
    for _review, response in effective.values():
        for job in interface.jobs:
            for cat in _category_set(response, job.name):
                labeled[(job.name, cat)] += 1

    predicted: dict[tuple[str, str], int] = {}
    newest = s.execute(
        select(t.ModelVersion.id, t.ModelVersion.name, t.ModelVersion.version)
        .where(
            t.ModelVersion.project_id == project_id,
            select(t.Prediction.id)
            .where(t.Prediction.project_id == project_id, t.Prediction.model_version_id == t.ModelVersion.id)
            .exists(),
        )
        .order_by(t.ModelVersion.version.desc())
        .limit(1)
    ).first()
    predicted_by = None
    if newest is not None:
        predicted_by = f"{newest[1]}-{newest[2]}"
        predicted = _predicted_counts(s, project_id, newest[0], [j.name for j in interface.jobs])
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


def dashboard(store: Store, actor: Actor, project_id: int) -> Dashboard:
    """Everything the model dashboard shows, read in one transaction."""
    interface = _check_access(store, actor, project_id)
    with store.transaction(read_only=True) as s:
        dist, predicted_by = _distribution(s, project_id, interface)
        return Dashboard(
            acceptance=_acceptance(s, project_id),
            throughput=_throughput(s, project_id),
            honeypots=_honeypots(s, project_id),
            learning_curve=_curve(s, project_id),
            class_distribution=dist,
            predicted_by=predicted_by,
        )
