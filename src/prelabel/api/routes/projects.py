"""Projects, their members and counts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from prelabel.api.deps import ActorDep, StoreDep
from prelabel.api.errors import error_responses
from prelabel.domain import Role, parse_interface, to_original_shape
from prelabel.service import projects
from prelabel.service.dto import MemberOut, ProjectOut, ProjectStats

router = APIRouter(tags=["projects"], responses=error_responses(401))


_INTERFACE_EXAMPLE = {
    "jobs": [{"name": "JOB_0", "instruction": "Is it spam?", "categories": [{"key": "SPAM"}, {"key": "HAM"}]}]
}


class ProjectCreate(BaseModel):
    title: str = Field(description="1-200 characters.", examples=["Support tickets"])
    description: str = ""
    interface: dict[str, Any] = Field(
        examples=[_INTERFACE_EXAMPLE],
        description="Jobs and categories: our shape "
        "{'jobs': [{name, input, instruction, categories: [{key, name, hotkey, description}]}]} "
        "or the original jsonInterface shape {'jobs': {JOB: {instruction, content: {categories: "
        "{KEY: {name, description}}}}}}. `instruction` is the job's question and `description` what a category "
        "means (at most 1,000 characters); zero-shot suggestions read both."
    )
    settings: dict[str, Any] | None = Field(None, description="Project settings (queue strategy, ...).")


class ProjectUpdate(BaseModel):
    title: str | None = None
    description: str | None = None
    interface: dict[str, Any] | None = Field(
        None,
        description="The whole new interface. Changing names, descriptions or questions is always allowed; "
        "a job or category that labels use cannot be removed.",
    )
    settings: dict[str, Any] | None = None


class ProjectResponse(ProjectOut):
    json_interface: dict[str, Any] = Field(
        default_factory=dict, description="The interface in the original workflow's shape (jobs → content)."
    )


class MemberCreate(BaseModel):
    username: str
    role: Role


def _response(project: ProjectOut) -> ProjectResponse:
    return ProjectResponse(
        **project.model_dump(), json_interface=to_original_shape(parse_interface(project.interface))
    )


@router.get("/projects", summary="The projects I am a member of.")
def list_projects(store: StoreDep, actor: ActorDep) -> list[ProjectResponse]:
    return [_response(p) for p in projects.list_projects(store, actor)]


@router.post(
    "/projects", status_code=201, summary="Create a project; I become its admin.", responses=error_responses(400, 409)
)
def create_project(body: ProjectCreate, store: StoreDep, actor: ActorDep) -> ProjectResponse:
    project = projects.create_project(
        store,
        actor,
        title=body.title,
        description=body.description,
        interface=body.interface,
        settings=body.settings,
    )
    return _response(project)


@router.get(
    "/projects/{project_id}", summary="One project, with its interface in both shapes.", responses=error_responses(404)
)
def get_project(project_id: int, store: StoreDep, actor: ActorDep) -> ProjectResponse:
    return _response(projects.get_project(store, actor, project_id))


@router.patch(
    "/projects/{project_id}",
    summary="Change title, description, interface or settings (admin).",
    responses=error_responses(400, 403, 404, 409),
)
def update_project(project_id: int, body: ProjectUpdate, store: StoreDep, actor: ActorDep) -> ProjectResponse:
    project = projects.update_project(
        store,
        actor,
        project_id,
        title=body.title,
        description=body.description,
        interface=body.interface,
        settings=body.settings,
    )
    return _response(project)


@router.delete(
    "/projects/{project_id}",
    status_code=204,
    summary="Delete a project and its data (admin).",
    responses=error_responses(403, 404),
)
def delete_project(project_id: int, store: StoreDep, actor: ActorDep) -> Response:
    projects.delete_project(store, actor, project_id)
    return Response(status_code=204)


@router.get(
    "/projects/{project_id}/stats",
    summary="Counts: assets per status, labeled, predicted, classes.",
    responses=error_responses(404),
)
def project_stats(project_id: int, store: StoreDep, actor: ActorDep) -> ProjectStats:
    return projects.project_stats(store, actor, project_id)


@router.get(
    "/projects/{project_id}/members", summary="The project's members and roles.", responses=error_responses(404)
)
def list_members(project_id: int, store: StoreDep, actor: ActorDep) -> list[MemberOut]:
    return projects.list_members(store, actor, project_id)


@router.post(
    "/projects/{project_id}/members",
    status_code=201,
    summary="Add a member / change a role.",
    responses=error_responses(400, 403, 404, 409),
)
def add_member(project_id: int, body: MemberCreate, store: StoreDep, actor: ActorDep) -> MemberOut:
    return projects.add_member(store, actor, project_id, username=body.username, role=body.role)


@router.delete(
    "/projects/{project_id}/members/{username}",
    status_code=204,
    summary="Remove a member.",
    responses=error_responses(403, 404, 409),
)
def remove_member(project_id: int, username: str, store: StoreDep, actor: ActorDep) -> Response:
    projects.remove_member(store, actor, project_id, username=username)
    return Response(status_code=204)
