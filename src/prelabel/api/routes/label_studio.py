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
from prelabel.api.errors import error_responses
from prelabel.service import label_studio as ls
from prelabel.service import label_studio_json
from prelabel.service.auth import Actor, authenticate_token

BACKEND_PREFIX = "/label-studio/{token}"
router = APIRouter(tags=["label-studio"], responses=error_responses(401, 404))  # under /api/v1
backend = APIRouter(tags=["label-studio ML backend"], responses=error_responses(401))
# Label Studio's calls that link or change a project: a JSON body, the token's role, the project, a conflict.
_BACKEND_WRITE = error_responses(400, 403, 404, 409)


def _backend_actor(store: StoreDep, token: str) -> Actor:
    return authenticate_token(store, token.strip())


def _target(request: Request) -> int | None:
    """The prelabel project named in the URL (``…/projects/{project_id}/…``), else None."""
    raw = request.path_params.get("project_id")
    return int(raw) if raw is not None else None


BackendActor = Annotated[Actor, Depends(_backend_actor)]
Target = Annotated[int | None, Depends(_target)]

# What Label Studio sends, as examples in the OpenAPI schema (/docs shows them; API fuzzers start from them).
_LS_PROJECT_EXAMPLE = "7.1796636387"
_LABEL_CONFIG_EXAMPLE = (
    '<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text" choice="single">'
    '<Choice value="Positive"/><Choice value="Negative"/></Choices></View>'
)


class SetupIn(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    project: str = Field(
        description="Label Studio's project id: '<id>.<created unix time>'.", examples=[_LS_PROJECT_EXAMPLE]
    )
    label_config: str = Field(
        alias="schema", description="The project's labeling config (XML).", examples=[_LABEL_CONFIG_EXAMPLE]
    )
    hostname: str | None = Field(None, examples=["http://localhost:8080"])


class PredictIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tasks: list[dict[str, Any]] = Field(examples=[[{"id": 1, "data": {"text": "What a lovely day"}}]])
    project: str = Field(examples=[_LS_PROJECT_EXAMPLE])
    label_config: str = Field(examples=[_LABEL_CONFIG_EXAMPLE])


@backend.get("/health", summary="Label Studio's health check (checks the token).")
@backend.get("/", summary="The same as /health.", include_in_schema=False)
def health(actor: BackendActor) -> dict[str, Any]:
    return {"status": "UP", "model_class": "prelabel", "user": actor.username}


@backend.post(
    "/setup", summary="Link the Label Studio project; answer the current model version.", responses=_BACKEND_WRITE
)
def setup(body: SetupIn, store: StoreDep, actor: BackendActor, target: Target) -> dict[str, Any]:
    conn = ls.connect(store, actor, ls_project=body.project, label_config=body.label_config, project_id=target,
                      ls_host=body.hostname or "")
    return {"model_version": ls.model_version(store, conn)}


@backend.post(
    "/predict", summary="Predictions for Label Studio tasks (unknown tasks become assets).", responses=_BACKEND_WRITE
)
def predict(
    body: PredictIn, store: StoreDep, settings: SettingsDep, actor: BackendActor, target: Target
) -> dict[str, Any]:
    conn = ls.connect(store, actor, ls_project=body.project, label_config=body.label_config, project_id=target)
    return {"results": ls.predict(store, actor, conn, body.tasks, wait_s=settings.label_studio_predict_wait_s)}


@backend.post(
    "/webhook",
    summary="Label Studio events: annotations become labels, START_TRAINING trains.",
    responses=_BACKEND_WRITE,
)
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


@router.delete(
    "/projects/{project_id}/label-studio",
    summary="Forget the Label Studio connection (admin).",
    responses=error_responses(403),
)
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
