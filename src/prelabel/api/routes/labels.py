"""Labels: create one on an asset, list them, undo your own newest."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from prelabel.api.deps import ActorDep, StoreDep
from prelabel.api.errors import error_responses
from prelabel.domain import LabelType
from prelabel.service import labels
from prelabel.service.dto import LabelOut
from prelabel.store.tables import MAX_ID

router = APIRouter(tags=["labels"], responses=error_responses(401, 404))


class LabelCreate(BaseModel):
    json_response: dict[str, Any] = Field(
        description='The answer per job, e.g. {"JOB_0": {"categories": [{"name": "DISASTER"}]}}.'
    )
    label_type: LabelType = Field(
        LabelType.DEFAULT, description="DEFAULT, REVIEW (reviewers/admins) or AUTOSAVE."
    )
    seconds_to_label: float | None = Field(None, ge=0, description="Time the labeler spent on the asset.")
    model_version_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="The model version whose prediction the labeler saw (acceptance tracking)."
    )


@router.post(
    "/projects/{project_id}/assets/{asset_id}/labels",
    status_code=201,
    summary="Label an asset.",
    responses=error_responses(400, 403, 409),
)
def create_label(
    project_id: int, asset_id: int, body: LabelCreate, store: StoreDep, actor: ActorDep
) -> LabelOut:
    return labels.create_label(
        store,
        actor,
        project_id,
        asset_id,
        json_response=body.json_response,
        label_type=body.label_type,
        seconds_to_label=body.seconds_to_label,
        model_version_id=body.model_version_id,
    )


@router.get("/projects/{project_id}/labels", summary="Labels by id (pass the last id as `after`).")
def list_labels(
    project_id: int,
    store: StoreDep,
    actor: ActorDep,
    asset_id: int | None = None,
    after: Annotated[int | None, Query(description="Only labels with a larger id.")] = None,
    limit: Annotated[int, Query(ge=1, le=labels.MAX_LABEL_PAGE)] = 100,
) -> list[LabelOut]:
    return labels.list_labels(store, actor, project_id, asset_id=asset_id, after_id=after, limit=limit)


@router.delete(
    "/projects/{project_id}/labels/{label_id}",
    summary="Undo: remove my own newest label on its asset.",
    responses=error_responses(403, 409),
)
def undo_label(project_id: int, label_id: int, store: StoreDep, actor: ActorDep) -> LabelOut:
    return labels.undo_label(store, actor, project_id, label_id)
