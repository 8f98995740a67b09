"""Queries behind projects, their members and roles, their settings and their counts
(`prelabel.service.projects`, and the membership check of `prelabel.service._access`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from prelabel.domain import AssetStatus, Role
from prelabel.store import repositories as repo
from prelabel.store import tables as t


class ProjectWithRole(NamedTuple):
    project: t.Project
    role: str


class MemberRow(NamedTuple):
    member: t.ProjectMember
    username: str


@dataclass(frozen=True)
class ProjectCounts:
    """What the project page counts; `by_status` has only the statuses some asset has."""

    by_status: dict[str, int]
    n_honeypots: int
    n_labels: int
    n_predicted: int
    n_to_review: int
    n_model_versions: int


# --- projects -------------------------------------------------------------------------------------
def get_project(session: Session, project_id: int) -> t.Project | None:
    return session.get(t.Project, project_id)


def all_projects(session: Session) -> list[t.Project]:
    """Every project, oldest first."""
    return list(session.scalars(select(t.Project).order_by(t.Project.id)))


def projects_of_member(session: Session, user_id: int) -> list[ProjectWithRole]:
    """The projects `user_id` is a member of with their role there, oldest first."""
    rows = session.execute(
        select(t.Project, t.ProjectMember.role)
        .join(t.ProjectMember, t.ProjectMember.project_id == t.Project.id)
        .where(t.ProjectMember.user_id == user_id)
        .order_by(t.Project.id)
    ).all()
    return [ProjectWithRole(project, role) for project, role in rows]


def insert_project(
    session: Session,
    *,
    title: str,
    description: str,
    interface: dict[str, Any],
    settings: dict[str, Any],
    created_by: int,
) -> t.Project:
    project = t.Project(
        title=title, description=description, interface=interface, settings=settings, created_by=created_by
    )
    session.add(project)
    session.flush()
    return project


def update_project(
    session: Session,
    project: t.Project,
    *,
    title: str | None = None,
    description: str | None = None,
    interface: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> None:
    """Write the fields given (None: unchanged) and stamp `updated_at`."""
    if interface is not None:
        project.interface = interface
    if title is not None:
        project.title = title
    if description is not None:
        project.description = description
    if settings is not None:
        project.settings = settings
    project.updated_at = t.utcnow()
    session.flush()


def delete_project(session: Session, project: t.Project) -> None:
    """Delete the project; the foreign keys' ON DELETE CASCADE removes everything in it."""
    session.delete(project)


def stored_answers(session: Session, project_id: int) -> list[Any]:
    """The json_response of every label of the project, then every honeypot's gold answer."""
    responses = session.scalars(select(t.Label.json_response).where(t.Label.project_id == project_id)).all()
    gold = session.scalars(
        select(t.Asset.honeypot_response).where(
            t.Asset.project_id == project_id, t.Asset.honeypot_response.is_not(None)
        )
    ).all()
    return [*responses, *gold]


# --- members (users themselves: store/users.py) ----------------------------------------------------
def get_member(session: Session, project_id: int, user_id: int) -> t.ProjectMember | None:
    return session.get(t.ProjectMember, (project_id, user_id))


def insert_member(session: Session, project_id: int, user_id: int, role: Role) -> t.ProjectMember:
    member = t.ProjectMember(project_id=project_id, user_id=user_id, role=role.value)
    session.add(member)
    session.flush()
    return member


def set_member_role(session: Session, member: t.ProjectMember, role: Role) -> None:
    member.role = role.value
    session.flush()


def delete_member(session: Session, project_id: int, user_id: int) -> None:
    session.execute(
        delete(t.ProjectMember).where(t.ProjectMember.project_id == project_id, t.ProjectMember.user_id == user_id)
    )


def admin_count(session: Session, project_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                t.ProjectMember.project_id == project_id, t.ProjectMember.role == Role.ADMIN.value
            )
        )
        or 0
    )


def members_of(session: Session, project_id: int) -> list[MemberRow]:
    """The project's members with their usernames, by username."""
    rows = session.execute(
        select(t.ProjectMember, t.User.username)
        .join(t.User, t.User.id == t.ProjectMember.user_id)
        .where(t.ProjectMember.project_id == project_id)
        .order_by(t.User.username)
    ).all()
    return [MemberRow(member, username) for member, username in rows]


# --- counts ---------------------------------------------------------------------------------------
def project_counts(session: Session, project_id: int) -> ProjectCounts:
    """Assets per status, honeypots, DEFAULT and REVIEW labels, predicted assets, assets flagged or waiting for
    review, and model versions."""
    return ProjectCounts(
        by_status=_assets_by_status(session, project_id),
        n_honeypots=_count(session, t.Asset.project_id == project_id, t.Asset.is_honeypot.is_(True)),
        n_labels=_count(session, t.Label.project_id == project_id, t.Label.label_type.in_(repo.COUNTED_LABELS)),
        n_predicted=repo.count_predicted_assets(session, project_id),
        n_to_review=_count(
            session,
            t.Asset.project_id == project_id,
            t.Asset.review_reason.is_not(None) | (t.Asset.status == AssetStatus.TO_REVIEW.value),
        ),
        n_model_versions=_count(session, t.ModelVersion.project_id == project_id),
    )


def _assets_by_status(session: Session, project_id: int) -> dict[str, int]:
    rows = session.execute(
        select(t.Asset.status, func.count()).where(t.Asset.project_id == project_id).group_by(t.Asset.status)
    )
    return {status: int(n) for status, n in rows}


def _count(session: Session, *where: Any) -> int:
    return int(session.scalar(select(func.count()).where(*where)) or 0)
