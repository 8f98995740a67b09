"""label_studio_links: Label Studio projects connected to prelabel projects as their ML backend

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "label_studio_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("ls_project", sa.String(length=64), nullable=False),
        sa.Column("ls_host", sa.String(length=255), nullable=False),
        sa.Column("label_config", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_label_studio_links_project_id_projects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_label_studio_links_created_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_studio_links")),
        sa.UniqueConstraint("project_id", name=op.f("uq_label_studio_links_project_id")),
    )
    with op.batch_alter_table("label_studio_links") as batch:
        batch.create_index(batch.f("ix_label_studio_links_ls_project"), ["ls_project"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("label_studio_links") as batch:
        batch.drop_index(batch.f("ix_label_studio_links_ls_project"))
    op.drop_table("label_studio_links")
