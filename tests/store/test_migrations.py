from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from prelabel.errors import SchemaOutOfDate
from prelabel.store.engine import Store
from prelabel.store.migrate import current_revision, head_revision
from prelabel.store.tables import Base


def test_empty_database_upgrades_to_head_and_matches_the_models(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'fresh.db'}")
    with pytest.raises(SchemaOutOfDate, match="prelabel db upgrade"):
        store.check_schema()
    store.upgrade()
    store.check_schema()
    assert current_revision(store.engine) == head_revision()
    tables = set(inspect(store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrated_schema_has_no_drift_from_the_models(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
