"""projects.last_model_version: the counter behind model version numbers (never reused)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("last_model_version", sa.Integer(), nullable=False, server_default="0"))
    # Existing projects continue after their highest version.
    op.execute(
        "UPDATE projects SET last_model_version = COALESCE("
        "(SELECT MAX(version) FROM model_versions WHERE model_versions.project_id = projects.id), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("last_model_version")
