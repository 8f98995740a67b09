"""Labels: creation with validation, status transitions and acceptance tracking; listing; undo; the effective
labels the trainer learns from.

Status transitions: a DEFAULT label makes the asset LABELED (a REVIEWED asset stays REVIEWED), a REVIEW label
makes it REVIEWED and clears its review flag; both release the asset's queue lease. AUTOSAVE labels change
nothing. Undo reverts the status to what the remaining labels imply (REVIEWED, LABELED or TODO).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from prelabel.domain import AssetStatus, LabelType, ModelStatus, Role, validate_label_response
from prelabel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from prelabel.service._access import asset_or_404, interface_of, require
from prelabel.service.assets import label_out
from prelabel.service.auth import Actor
from prelabel.service.dto import LabelOut
from prelabel.store import assets as assets_repo
from prelabel.store import labels as labels_repo
from prelabel.store import models as models_repo
from prelabel.store import predictions as predictions_repo
from prelabel.store import repositories as repo
from prelabel.store import tables as t
from prelabel.store.engine import Session, Store

UNDO_WINDOW_SECONDS = 600
MAX_LABEL_PAGE = 1000


def _names(resp: dict[str, Any], job: str) -> set[str]:
    value = resp.get(job) or {}
    return {c["name"] for c in value.get("categories", []) if isinstance(c, dict)}


def agrees(label: dict[str, Any], prediction: dict[str, Any]) -> bool | None:
    """Whether a label chose exactly the predicted categories on every job both answer (None: none)."""
    common = [j for j in label if j in prediction]
    if not common:
        return None
    return all(_names(label, j) == _names(prediction, j) for j in common)


# labels given with a zero-shot suggestion on screen before it is judged; the engine's own check of its
# zero-shot prior waits for as many (`automl.label_counts.MIN_LABELS_TO_CHECK`)
ZERO_SHOT_CHECK_LABELS = 5


def _response_key(response: dict[str, Any]) -> tuple[tuple[str, frozenset[str]], ...]:
    return tuple(sorted((job, frozenset(_names(response, job))) for job in response))


def judge_zero_shot(s: Session, model_version_id: int | None) -> None:
    """Withdraw a READY zero-shot version once the labels given with its suggestions on screen show it is no
    better than always suggesting their most frequent answer: its suggestions stop being shown (status
    WITHDRAWN, the figures in `metrics.withdrawn`) until the first model trained on labels replaces it."""
    mv = models_repo.model_version_by_id(s, model_version_id) if model_version_id is not None else None
    if mv is None or mv.tier != "zero-shot" or mv.status != ModelStatus.READY.value:
        return
    judged = [(ok, r) for ok, r in repo.responses_judged_against(s, mv.id) if ok is not None]
    if len(judged) < ZERO_SHOT_CHECK_LABELS:
        return
    accepted = sum(1 for ok, _ in judged if ok)
    majority = max(Counter(_response_key(r) for _, r in judged).values())
    if accepted > majority:
        return
    mv.status = ModelStatus.WITHDRAWN.value
    mv.metrics = {
        **(mv.metrics or {}),
        "withdrawn": {
            "labels": len(judged), "accepted": accepted, "majority": majority,
            "message": (
                f"its suggestions matched {accepted} of the first {len(judged)} labels, no more than always "
                f"suggesting the most frequent answer ({majority})"
            ),
        },
    }


def _parse_type(label_type: LabelType | str) -> LabelType:
    try:
        return LabelType(label_type)
    except ValueError:
        raise InvalidInput(f"Unknown label type {label_type!r}; use one of {[k.value for k in LabelType]}.") from None


def create_label(
    store: Store,
    actor: Actor,
    project_id: int,
    asset_id: int,
    *,
    json_response: dict[str, Any],
    label_type: LabelType | str = LabelType.DEFAULT,
    seconds_to_label: float | None = None,
    model_version_id: int | None = None,
) -> LabelOut:
    """Label an asset. REVIEW labels need a reviewer or admin. `model_version_id` names the model whose
    prediction the labeler saw; agreement is recorded against it (or against the current prediction)."""
    kind = _parse_type(label_type)
    if seconds_to_label is not None and (
        not isinstance(seconds_to_label, int | float) or not math.isfinite(seconds_to_label) or seconds_to_label < 0
    ):
        raise InvalidInput(f"seconds_to_label must be a non-negative number; got {seconds_to_label!r}.")
    # Everything that only reads runs before the write transaction, so that the write lock (SQLite has one per
    # database) is held only for the asset's transition and the insert.
    with store.transaction(read_only=True) as s:
        least = Role.REVIEWER if kind == LabelType.REVIEW else Role.LABELER
        project, _ = require(s, actor, project_id, least, f"write {kind.value} labels")
        response = validate_label_response(interface_of(project), json_response)
        asset_or_404(s, project_id, asset_id)
        prediction, model_version_id = _prediction_seen(s, project_id, asset_id, model_version_id)
    agreement = agrees(response, prediction) if prediction is not None else None
    with store.transaction() as s:
        asset = asset_or_404(s, project_id, asset_id)
        now = t.utcnow()
        _apply_transition(asset, kind, now)
        label = labels_repo.insert_label(
            s,
            project_id=project_id,
            asset_id=asset_id,
            author_id=actor.user_id,
            label_type=kind.value,
            json_response=response,
            seconds_to_label=float(seconds_to_label) if seconds_to_label is not None else None,
            model_version_id=model_version_id,
            agrees_with_prediction=agreement,
            created_at=now,
        )
        if kind != LabelType.AUTOSAVE:
            judge_zero_shot(s, model_version_id)
        return label_out(label, actor.username)


def _prediction_seen(
    s: Session, project_id: int, asset_id: int, model_version_id: int | None
) -> tuple[dict[str, Any] | None, int | None]:
    """(the prediction the labeler saw, its model version): the named version's prediction of the asset, else
    the asset's current prediction; (None, the named version or None) when there is none."""
    if model_version_id is not None:
        if models_repo.model_version_of_project(s, project_id, model_version_id) is None:
            raise InvalidInput(f"Model version {model_version_id} does not belong to project {project_id}.")
        return predictions_repo.prediction_response(s, asset_id, model_version_id), model_version_id
    current = repo.current_predictions(s, [asset_id]).get(asset_id)
    if current is None:
        return None, None
    return current[0].json_response, current[0].model_version_id


