"""Predictions: bulk create (thousands per call, one transaction) and listing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from prelabel.api.deps import ActorDep, StoreDep
from prelabel.service import predictions
from prelabel.service.dto import PredictionIn, PredictionOut

router = APIRouter(tags=["predictions"])


class PredictionsCreate(BaseModel):
    items: list[PredictionIn] = Field(
        description="One per asset: external_id or asset_id, and json_response."
    )
    model_name: str | None = Field(
        None,
        description="The model's name: an existing version's display name (e.g. 'automl-3') or family "
        "name, else a new model version with that name is created.",
    )
    model_version_id: int | None = Field(None, description="An existing model version instead of model_name.")


class PredictionsCreated(BaseModel):
    created: int


@router.post("/projects/{project_id}/predictions", summary="Store predictions in one transaction (admin).")
def create_predictions(
    project_id: int, body: PredictionsCreate, store: StoreDep, actor: ActorDep
) -> PredictionsCreated:
    n = predictions.create_predictions(
        store,
        actor,
        project_id,
        body.items,
        model_name=body.model_name,
        model_version_id=body.model_version_id,
    )
    return PredictionsCreated(created=n)


@router.get("/projects/{project_id}/predictions", summary="Predictions by id, any model version.")
def list_predictions(
    project_id: int,
    store: StoreDep,
    actor: ActorDep,
    asset_id: int | None = None,
    model_version_id: int | None = None,
    after: Annotated[int | None, Query(description="Only predictions with a larger id.")] = None,
    limit: Annotated[int, Query(ge=1, le=predictions.MAX_PREDICTION_PAGE)] = 100,
) -> list[PredictionOut]:
    return predictions.list_predictions(
        store,
        actor,
        project_id,
        asset_id=asset_id,
        model_version_id=model_version_id,
        after=after,
        limit=limit,
    )
