from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text

from prelabel.domain import parse_interface
from prelabel.errors import SchemaOutOfDate
from prelabel.store.engine import Store
from prelabel.store.migrate import alembic_config, current_revision, head_revision
from prelabel.store.tables import Base, Project


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


def test_ids_past_32_bits_are_numbered_and_referenced(store: Store) -> None:
    # 0005: ids and foreign keys are 64-bit on both databases, and the id sequence counts past 2**31
    from prelabel.service import auth

    big = 2**31 + 10
    with store.transaction() as s:
        if store.dialect == "postgresql":
            s.execute(text("SELECT setval(pg_get_serial_sequence('users', 'id'), :v)"), {"v": big})
        else:
            s.execute(text("INSERT INTO users (id, username, password_hash, is_superuser, is_active, created_at) "
                           "VALUES (:v, 'placeholder', 'x', false, true, CURRENT_TIMESTAMP)"), {"v": big})  # fmt: skip
    user = auth.create_user(store, "past-int32", "password-123")
    assert user.id == big + 1
    actor = auth.Actor(user_id=user.id, username=user.username)
    token, _ = auth.create_token(store, actor, "laptop")
    assert token.user_id == big + 1  # the foreign key holds it too
    assert [t.name for t in auth.list_tokens(store, actor)] == ["laptop"]


# --- 0003: category descriptions and job instructions in projects.interface ----------------------------
# as prelabel stored it before 0003 (no descriptions), with one job lacking its instruction
OLD_INTERFACE = {
    "jobs": [
        {
            "name": "JOB_0",
            "task": "CLASSIFICATION",
            "input": "single",
            "required": True,
            "categories": [
                {"key": "DISASTER", "name": "Disaster", "hotkey": "1"},
                {"key": "NOT_DISASTER", "name": "Not a disaster", "hotkey": None},
            ],
        },
        {
            "name": "TOPICS",
            "task": "CLASSIFICATION",
            "input": "multi",
            "instruction": "Which topics?",
            "required": False,
            "categories": [
                {"key": "FIRE", "name": "FIRE", "hotkey": None},
                {"key": "FLOOD", "name": "FLOOD", "hotkey": None},
            ],
        },
    ]
}




def _insert_old_project(store: Store) -> int:
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, password_hash, is_superuser, is_active, created_at) "
                "VALUES ('olduser', 'x', false, true, :now)"
            ),
            {"now": now},
        )
        user_id = conn.execute(text("SELECT id FROM users WHERE username = 'olduser'")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO projects (title, description, interface, settings, created_by, created_at, "
                "updated_at, last_model_version) VALUES ('Old', '', :interface, '{}', :user, :now, :now, 0)"
            ),
            {"interface": json.dumps(OLD_INTERFACE), "user": user_id, "now": now},
        )
        return int(conn.execute(text("SELECT id FROM projects WHERE title = 'Old'")).scalar_one())


def _stored_interface(store: Store, project_id: int) -> dict[str, Any]:
    with store.transaction(read_only=True) as s:
        project = s.get(Project, project_id)
        assert project is not None
        return project.interface


def test_0003_gives_every_category_a_description_and_every_job_an_instruction(empty_db_url: str) -> None:
    store = Store(empty_db_url)
    try:
        store.upgrade("0002")
        assert current_revision(store.engine) == "0002"
        with pytest.raises(SchemaOutOfDate, match="at revision 0002"):
            store.check_schema()
        project_id = _insert_old_project(store)

        store.upgrade()
        store.check_schema()  # the start-up check accepts the new head
        assert current_revision(store.engine) == head_revision()
        doc = _stored_interface(store, project_id)
        assert [j["instruction"] for j in doc["jobs"]] == ["", "Which topics?"]
        for job in doc["jobs"]:
            assert all(c["description"] == "" for c in job["categories"])
        assert doc["jobs"][0]["categories"][0] == {
            "key": "DISASTER", "name": "Disaster", "hotkey": "1", "description": ""
        }
        # the normalised document is what the service stores for a new project
        assert doc == parse_interface(OLD_INTERFACE).model_dump(mode="json")

        # the service reads and edits it: a description added later survives
        from prelabel.service import projects
        from prelabel.service.auth import Actor

        with store.engine.connect() as conn:
            user_id = conn.execute(text("SELECT id FROM users WHERE username = 'olduser'")).scalar_one()
        actor = Actor(user_id=user_id, username="olduser", is_superuser=True)
        doc["jobs"][0]["categories"][0]["description"] = "A real disaster happening now"
        projects.update_project(store, actor, project_id, interface=doc)

        command.downgrade(alembic_config(store.engine), "0002")
        old = _stored_interface(store, project_id)
        assert all("description" not in c for job in old["jobs"] for c in job["categories"])
        assert old["jobs"][1]["instruction"] == "Which topics?"
        store.upgrade()  # and up again
        assert _stored_interface(store, project_id)["jobs"][0]["categories"][0]["description"] == ""
    finally:
        store.dispose()


def test_the_queue_order_is_read_from_an_index_without_sorting(store: Store) -> None:
    # lease_next_todo's order (priority first, ties by id): with many equal priorities a sort of the tied rows
    # cost seconds at 1M assets
    from sqlalchemy import text

    query = (
        "SELECT id FROM assets WHERE project_id = 1 AND status = 'TODO' "
        "ORDER BY priority DESC, id LIMIT 50"
    )
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            plan = " ".join(str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {query}")))
            assert "ix_assets_queue_order" in plan and "TEMP B-TREE" not in plan, plan
        else:
            conn.execute(text("SET enable_seqscan = off"))
            plan = " ".join(str(row[0]) for row in conn.execute(text(f"EXPLAIN {query}")))
            assert "ix_assets_queue_order" in plan and "Sort" not in plan, plan
