"""Queries behind the model dashboard (`prelabel.service.analytics`): labels given with a suggestion on screen,
label times per author, honeypot answers, model versions and their predictions.

"Counted" labels are the DEFAULT and REVIEW ones (`repositories.COUNTED_LABELS`); AUTOSAVE drafts count nowhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from prelabel.domain import LabelType, ModelStatus
from prelabel.store import repositories as repo
from prelabel.store import tables as t


class Acceptance(NamedTuple):
    n_seen: int
    n_accepted: int


class LabelTime(NamedTuple):
    author_id: int | None
    label_type: str
    created_at: datetime
    seconds_to_label: float | None


class HoneypotAnswer(NamedTuple):
    author_id: int | None
    response: Any
    gold: Any


class LabelAnswer(NamedTuple):
    asset_id: int
    label_type: str
    response: Any


class Judgement(NamedTuple):
    agrees: bool
    model_version_id: int


class VersionName(NamedTuple):
    id: int
    name: str
    version: int


class PredictionsState(NamedTuple):
    """What changes whenever a version's predictions do: the database, their number, newest id and write."""

    database: str
    n: int
    max_id: int | None
    newest_write: datetime | None


def usernames(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """user id → username, for the ids that still exist."""
    ids = list(user_ids)
    if not ids:
        return {}
    rows = session.execute(select(t.User.id, t.User.username).where(t.User.id.in_(ids)))
    return {int(user_id): username for user_id, username in rows}


def _judged(project_id: int) -> tuple[ColumnElement[bool], ...]:
    """Counted labels of the project given while a model version's suggestion was shown and judged against it."""
    return (
        t.Label.project_id == project_id,
        t.Label.model_version_id.is_not(None),
        t.Label.agrees_with_prediction.is_not(None),
        t.Label.label_type.in_(repo.COUNTED_LABELS),
    )


def acceptance_by_version(session: Session, project_id: int) -> dict[int, Acceptance]:
    """model version id → judged labels given with its suggestion on screen, and how many agreed with it."""
    agree = func.sum(case((t.Label.agrees_with_prediction.is_(True), 1), else_=0))
    rows = session.execute(
        select(t.Label.model_version_id, func.count(), agree)
        .where(*_judged(project_id))
        .group_by(t.Label.model_version_id)
    )
    return {int(mv_id): Acceptance(int(n), int(ok or 0)) for mv_id, n, ok in rows}


def recent_judgements(session: Session, project_id: int, n: int) -> list[Judgement]:
    """The newest `n` judged labels (see `acceptance_by_version`), newest first."""
    rows = session.execute(
        select(t.Label.agrees_with_prediction, t.Label.model_version_id)
        .where(*_judged(project_id))
        .order_by(t.Label.id.desc())
        .limit(n)
    )
    # `_judged` excludes NULL versions
    return [Judgement(bool(agrees), cast(int, mv_id)) for agrees, mv_id in rows]


def model_versions(session: Session, project_id: int, *, ready_only: bool = False) -> list[t.ModelVersion]:
    """The project's model versions (only READY ones if `ready_only`), by version number."""
    q = select(t.ModelVersion).where(t.ModelVersion.project_id == project_id).order_by(t.ModelVersion.version)
    if ready_only:
        q = q.where(t.ModelVersion.status == ModelStatus.READY.value)
    return list(session.scalars(q))


def version_names(session: Session, model_version_ids: Iterable[int]) -> list[VersionName]:
    ids = list(model_version_ids)
    if not ids:
        return []
    mv = t.ModelVersion
    rows = session.execute(select(mv.id, mv.name, mv.version).where(mv.id.in_(ids)))
    return [VersionName(int(i), name, int(version)) for i, name, version in rows]


def label_times(session: Session, project_id: int) -> list[LabelTime]:
    """Every counted label's author, type, time and seconds_to_label, by author, then oldest first."""
    rows = session.execute(
        select(t.Label.author_id, t.Label.label_type, t.Label.created_at, t.Label.seconds_to_label)
        .where(t.Label.project_id == project_id, t.Label.label_type.in_(repo.COUNTED_LABELS))
        .order_by(t.Label.author_id, t.Label.created_at)
    )
    return [LabelTime(*row) for row in rows]


def honeypot_answers(session: Session, project_id: int) -> list[HoneypotAnswer]:
    """The DEFAULT labels on honeypots that have a gold answer: author, label response, gold answer."""
    rows = session.execute(
        select(t.Label.author_id, t.Label.json_response, t.Asset.honeypot_response)
        .join(t.Asset, t.Asset.id == t.Label.asset_id)
        .where(
            t.Label.project_id == project_id,
            t.Label.label_type == LabelType.DEFAULT.value,
            t.Asset.is_honeypot.is_(True),
            t.Asset.honeypot_response.is_not(None),
        )
    )
    return [HoneypotAnswer(*row) for row in rows]


def label_answers(session: Session, project_id: int) -> list[LabelAnswer]:
    """Every counted label's asset, type and response, by asset, then oldest first."""
    rows = session.execute(
        select(t.Label.asset_id, t.Label.label_type, t.Label.json_response)
        .where(t.Label.project_id == project_id, t.Label.label_type.in_(repo.COUNTED_LABELS))
        .order_by(t.Label.asset_id, t.Label.id)
    )
    return [LabelAnswer(*row) for row in rows]


def newest_predicting_version(session: Session, project_id: int) -> VersionName | None:
    """The project's model version with the highest number that has predictions, whatever its status."""
    mv = t.ModelVersion
    has_predictions = (
        select(t.Prediction.id)
        .where(t.Prediction.project_id == project_id, t.Prediction.model_version_id == mv.id)
        .exists()
    )
    row = session.execute(
        select(mv.id, mv.name, mv.version)
        .where(mv.project_id == project_id, has_predictions)
        .order_by(mv.version.desc())
        .limit(1)
    ).first()
    return None if row is None else VersionName(int(row[0]), row[1], int(row[2]))


def predictions_state(session: Session, project_id: int, model_version_id: int) -> PredictionsState:
    n, max_id, newest_write = session.execute(
        select(func.count(), func.max(t.Prediction.id), func.max(t.Prediction.created_at)).where(
            *_of_version(project_id, model_version_id)
        )
    ).one()
    return PredictionsState(str(session.get_bind().engine.url), int(n), max_id, newest_write)


def prediction_responses(session: Session, project_id: int, model_version_id: int) -> Iterator[Any]:
    """The json_response of each of the version's predictions, streamed from the query."""
    q = select(t.Prediction.json_response).where(*_of_version(project_id, model_version_id))
    return iter(session.scalars(q))


def _of_version(project_id: int, model_version_id: int) -> tuple[ColumnElement[bool], ...]:
    return (t.Prediction.project_id == project_id, t.Prediction.model_version_id == model_version_id)
