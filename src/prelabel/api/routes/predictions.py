"""Predictions: bulk create (thousands per call, one transaction) and listing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from prelabel.api.deps import ActorDep, StoreDep
from prelabel.api.errors import error_responses
from prelabel.service import predictions
from prelabel.service.dto import PredictionIn, PredictionOut
from prelabel.store.tables import MAX_ID

router = APIRouter(tags=["predictions"], responses=error_responses(401, 404))


class PredictionsCreate(BaseModel):
    items: list[PredictionIn] = Field(
        description="One per asset: external_id or asset_id, and json_response."
    )
    model_name: str | None = Field(
        None,
        description="The model's name: an existing version's display name (e.g. 'my-model-3') or family "
        "name (its newest version), else a new model version of that family is created.",
    )
    model_version_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="An existing model version instead of model_name."
    )
    new_version: bool = Field(
        False, description="Start the next version of model_name's family (display name '<model_name>-<n>')."
    )


class PredictionsCreated(BaseModel):
    created: int
    model_version_id: int | None = Field(None, description="The version the predictions were stored under.")
    model_name: str | None = Field(None, description="Its display name, which the predictions carry.")
    note: str | None = Field(
        None,
        description="Set when labelers do not see these predictions as suggestions (project setting "
        "suggestions_from) and what to change to show them.",
    )


@router.post(
    "/projects/{project_id}/predictions",
    summary="Store predictions in one transaction (admin).",
    responses=error_responses(400, 403, 409),
)
def create_predictions(
    project_id: int, body: PredictionsCreate, store: StoreDep, actor: ActorDep
) -> PredictionsCreated:
    pushed = predictions.push_predictions(
        store,
        actor,
        project_id,
        body.items,
        model_name=body.model_name,
        model_version_id=body.model_version_id,
        new_version=body.new_version,
    )
    return PredictionsCreated(
        created=pushed.created, model_version_id=pushed.model_version_id, model_name=pushed.model_name, note=pushed.note
    )


@router.get("/projects/{project_id}/predictions", summary="Predictions by id, of READY model versions unless asked.")
def list_predictions(
    project_id: int,
    store: StoreDep,
    actor: ActorDep,
    asset_id: int | None = None,
    model_version_id: Annotated[
        int | None, Query(description="Only this model version's predictions, whatever its status.")
    ] = None,
    after: Annotated[int | None, Query(description="Only predictions with a larger id.")] = None,
    limit: Annotated[int, Query(ge=1, le=predictions.MAX_PREDICTION_PAGE)] = 100,
    include_unready: Annotated[
        bool,
        Query(
            description="Also predictions of model versions that are not READY (TRAINING, FAILED, WITHDRAWN), "
            "which labelers never see."
        ),
    ] = False,
) -> list[PredictionOut]:
    return predictions.list_predictions(
        store,
        actor,
        project_id,
        asset_id=asset_id,
        model_version_id=model_version_id,
        after=after,
        limit=limit,
        include_unready=include_unready,
    )
