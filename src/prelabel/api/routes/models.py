"""Model versions of a project (trained by the worker or pushed with predictions)."""

from __future__ import annotations

from fastapi import APIRouter

from prelabel.api.deps import ActorDep, StoreDep
from prelabel.api.errors import error_responses
from prelabel.service import models
from prelabel.service.dto import ModelVersionOut

router = APIRouter(tags=["model versions"], responses=error_responses(401, 404))


@router.get("/projects/{project_id}/model-versions", summary="The project's model versions.")
def list_model_versions(project_id: int, store: StoreDep, actor: ActorDep) -> list[ModelVersionOut]:
    return models.list_model_versions(store, actor, project_id)


@router.get("/projects/{project_id}/model-versions/{model_version_id}", summary="One model version.")
def get_model_version(
    project_id: int, model_version_id: int, store: StoreDep, actor: ActorDep
) -> ModelVersionOut:
    return models.get_model_version(store, actor, project_id, model_version_id)
