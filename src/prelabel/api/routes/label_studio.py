"""Label Studio: the ML backend protocol at ``/label-studio/{token}/`` and the project's Label Studio settings
under ``/api/v1`` (thin routes; the rules are in `prelabel.service.label_studio`).

    GET    /label-studio/{token}/health                    (and ``/``) {"status": "UP", …}; 401 for a bad token
    POST   /label-studio/{token}/setup    {project, schema, hostname, …}   → {"model_version"}
    POST   /label-studio/{token}/predict  {tasks, project, label_config}   → {"results": [prediction per task]}
    POST   /label-studio/{token}/webhook  {action, project, annotation?, task?, tasks?} → {"status", …}
    …/label-studio/{token}/projects/{project_id}/…     the same, for a chosen prelabel project

    GET    /api/v1/projects/{pid}/label-studio   {"label_config", "connection": {ls_project, ls_host, …} | null}
    DELETE /api/v1/projects/{pid}/label-studio   forget the connection (admin) → {"disconnected": bool}

The ML backend URL carries a prelabel API token because the webhook Label Studio creates for an ML backend
sends no credentials; `install` keeps the token out of the access log.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from prelabel.api.deps import ActorDep, SettingsDep, StoreDep
from prelabel.service import label_studio as ls
from prelabel.service import label_studio_json
from prelabel.service.auth import Actor, authenticate_token

BACKEND_PREFIX = "/label-studio/{token}"
router = APIRouter(tags=["label-studio"])  # under /api/v1
backend = APIRouter(tags=["label-studio ML backend"])


def _backend_actor(store: StoreDep, token: str) -> Actor:
    return authenticate_token(store, token.strip())


def _target(request: Request) -> int | None:
    """The prelabel project named in the URL (``…/projects/{project_id}/…``), else None."""
    raw = request.path_params.get("project_id")
    return int(raw) if raw is not None else None


BackendActor = Annotated[Actor, Depends(_backend_actor)]
Target = Annotated[int | None, Depends(_target)]


class SetupIn(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    project: str = Field(description="Label Studio's project id: '<id>.<created unix time>'.")
    label_config: str = Field(alias="schema", description="The project's labeling config (XML).")
    hostname: str | None = None


class PredictIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tasks: list[dict[str, Any]]
    project: str
    label_config: str


@backend.get("/health", summary="Label Studio's health check (checks the token).")
@backend.get("/", summary="The same as /health.", include_in_schema=False)
def health(actor: BackendActor) -> dict[str, Any]:
    return {"status": "UP", "model_class": "prelabel", "user": actor.username}


@backend.post("/setup", summary="Link the Label Studio project; answer the current model version.")
def setup(body: SetupIn, store: StoreDep, actor: BackendActor, target: Target) -> dict[str, Any]:
    conn = ls.connect(store, actor, ls_project=body.project, label_config=body.label_config, project_id=target,
                      ls_host=body.hostname or "")
    return {"model_version": ls.model_version(store, conn)}


@backend.post("/predict", summary="Predictions for Label Studio tasks (unknown tasks become assets).")
def predict(
    body: PredictIn, store: StoreDep, settings: SettingsDep, actor: BackendActor, target: Target
) -> dict[str, Any]:
    conn = ls.connect(store, actor, ls_project=body.project, label_config=body.label_config, project_id=target)
    return {"results": ls.predict(store, actor, conn, body.tasks, wait_s=settings.label_studio_predict_wait_s)}


@backend.post("/webhook", summary="Label Studio events: annotations become labels, START_TRAINING trains.")
def webhook(
    store: StoreDep, actor: BackendActor, target: Target, payload: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    return ls.webhook(store, actor, payload, project_id=target)


@router.get("/projects/{project_id}/label-studio", summary="The labeling config and Label Studio connection.")
def get_label_studio(project_id: int, store: StoreDep, actor: ActorDep) -> dict[str, Any]:
    return {
        "label_config": label_studio_json.label_config(store, actor, project_id),
        "connection": ls.connection_of(store, actor, project_id),
    }


@router.delete("/projects/{project_id}/label-studio", summary="Forget the Label Studio connection (admin).")
def delete_label_studio(project_id: int, store: StoreDep, actor: ActorDep) -> dict[str, bool]:
    return {"disconnected": ls.disconnect(store, actor, project_id)}


class _RedactToken(logging.Filter):
    """Replace the token in ``/label-studio/<token>/…`` paths of uvicorn's access log lines."""

    _path = re.compile(r"(/label-studio/)[^/?\s]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._path.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        return True


def install(app: FastAPI) -> None:
    """Mount the ML backend (twice: with and without a chosen project) and redact its tokens in access logs."""
    app.include_router(backend, prefix=BACKEND_PREFIX)
    app.include_router(backend, prefix=BACKEND_PREFIX + "/projects/{project_id:int}", include_in_schema=False)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _RedactToken) for f in access.filters):
        access.addFilter(_RedactToken())
