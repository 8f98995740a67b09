"""`prelabel import` / `prelabel export` with Parquet files (format from the suffix or --format) and the id column
detected and named in the output; advice in the CLI's own spelling. typer's CliRunner on real databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from prelabel.cli.main import app
from prelabel.service import assets, auth, projects
from prelabel.store.engine import Store

pq = pytest.importorskip("pyarrow.parquet")
pa = pytest.importorskip("pyarrow")

runner = CliRunner()
INTERFACE = {"jobs": [{"name": "JOB_0", "categories": [{"key": "DISASTER"}, {"key": "NOT_DISASTER"}]}]}


@pytest.fixture
def admin(store: Store) -> auth.Actor:
    user = auth.create_user(store, "admin", "password-123")
    return auth.Actor(user.id, user.username)


@pytest.fixture
def project_id(store: Store, admin: auth.Actor) -> int:
    return projects.create_project(store, admin, title="T", interface=INTERFACE).id


def _import(path: Path, project_id: int, db_url: str, *options: str) -> Any:
    args = ["import", str(path), "--project", str(project_id), "--user", "admin", "--database-url", db_url, *options]
    return runner.invoke(app, args, catch_exceptions=False)


def _tickets_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tickets.csv"
    path.write_text("ticket_id,text\n" + "".join(f"T-{i},ticket text {i}\n" for i in range(5)), encoding="utf-8")
    return path


def test_a_ticket_id_column_is_taken_as_the_id_and_named(
    db_url: str, store: Store, admin: auth.Actor, project_id: int, tmp_path: Path
) -> None:
    r = _import(_tickets_csv(tmp_path), project_id, db_url)
    assert r.exit_code == 0, r.output
    assert "5 created" in r.stdout
    assert "External ids from column 'ticket_id', detected as the only column whose name ends in '_id'" in r.stdout
    assert assets.get_asset_by_external_id(store, admin, project_id, "T-4").content == "ticket text 4"
    again = _import(_tickets_csv(tmp_path), project_id, db_url)
    assert again.exit_code == 1
    assert "--on-conflict skip" in again.output and "on_conflict" not in again.output


def test_ids_after_text_ids_are_refused_with_cli_advice(
    db_url: str, store: Store, admin: auth.Actor, project_id: int, tmp_path: Path
) -> None:
    texts = tmp_path / "texts.csv"
    texts.write_text("text\n" + "".join(f"ticket text {i}\n" for i in range(5)), encoding="utf-8")
    r = _import(texts, project_id, db_url)
    assert r.exit_code == 0 and "External ids made from each text: the file has no id column" in r.stdout
    r = _import(_tickets_csv(tmp_path), project_id, db_url, "--id-column", "ticket_id")
    assert r.exit_code == 1
    assert "--ids-from-text" in r.output and "--allow-duplicate-texts" in r.output
    assert assets.count_assets(store, admin, project_id) == 5  # no duplicates
    r = _import(_tickets_csv(tmp_path), project_id, db_url, "--ids-from-text", "--on-conflict", "skip")
    assert r.exit_code == 0 and "0 created" in r.stdout and "5 skipped" in r.stdout


def test_several_id_candidates_ask_for_one(db_url: str, project_id: int, tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("text,ticket_id,user_id\nhello,1,2\n", encoding="utf-8")
    r = _import(path, project_id, db_url)
    assert r.exit_code == 1 and "--id-column NAME" in r.output and "['ticket_id', 'user_id']" in r.output


def test_parquet_in_and_out_by_suffix(
    db_url: str, store: Store, admin: auth.Actor, project_id: int, tmp_path: Path
) -> None:
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["first", "second"], "n": [1, 2]}), src)
    r = _import(src, project_id, db_url)
    assert r.exit_code == 0, r.output
    assert "2 created" in r.stdout and "column 'id'" in r.stdout
    assert assets.get_asset_by_external_id(store, admin, project_id, "b").json_metadata == {"n": 2}

    out = tmp_path / "out.parquet"
    args = ["export", "--project", str(project_id), "--user", "admin", "--database-url", db_url, "-o", str(out)]
    r = runner.invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert sorted(pq.read_table(out).column("external_id").to_pylist()) == ["a", "b"]
    assert not out.with_name("out.parquet.part").exists()

    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    r = _import(bad, project_id, db_url)
    assert r.exit_code == 1 and "not a readable Parquet file" in r.output
    r = _import(src.rename(tmp_path / "in.data"), project_id, db_url, "--format", "parquet", "--on-conflict", "skip")
    assert r.exit_code == 0 and "2 skipped" in r.stdout
