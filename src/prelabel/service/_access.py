"""Role checks shared by the service modules: membership, least role, and the project's parsed interface."""

from __future__ import annotations

from sqlalchemy.orm import Session

from prelabel.domain import ROLE_RANK, Interface, Role, parse_interface
from prelabel.errors import NotFound, PermissionDenied
from prelabel.service.auth import Actor
from prelabel.store import tables as t


def load_project(session: Session, project_id: int) -> t.Project:
    project = session.get(t.Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} not found.")
    return project


def role_of(session: Session, actor: Actor, project_id: int) -> Role:
    """The actor's role (superuser → admin). NotFound when the project is missing or the actor is no member:
    nobody learns that someone else's project exists."""
    load_project(session, project_id)
    if actor.is_superuser:
        return Role.ADMIN
    member = session.get(t.ProjectMember, (project_id, actor.user_id))
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
            f"Only a project {least.value} (or higher) can {doing}; your role in project {project_id} "
            f"is {role.value}."
        )
    return load_project(session, project_id), role


def interface_of(project: t.Project) -> Interface:
    return parse_interface(project.interface)
