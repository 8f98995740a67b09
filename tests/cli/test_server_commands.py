"""The server-side CLI through typer's CliRunner on real databases: db upgrade, user/token/project create,
import (CSV/JSONL with column options), export, and the idempotent demo set-up."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from prelabel.cli.main import app
from prelabel.cli.server import DEMO_TITLE, demo_records, setup_demo
from prelabel.errors import Unauthenticated
from prelabel.service import assets, auth, projects
from prelabel.store.engine import Store

runner = CliRunner()

INTERFACE = {"jobs": [{"name": "JOB_0", "categories": [{"key": "DISASTER"}, {"key": "NOT_DISASTER"}]}]}


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def admin(store: Store) -> auth.Actor:
    user = auth.create_user(store, "admin", "password-123")
    return auth.Actor(user.id, user.username)


@pytest.fixture
def project_id(store: Store, admin: auth.Actor) -> int:
    return projects.create_project(store, admin, title="T", interface=INTERFACE).id


def test_db_upgrade_on_an_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    r = run("db", "check", "--database-url", url)
    assert r.exit_code == 1 and "prelabel db upgrade" in r.output
    r = run("db", "upgrade", "--database-url", url)
    assert r.exit_code == 0, r.output
    assert "Upgraded" in r.output
    r = run("db", "upgrade", "--database-url", url)
    assert r.exit_code == 0 and "up to date" in r.output
    assert run("db", "check", "--database-url", url).exit_code == 0
    store = Store(url)
    try:
        store.check_schema()
    finally:
        store.dispose()


def test_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    r = run("user", "create", "bob", "--password", "password-123", "--database-url", url)
    assert r.exit_code == 1 and "prelabel db upgrade" in r.output


def test_user_and_token_create(db_url: str, store: Store) -> None:
    r = run("user", "create", "carol", "--password", "password-123", "--superuser", "--database-url", db_url)
    assert r.exit_code == 0, r.output
    assert "Created user 'carol'" in r.output
    assert auth.get_user_by_name(store, "carol").is_superuser
    r = run("user", "create", "carol", "--password", "password-123", "--database-url", db_url)
    assert r.exit_code == 1 and "already exists" in r.output
    r = run("user", "create", "dave", "--password", "short", "--database-url", db_url)
    assert r.exit_code == 1 and "8 characters" in r.output
    # The password can come from the prompt (typed twice).
    r = runner.invoke(app, ["user", "create", "erin", "--database-url", db_url], input="password-456\npassword-456\n")
    assert r.exit_code == 0, r.output
    assert auth.authenticate_password(store, "erin", "password-456").username == "erin"

    r = run("token", "create", "carol", "--name", "ci", "--database-url", db_url)
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("pl_")
    assert auth.authenticate_token(store, token).username == "carol"
    r = run("token", "create", "nobody", "--database-url", db_url)
    assert r.exit_code == 1 and "No user named 'nobody'" in r.output


def test_project_create_from_an_interface_file(db_url: str, store: Store, admin: auth.Actor, tmp_path: Path) -> None:
    path = tmp_path / "interface.json"
    path.write_text(json.dumps(INTERFACE), encoding="utf-8")
    r = run(
        "project",
        "create",
        "--title",
        "Tweets",
        "--interface",
        str(path),
        "--user",
        "admin",
        "--database-url",
        db_url,
    )
    assert r.exit_code == 0, r.output
    pid = int(r.stdout.strip().splitlines()[-1])
    assert projects.get_project(store, admin, pid).title == "Tweets"
    r = run("project", "list", "--user", "admin", "--database-url", db_url)
    assert "Tweets" in r.stdout

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"jobs": [{"name": "J", "categories": [{"key": "A"}]}]}), encoding="utf-8")
    r = run(
        "project",
        "create",
        "--title",
        "Bad",
        "--interface",
        str(bad),
        "--user",
        "admin",
        "--database-url",
        db_url,
    )
    assert r.exit_code == 1 and "at least two categories" in r.output
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{nope", encoding="utf-8")
    r = run(
        "project",
        "create",
        "--title",
        "Bad",
        "--interface",
        str(garbage),
        "--user",
        "admin",
        "--database-url",
        db_url,
    )
    assert r.exit_code == 1 and "not a JSON file" in r.output
    assert len(projects.list_projects(store, admin)) == 1


def test_import_csv_and_jsonl_with_options(
    db_url: str, store: Store, admin: auth.Actor, project_id: int, tmp_path: Path
) -> None:
    csv_path = tmp_path / "tweets.csv"
    csv_path.write_text(
        'id,keyword,location,text\n1,fire,,"Forest fire, near town"\n2,,,"Just a\nday"\n', encoding="utf-8"
    )
    r = run(
        "import",
        str(csv_path),
        "--project",
        str(project_id),
        "--user",
        "admin",
        "--id-column",
        "id",
        "--metadata-column",
        "keyword",
        "--database-url",
        db_url,
    )
    assert r.exit_code == 0, r.output
    assert "2 created" in r.stdout
    got = assets.get_asset_by_external_id(store, admin, project_id, "1")
    assert got.content == "Forest fire, near town" and got.json_metadata == {"keyword": "fire"}
    assert assets.get_asset_by_external_id(store, admin, project_id, "2").content == "Just a\nday"

    r = run(
        "import",
        str(csv_path),
        "--project",
        str(project_id),
        "--user",
        "admin",
        "--id-column",
        "id",
        "--database-url",
        db_url,
    )
    assert r.exit_code == 1 and "--on-conflict skip" in r.output  # the CLI's spelling, not the API's
    r = run(
        "import",
        str(csv_path),
        "--project",
        str(project_id),
        "--user",
        "admin",
        "--id-column",
        "id",
        "--on-conflict",
        "skip",
        "--database-url",
        db_url,
    )
    assert r.exit_code == 0 and "2 skipped" in r.stdout

    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text("\n".join(json.dumps({"key": f"k{i}", "body": f"text {i}"}) for i in range(25)), encoding="utf-8")
    r = run(
        "import",
        str(jsonl),
        "--project",
        str(project_id),
        "--user",
        "admin",
        "--id-column",
        "key",
        "--text-column",
        "body",
        "--batch-size",
        "10",
        "--database-url",
        db_url,
    )
    assert r.exit_code == 0, r.output
    assert "25 created" in r.stdout
    assert projects.project_stats(store, admin, project_id).n_assets == 27


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("broken.csv", b'external_id,text\n1,"open\n', "Malformed CSV"),
        ("latin.csv", "external_id,text\n1,caf\u00e9\n".encode("latin-1"), "UTF-8"),
        ("nocol.csv", b"external_id,body\n1,x\n", "Missing column"),
        ("dupes.csv", b"external_id,text\n1,a\n1,b\n", "'1'"),
        ("blank.csv", b"external_id,text\n1,  \n", "empty"),
        ("notes.txt", b"hello", "--format"),
    ],
)
def test_bad_imports_exit_1_and_write_nothing(
    db_url: str,
    store: Store,
    admin: auth.Actor,
    project_id: int,
    tmp_path: Path,
    name: str,
    data: bytes,
    needle: str,
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    r = run("import", str(path), "--project", str(project_id), "--user", "admin", "--database-url", db_url)
    assert r.exit_code == 1
    assert needle in r.output
    assert projects.project_stats(store, admin, project_id).n_assets == 0


def test_export_to_file_and_stdout(
    db_url: str, store: Store, admin: auth.Actor, project_id: int, tmp_path: Path
) -> None:
    from prelabel.service.dto import AssetIn

    assets.import_assets(store, admin, project_id, [AssetIn(external_id=f"e{i}", content=f"t {i}") for i in range(3)])
    out = tmp_path / "out.jsonl"
    r = run(
        "export",
        "--project",
        str(project_id),
        "--user",
        "admin",
        "--output",
        str(out),
        "--database-url",
        db_url,
    )
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["external_id"] for row in rows] == ["e0", "e1", "e2"]
    r = run("export", "--project", str(project_id), "--user", "admin", "--format", "csv", "--database-url", db_url)
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0].startswith("external_id,content") and len(r.stdout.splitlines()) == 4
    assets.import_assets(store, admin, project_id, [AssetIn(external_id="f", content="=cmd|' /C calc'!A0")])
    args = ["export", "--project", str(project_id), "--user", "admin", "--format", "csv", "--database-url", db_url]
    assert "f,'=cmd|" in run(*args).stdout  # escaped by default
    r = run(*args, "--no-escape-formulas")
    assert r.exit_code == 0 and "f,=cmd|" in r.stdout
    r = run(*args[:-4], "--format", "jsonl", "--database-url", db_url)
    assert r.exit_code == 0 and '"content": "=cmd|' in r.stdout  # JSONL is never escaped
    r = run("export", "--project", "999", "--user", "admin", "--database-url", db_url)
    assert r.exit_code == 1 and "not found" in r.output


def test_demo_records_come_from_the_shipped_data() -> None:
    records = demo_records()
    assert len(records) == 7613 + 3263
    ids = [r.external_id for r in records]
    assert len(set(ids)) == len(ids)
    assert ids[0] == "train-1" and ids[-1].startswith("test-")
    assert records[0].label is None and all(r.label is None for r in records)
    with_keyword = next(r for r in records if "keyword" in r.json_metadata)
    assert "%20" not in with_keyword.json_metadata["keyword"]


def _train_targets() -> dict[str, str]:
    import csv
    from importlib.resources import files

    text = (files("prelabel") / "demo_data" / "train.csv").read_text(encoding="utf-8")
    return {f"train-{r['id']}": r["target"] for r in csv.DictReader(io.StringIO(text, newline=""))}


def test_demo_setup_is_idempotent(db_url: str, store: Store) -> None:
    first = setup_demo(store, password="demo-password-1")
    assert first["created"] == 10876 and first["n_assets"] == 10876
    actor = auth.authenticate_password(store, "admin", "demo-password-1")
    assert actor.is_superuser
    assert auth.authenticate_token(store, first["token"]).username == "admin"
    project = projects.get_project(store, actor, first["project_id"])
    assert project.title == DEMO_TITLE
    job = project.interface["jobs"][0]
    assert [(c["key"], c["hotkey"]) for c in job["categories"]] == [("DISASTER", "1"), ("NOT_DISASTER", "2")]
    # a question and a description per category, as a user would write them (zero-shot suggestions read them)
    assert job["instruction"] == "Is this tweet about a real disaster?"
    assert job["categories"][0]["description"].startswith("A tweet about a real disaster")
    assert "figure of speech" in job["categories"][1]["description"]
    stats = projects.project_stats(store, actor, first["project_id"])
    assert stats.n_labeled == 0  # the demo starts unlabeled

    # The queue starts with a spread sample, not the files' order (whose first ~50 tweets are all disasters).
    from prelabel.service import queue

    targets = _train_targets()
    served = []
    for _ in range(10):
        asset = queue.next_asset(store, actor, first["project_id"])
        assert asset is not None
        served.append(asset.external_id)
        queue.skip_asset(store, actor, first["project_id"], asset.id)
    assert served[:3] != ["train-1", "train-4", "train-5"]
    assert {targets.get(e) for e in served if e.startswith("train-")} == {"0", "1"}

    second = setup_demo(store, password="demo-password-2")
    assert second["project_id"] == first["project_id"]
    assert second["created"] == 0 and second["n_assets"] == 10876
    assert len(projects.list_projects(store, actor)) == 1
    assert auth.authenticate_password(store, "admin", "demo-password-2").username == "admin"


def test_demo_keeps_its_token_between_starts(db_url: str, store: Store, tmp_path: Path) -> None:
    token_file = tmp_path / "data" / "demo-token"
    first = setup_demo(store, password="pw-123456", token_file=token_file)
    assert token_file.read_text().strip() == first["token"] and token_file.stat().st_mode & 0o777 == 0o600
    actor = auth.authenticate_password(store, "admin", "pw-123456")
    _, browser = auth.create_session(store, actor, auth.ClientInfo("127.0.0.1", "pytest"), auth.SessionPolicy())
    second = setup_demo(store, password="pw-123456", token_file=token_file)
    assert second["token"] == first["token"]
    # the same password again keeps the admin's browser logged in; a new one ends its sessions
    assert auth.authenticate_session(store, browser, auth.SessionPolicy()).username == "admin"
    setup_demo(store, password="pw-654321", token_file=token_file)
    with pytest.raises(Unauthenticated):
        auth.authenticate_session(store, browser, auth.SessionPolicy())
    assert [t.name for t in auth.list_tokens(store, actor)] == ["demo"]
    # a revoked token is replaced, and the file follows
    auth.revoke_token(store, actor, auth.list_tokens(store, actor)[0].id)
    third = setup_demo(store, password="pw-123456", token_file=token_file)
    assert third["token"] != first["token"] and token_file.read_text().strip() == third["token"]
    assert auth.authenticate_token(store, third["token"]).username == "admin"


def test_project_create_takes_descriptions_and_the_question(
    db_url: str, store: Store, admin: auth.Actor, tmp_path: Path
) -> None:
    doc = {
        "jobs": {
            "JOB_0": {
                "instruction": "Is this message spam?",
                "content": {
                    "input": "radio",
                    "categories": {
                        "SPAM": {"name": "Spam", "description": "Unsolicited advertising, a scam or phishing"},
                        "HAM": {"name": "Ham", "description": "A message from someone the reader knows"},
                    },
                },
            }
        }
    }
    path = tmp_path / "interface.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    args = ("project", "create", "--interface", str(path), "--user", "admin", "--database-url", db_url)
    r = run(*args, "--title", "Spam")
    assert r.exit_code == 0, r.output
    job = projects.get_project(store, admin, int(r.stdout.strip().splitlines()[-1])).interface["jobs"][0]
    assert job["instruction"] == "Is this message spam?"
    assert [c["description"] for c in job["categories"]] == [
        "Unsolicited advertising, a scam or phishing",
        "A message from someone the reader knows",
    ]
    doc["jobs"]["JOB_0"]["content"]["categories"]["HAM"]["description"] = "h" * 1001
    path.write_text(json.dumps(doc), encoding="utf-8")
    r = run(*args, "--title", "Too long")
    assert r.exit_code == 1 and "category 'HAM'" in r.output and "job 'JOB_0'" in r.output


def test_an_older_demo_project_gets_the_descriptions_where_it_has_none(store: Store) -> None:
    from prelabel.cli.server import DEMO_INTERFACE, _fill_demo_descriptions

    user = auth.create_user(store, "admin", "correct horse battery", is_superuser=True)
    actor = auth.get_actor(store, user.id)
    old = json.loads(json.dumps(DEMO_INTERFACE))
    old["jobs"][0]["instruction"] = ""
    for c in old["jobs"][0]["categories"]:
        del c["description"]
    old["jobs"][0]["categories"][1]["description"] = "Written by someone"
    project = projects.create_project(store, actor, title=DEMO_TITLE, interface=old)
    _fill_demo_descriptions(store, actor, project.id, project.interface)
    job = projects.get_project(store, actor, project.id).interface["jobs"][0]
    assert job["instruction"] == DEMO_INTERFACE["jobs"][0]["instruction"]
    assert job["categories"][0]["description"] == DEMO_INTERFACE["jobs"][0]["categories"][0]["description"]
    assert job["categories"][1]["description"] == "Written by someone"  # kept


def test_demo_no_serve_prints_credentials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    r = run(
        "demo",
        "--no-serve",
        "--database-url",
        url,
        "--port",
        "8123",
        env={"PRELABEL_DEMO_PASSWORD": "hunter2-hunter2"},
    )
    assert r.exit_code == 0, r.output
    assert "http://127.0.0.1:8123/" in r.stdout and "hunter2-hunter2" in r.stdout
    assert "pl_" in r.stdout and "10876 tweets" in r.stdout


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    r = run("serve", "--database-url", url, "--no-worker", "--port", "1")
    assert r.exit_code == 1 and "prelabel db upgrade" in r.output
