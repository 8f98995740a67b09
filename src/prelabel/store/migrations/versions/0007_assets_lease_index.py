"""assets(project_id, lease_user_id) index: the queue's look-up of the asset a labeler holds

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_assets_project_lease_user", "assets", ["project_id", "lease_user_id"])


def downgrade() -> None:
    op.drop_index("ix_assets_project_lease_user", table_name="assets")
