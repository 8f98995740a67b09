"""bigint_ids: ids and the foreign keys to them become 64-bit on PostgreSQL (SQLite's INTEGER already is)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id_columns(bind: sa.engine.Connection) -> list[tuple[str, str]]:
    """(table, column) of every primary key and foreign key column, read from the database itself."""
    inspector = sa.inspect(bind)
    found: list[tuple[str, str]] = []
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        keys = set(inspector.get_pk_constraint(table)["constrained_columns"])
        for fk in inspector.get_foreign_keys(table):
            keys.update(fk["constrained_columns"])
        types = {c["name"]: c["type"] for c in inspector.get_columns(table)}
        found += [(table, c) for c in sorted(keys) if isinstance(types[c], sa.Integer)]
    return found


def _alter(to: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, column in _id_columns(bind):
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE {to}')
        sequence = bind.execute(sa.text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table, "c": column}).scalar()
        if sequence:
            op.execute(f"ALTER SEQUENCE {sequence} AS {to}")


def upgrade() -> None:
    _alter("bigint")


def downgrade() -> None:
    _alter("integer")
