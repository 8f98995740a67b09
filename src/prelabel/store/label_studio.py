"""Queries behind the Label Studio connection (`prelabel.service.label_studio`): links, and what a /predict
call needs to know about its tasks."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from prelabel.domain import JobStatus
from prelabel.store import tables as t


def links_of(session: Session, ls_project: str, user_id: int | None) -> list[t.LabelStudioLink]:
    """The links of a Label Studio project to projects `user_id` is a member of (None: any project), oldest
    first."""
    q = select(t.LabelStudioLink).where(t.LabelStudioLink.ls_project == ls_project)
    if user_id is not None:
        q = q.join(
            t.ProjectMember,
            (t.ProjectMember.project_id == t.LabelStudioLink.project_id) & (t.ProjectMember.user_id == user_id),
        )
    return list(session.scalars(q.order_by(t.LabelStudioLink.id)))


def link_of_project(session: Session, project_id: int) -> t.LabelStudioLink | None:
    return session.scalar(select(t.LabelStudioLink).where(t.LabelStudioLink.project_id == project_id))


def has_active_job(session: Session, project_id: int, tiers: Sequence[str]) -> bool:
    """Whether a job of one of `tiers` is QUEUED or RUNNING for the project."""
    return (
        session.scalar(
            select(t.TrainingJob.id)
            .where(
                t.TrainingJob.project_id == project_id,
                t.TrainingJob.tier.in_(list(tiers)),
                t.TrainingJob.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
            )
            .limit(1)
        )
        is not None
    )


def save_link(
    session: Session, project_id: int, *, ls_project: str, label_config: str, ls_host: str, created_by: int | None
) -> t.LabelStudioLink:
    """Link the project to the Label Studio project (created by `created_by` when it has no link yet) and keep
    the labeling config and host as last seen; an empty `ls_host` keeps the one stored."""
    link = link_of_project(session, project_id)
    if link is None:
        link = t.LabelStudioLink(project_id=project_id, ls_project=ls_project, created_by=created_by)
        session.add(link)
    link.label_config = label_config
    link.ls_host = (ls_host or link.ls_host or "")[:255]
    link.updated_at = t.utcnow()
    return link


def delete_link(session: Session, link: t.LabelStudioLink) -> None:
    session.delete(link)
