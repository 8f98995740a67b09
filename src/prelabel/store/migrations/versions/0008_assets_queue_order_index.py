"""assets(project_id, status, priority DESC, id) index in place of (project_id, status, priority): the queue's
order, ties by id, read from the index without sorting the tied rows

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_assets_queue_order", "assets", ["project_id", "status", sa.column("priority").desc(), "id"])
    op.drop_index("ix_assets_project_status_priority", table_name="assets")


def downgrade() -> None:
    op.create_index("ix_assets_project_status_priority", "assets", ["project_id", "status", "priority"])
    op.drop_index("ix_assets_queue_order", table_name="assets")
