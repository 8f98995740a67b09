"""projects.interface: every category has a "description" and every job an "instruction" (its question)

Data only: the interface is JSON in `projects.interface`. Upgrade gives each category `"description": ""` and
each job `"instruction": ""` where missing (zero-shot suggestions read both). Downgrade removes the categories'
descriptions: empty ones always; a non-empty one too, since prelabel before this revision refuses a category
with keys it does not know (the text is lost, as a dropped column's values would be).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

projects = sa.table("projects", sa.column("id", sa.Integer()), sa.column("interface", sa.JSON()))


def _with_descriptions(interface: Any) -> Any:
    jobs = interface.get("jobs") if isinstance(interface, dict) else None
    if not isinstance(jobs, list):
        return interface
    out_jobs = []
    for job in jobs:
        if isinstance(job, dict):
            job = dict(job)
            if not isinstance(job.get("instruction"), str):
                job["instruction"] = ""
            cats = job.get("categories")
            if isinstance(cats, list):
                job["categories"] = [
                    {**c, "description": c.get("description") or ""} if isinstance(c, dict) else c for c in cats
                ]
        out_jobs.append(job)
    return {**interface, "jobs": out_jobs}


def _without_descriptions(interface: Any) -> Any:
    jobs = interface.get("jobs") if isinstance(interface, dict) else None
    if not isinstance(jobs, list):
        return interface
    out_jobs = []
    for job in jobs:
        if isinstance(job, dict) and isinstance(job.get("categories"), list):
            job = {
                **job,
                "categories": [
                    {k: v for k, v in c.items() if k != "description"} if isinstance(c, dict) else c
                    for c in job["categories"]
                ],
            }
        out_jobs.append(job)
    return {**interface, "jobs": out_jobs}


def _rewrite(change: Callable[[Any], Any]) -> None:
    conn = op.get_bind()
    for project_id, interface in conn.execute(sa.select(projects.c.id, projects.c.interface)).all():
        new = change(interface)
        if new != interface:
            conn.execute(projects.update().where(projects.c.id == project_id).values(interface=new))


def upgrade() -> None:
    _rewrite(_with_descriptions)


def downgrade() -> None:
    _rewrite(_without_descriptions)