def _apply_transition(asset: t.Asset, kind: LabelType, now: datetime) -> None:
    """The asset's status after a label of this kind (see the module docstring); a submitted label releases the
    asset's queue lease."""
    if kind == LabelType.REVIEW:
        asset.status = AssetStatus.REVIEWED.value
        asset.review_reason = None
        asset.review_score = None
    elif kind == LabelType.DEFAULT and asset.status != AssetStatus.REVIEWED.value:
        asset.status = AssetStatus.LABELED.value
    if kind != LabelType.AUTOSAVE:
        asset.lease_user_id = None
        asset.lease_expires_at = None
    asset.updated_at = now


def list_labels(
    store: Store,
    actor: Actor,
    project_id: int,
    *,
    asset_id: int | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[LabelOut]:
    """The project's labels (optionally of one asset) in id order; keyset: pass the last id as `after_id`."""
    if not 1 <= int(limit) <= MAX_LABEL_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_LABEL_PAGE}; got {limit}.")
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id)
        rows = labels_repo.labels_page(s, project_id, asset_id=asset_id, after_id=after_id, limit=int(limit))
        return [label_out(row.label, row.author) for row in rows]


def _status_from_labels(s: Session, asset_id: int) -> str:
    kind = repo.effective_label_status(s, asset_id)
    if kind == LabelType.REVIEW.value:
        return AssetStatus.REVIEWED.value
    if kind == LabelType.DEFAULT.value:
        return AssetStatus.LABELED.value
    return AssetStatus.TODO.value


def undo_label(
    store: Store,
    actor: Actor,
    project_id: int,
    label_id: int,
    *,
    max_age_seconds: float = UNDO_WINDOW_SECONDS,
) -> LabelOut:
    """Remove the actor's own newest label on an asset, within `max_age_seconds` of its creation; the asset's
    status reverts to what its remaining labels imply. Returns the removed label."""
    with store.transaction() as s:
        require(s, actor, project_id)
        label = labels_repo.label_by_id(s, label_id)
        if label is None or label.project_id != project_id:
            raise NotFound(f"Label {label_id} not found in project {project_id}.")
        if label.author_id != actor.user_id:
            raise PermissionDenied("Only the author of a label can undo it.")
        # Newest among the author's labels of the same kind of save (autosaves do not block undoing a
        # submitted label).
        autosave = label.label_type == LabelType.AUTOSAVE.value
        newest = labels_repo.newest_label_id(s, label.asset_id, actor.user_id, autosave=autosave)
        if newest != label.id:
            raise Conflict(f"Label {label_id} is not your newest label on this asset; only the newest can be undone.")
        age = t.utcnow() - label.created_at
        if age > timedelta(seconds=max_age_seconds):
            raise Conflict(
                f"Label {label_id} is {int(age.total_seconds())} s old; labels can be undone within "
                f"{int(max_age_seconds)} s. Write a new label instead."
            )
        out = label_out(label, actor.username)
        labels_repo.delete_label(s, label.id)
        asset = assets_repo.asset_by_id(s, label.asset_id)
        assert asset is not None
        asset.status = _status_from_labels(s, asset.id)
        asset.updated_at = t.utcnow()
        return out


def effective_labels(
    store: Store, project_id: int, *, chunk: int = 1000
) -> Iterator[tuple[int, str, str, dict[str, Any]]]:
    """(asset_id, external_id, content, json_response) per labeled asset, by asset id: the newest REVIEW
    label, else the newest DEFAULT label. Reads in chunks, each in its own short transaction (no role
    check)."""
    after: int | None = 0
    while after is not None:
        with store.transaction(read_only=True) as s:
            rows, after = repo.effective_labels_chunk(s, project_id, after_id=after, chunk=chunk)
        yield from rows


def count_effective_labels(store: Store, project_id: int) -> int:
    """How many assets have a DEFAULT or REVIEW label."""
    with store.transaction(read_only=True) as s:
        return repo.count_labeled_assets(s, project_id)
