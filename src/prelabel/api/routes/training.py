"""The pre-annotation loop over HTTP: train now, job status, the labeling queue, the review list, acceptance.

    POST   /api/v1/projects/{pid}/training            {tier: fast|search|both}   admin → 202 [TrainingJobOut]
    GET    /api/v1/projects/{pid}/training            TrainingStatus (active jobs, labels to next model)
    GET    /api/v1/projects/{pid}/training/jobs       newest first (limit)
    GET    /api/v1/projects/{pid}/training/jobs/{id}  one job with progress 0-1 and message
    GET    /api/v1/projects/{pid}/training/acceptance acceptance rate per model version
    POST   /api/v1/projects/{pid}/queue/next          the next asset, leased to me → AssetOut (204: none)
    POST   /api/v1/projects/{pid}/queue/{asset_id}/release   give my lease back → 204
    POST   /api/v1/projects/{pid}/queue/{asset_id}/skip      release and move it to the end → 204
    GET    /api/v1/projects/{pid}/review              likely label errors / model disagreements (reviewer+)

`queue/next` takes a lease (a state change), so it answers POST only: GET is not in the route table, and the
app's 405 handler (api/errors.py) answers it naming POST in the message and in ``Allow``, as OPTIONS does. Calling
it again returns the same asset until it is labeled, released or its lease expires.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from prelabel.api.deps import ActorDep, StoreDep
from prelabel.api.errors import error_responses
from prelabel.service import queue, training
from prelabel.service.dto import AssetOut, AssetPage, TrainingJobOut

router = APIRouter(tags=["training"], responses=error_responses(401, 404))


class TrainRequest(BaseModel):
    tier: Literal["fast", "search", "both"] = Field(
        "both", description="fast: a model within seconds; search: a budgeted AutoML search; both."
    )


@router.post(
    "/projects/{project_id}/training",
    status_code=202,
    summary="Train now (admin).",
    responses=error_responses(400, 403, 409),
)
def request_training(
    project_id: int, store: StoreDep, actor: ActorDep, body: TrainRequest | None = None
) -> list[TrainingJobOut]:
    tier = body.tier if body is not None else "both"
    return training.request_training(store, actor, project_id, tier=tier, reason="api")


@router.get("/projects/{project_id}/training", summary="Trainer status: active jobs, labels until the next model.")
def training_status(project_id: int, store: StoreDep, actor: ActorDep) -> training.TrainingStatus:
    return training.training_status(store, actor, project_id)


@router.get("/projects/{project_id}/training/jobs", summary="Training jobs, newest first.")
def list_jobs(
    project_id: int, store: StoreDep, actor: ActorDep, limit: Annotated[int, Query(ge=1, le=500)] = 20
) -> list[TrainingJobOut]:
    return training.list_training_jobs(store, actor, project_id, limit=limit)


@router.get("/projects/{project_id}/training/jobs/{job_id}", summary="One training job with its progress.")
def get_job(project_id: int, job_id: int, store: StoreDep, actor: ActorDep) -> TrainingJobOut:
    return training.get_training_job(store, actor, project_id, job_id)


@router.get("/projects/{project_id}/training/acceptance", summary="Acceptance rate per model version.")
def acceptance(project_id: int, store: StoreDep, actor: ActorDep) -> list[dict[str, object]]:
    from prelabel.service.analytics import acceptance_by_version

    return [row.model_dump(mode="json") for row in acceptance_by_version(store, actor, project_id)]


LeaseQuery = Annotated[float, Query(ge=1, le=queue.MAX_LEASE_SECONDS, description="Lease length (s).")]
_NONE_LEFT: dict[int | str, dict[str, Any]] = {204: {"description": "Nothing left to label."}, **error_responses(409)}


@router.post(
    "/projects/{project_id}/queue/next",
    summary="The next asset to label, leased to me (204: none left).",
    response_model=AssetOut,
    responses=_NONE_LEFT,
)
def next_asset(project_id: int, store: StoreDep, actor: ActorDep, lease_seconds: LeaseQuery = 300) -> Any:
    asset = queue.next_asset(store, actor, project_id, lease_seconds=lease_seconds)
    if asset is None:
        return Response(status_code=204)
    return asset


@router.post(
    "/projects/{project_id}/queue/{asset_id}/release",
    status_code=204,
    summary="Release my lease.",
    responses=error_responses(409),
)
def release(project_id: int, asset_id: int, store: StoreDep, actor: ActorDep) -> Response:
    queue.release_lease(store, actor, project_id, asset_id)
    return Response(status_code=204)


@router.post(
    "/projects/{project_id}/queue/{asset_id}/skip",
    status_code=204,
    summary="Skip an asset.",
    responses=error_responses(409),
)
def skip(project_id: int, asset_id: int, store: StoreDep, actor: ActorDep) -> Response:
    queue.skip_asset(store, actor, project_id, asset_id)
    return Response(status_code=204)


@router.get(
    "/projects/{project_id}/review",
    summary="Assets to review: likely label errors first (reviewer+).",
    responses=error_responses(403),
)
def review(
    project_id: int,
    store: StoreDep,
    actor: ActorDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AssetPage:
    return queue.review_list(store, actor, project_id, after=after, limit=limit)
