"""Checks shared by the service modules: membership, least role, the project's parsed interface, the asset of a
project."""

from __future__ import annotations

from prelabel.domain import ROLE_RANK, Interface, Role, parse_interface
from prelabel.errors import NotFound, PermissionDenied
from prelabel.service.auth import Actor
from prelabel.store import assets as assets_repo
from prelabel.store import projects as projects_repo
from prelabel.store import tables as t
from prelabel.store.engine import Session, Store


def load_project(session: Session, project_id: int) -> t.Project:
    project = projects_repo.get_project(session, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} not found.")
    return project


def role_of(session: Session, actor: Actor, project_id: int) -> Role:
    """The actor's role (superuser → admin). NotFound when the project is missing or the actor is no member:
    nobody learns that someone else's project exists."""
    load_project(session, project_id)
    if actor.is_superuser:
        return Role.ADMIN
    member = projects_repo.get_member(session, project_id, actor.user_id)
    if member is None:
        raise NotFound(f"Project {project_id} not found.")
    return Role(member.role)


def require(
    session: Session, actor: Actor, project_id: int, least: Role = Role.LABELER, doing: str = "do this"
) -> tuple[t.Project, Role]:
    """The project and the actor's role; PermissionDenied when the role ranks below `least`."""
    role = role_of(session, actor, project_id)
    if ROLE_RANK[role] < ROLE_RANK[least]:
        raise PermissionDenied(
            f"Only a project {least.value} (or higher) can {doing}; your role in project {project_id} is {role.value}."
        )
    return load_project(session, project_id), role


def check_role(
    store: Store, actor: Actor, project_id: int, least: Role = Role.LABELER, doing: str = "do this"
) -> None:
    """`require` in a read-only transaction of its own, so that a route can refuse a caller before it reads a
    large request body; the write's own transaction checks again."""
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id, least, doing)


def interface_of(project: t.Project) -> Interface:
    return parse_interface(project.interface)


def asset_or_404(session: Session, project_id: int, asset_id: int) -> t.Asset:
    """The project's asset; NotFound naming both ids when the project has no such asset."""
    asset = assets_repo.asset_of_project(session, project_id, asset_id)
    if asset is None:
        raise NotFound(f"Asset {asset_id} not found in project {project_id}.")
    return asset
