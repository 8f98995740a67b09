"""Server-side commands: ``serve``, ``demo``, ``db upgrade``, ``user create``, ``token create``,
``project create``, ``import``, ``export``.

They talk to the database directly through the service layer (``--database-url`` or ``PRELABEL_DATABASE_URL``;
default: a SQLite file in ``~/.local/share/prelabel``), acting as the user named by ``--user`` (or
``PRELABEL_USER``), whose project role is checked as over the API. Heavy imports stay inside the commands.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from prelabel.config import Settings
    from prelabel.service.auth import Actor
    from prelabel.service.dto import AssetIn, ImportResult
    from prelabel.store.engine import Store

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEMO_TITLE = "Disaster tweets"
DEMO_USER = "admin"
DEMO_PASSWORD_ENV = "PRELABEL_DEMO_PASSWORD"
DEMO_TOKEN_FILE = "demo-token"  # in the data dir, beside the default SQLite file
DEMO_SEED = 7
DEMO_INTERFACE: dict[str, Any] = {
    "jobs": [
        {
            "name": "JOB_0",
            "input": "single",
            "instruction": "Is this tweet about a real disaster?",
            "categories": [
                {
                    "key": "DISASTER",
                    "name": "Disaster",
                    "hotkey": "1",
                    "description": "A tweet about a real disaster, accident or emergency: a fire, flood, "
                    "earthquake, storm, crash, explosion or attack that is happening or just happened.",
                },
                {
                    "key": "NOT_DISASTER",
                    "name": "Not a disaster",
                    "hotkey": "2",
                    "description": "Anything else, including disaster words used as a figure of speech "
                    "(\"this song is fire\", \"my exam was a disaster\"), jokes, films, games and ads.",
                },
            ],
        }
    ]
}
DEMO_DESCRIPTION = (
    "Kaggle 'Natural Language Processing with Disaster Tweets' (train + test texts, labels not imported). "
    "Label a few tweets and watch the AutoML pre-annotations appear."
)

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="PRELABEL_DATABASE_URL",
        show_envvar=True,
        help="SQLAlchemy URL (default: a SQLite file in the data dir; PostgreSQL: postgresql+psycopg://…).",
    ),
]
UserOpt = Annotated[
    str, typer.Option("--user", "-u", envvar="PRELABEL_USER", show_envvar=True, help="Act as this user.")
]
ProjectOpt = Annotated[int, typer.Option("--project", "-p", help="Project id.")]
# The server's settings hear of the address too: off loopback the session cookie is Secure (config.py).
HostOpt = Annotated[str, typer.Option(envvar="PRELABEL_HOST", show_envvar=True, help="Interface to listen on.")]


# --- plumbing -------------------------------------------------------------------------------------
def _settings(database_url: str | None, **overrides: Any) -> Settings:
    from prelabel.config import Settings

    values = {k: v for k, v in overrides.items() if v is not None}
    if database_url:
        values["database_url"] = database_url
    try:
        return Settings(**values)
    except ValueError as exc:
        _fail(str(exc))


def _fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code)


@contextmanager
def _store(database_url: str | None, *, check: bool = True) -> Iterator[Store]:
    """A Store for one command; prelabel errors become a red message and exit code 1."""
    from prelabel.errors import PrelabelError
    from prelabel.store.engine import Store

    settings = _settings(database_url)
    store = Store(settings.database_url)
    try:
        if check:
            store.check_schema()
        yield store
    except PrelabelError as exc:
        _fail(exc.message)
    finally:
        store.dispose()


def _actor(store: Store, username: str) -> Actor:
    from prelabel.service.auth import Actor, get_user_by_name

    user = get_user_by_name(store, username)
    return Actor(user_id=user.id, username=user.username, is_superuser=user.is_superuser)


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic logs every plugin and migration step at INFO; keep start-up output readable.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))


def _start_worker(settings: Settings) -> Any:
    """The background trainer: one worker process with a `.stop()` handle."""
    from prelabel.worker.process import start_background_worker

    return start_background_worker(settings)


def _run_server(settings: Settings, store: Store, host: str, port: int, *, worker: bool) -> None:
    import uvicorn

    from prelabel.api.app import create_app

    app = create_app(settings, store=store)
    handle = _start_worker(settings) if worker else None
    # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal to the handler that was installed
    # before it; with the default handler the process would die there and `finally` would never stop the
    # trainer processes. Turning SIGTERM into SystemExit lets the cleanup below run.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), proxy_headers=False)
    finally:
        if handle is not None:
            handle.stop()
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


# --- serve / demo ---------------------------------------------------------------------------------
def serve(
    host: HostOpt = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="TCP port.")] = DEFAULT_PORT,
    database_url: DatabaseOpt = None,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run the background trainer (PRELABEL_RUN_WORKER).")
    ] = True,
    upgrade: Annotated[bool, typer.Option("--upgrade", help="Run `db upgrade` before serving.")] = False,
) -> None:
    """Serve the REST API (/api/v1, /docs), the browser UI and, by default, the background trainer."""
    settings = _settings(database_url, host=host)
    _setup_logging(settings.log_level)
    with _store(settings.database_url, check=False) as store:
        if upgrade:
            store.upgrade()
        store.check_schema()
        console.print(f"prelabel on [bold]http://{host}:{port}/[/]  (API docs: http://{host}:{port}/docs)")
        _run_server(settings, store, host, port, worker=worker and settings.run_worker)


def demo(
    host: HostOpt = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="TCP port.")] = DEFAULT_PORT,
    database_url: DatabaseOpt = None,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="Run the background trainer.")] = True,
    serve_: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the server after setting up (default).")
    ] = True,
) -> None:
    """Set up the demo (database, admin, token, 'Disaster tweets' project with 10,876 tweets) and serve.

    Idempotent: running it again keeps the project and its labels. The admin's password is
    PRELABEL_DEMO_PASSWORD or a new random one, printed below."""
    settings = _settings(database_url, host=host)
    _setup_logging(settings.log_level)
    with _store(settings.database_url, check=False) as store:
        store.upgrade()
        token_file = settings.data_dir / DEMO_TOKEN_FILE
        info = setup_demo(store, password=os.environ.get(DEMO_PASSWORD_ENV), token_file=token_file)
        url = f"http://{host}:{port}/"
        out.print()
        out.print("[bold green]prelabel demo is ready[/]")
        out.print(f"  URL:       [bold]{url}[/]   (API docs: {url}docs)")
        out.print(f"  user:      [bold]{DEMO_USER}[/]")
        out.print(f"  password:  [bold]{info['password']}[/]")
        out.print(f"  API token: [bold]{info['token']}[/]")
        out.print(f"  project:   {DEMO_TITLE!r} (id {info['project_id']}, {info['n_assets']} tweets)")
        out.print(f"  database:  {store.safe_url()}")
        out.print()
        out.print("  SDK:  from prelabel import Client")
        out.print(f"        client = Client({url!r}, token={info['token']!r})")
        out.print(f"        client.assets({info['project_id']}, first=5)")
        out.print(
            f"  Example loop: python examples/original_workflow.py --url {url} --token {info['token']} "
            f"--project {info['project_id']}"
        )
        out.print()
        if serve_:
            _run_server(settings, store, host, port, worker=worker and settings.run_worker)


def demo_records() -> list[AssetIn]:
    """The shipped tweets as assets: ids ``train-<id>`` / ``test-<id>``, keyword and location as metadata,
    no labels."""
    import csv
    import io
    from importlib.resources import files
    from urllib.parse import unquote

    from prelabel.service.dto import AssetIn

    records: list[AssetIn] = []
    data_dir = files("prelabel") / "demo_data"
    for split in ("train", "test"):
        text = (data_dir / f"{split}.csv").read_text(encoding="utf-8")
        for row in csv.DictReader(io.StringIO(text, newline="")):
            meta: dict[str, Any] = {"split": split}
            if row.get("keyword"):
                meta["keyword"] = unquote(row["keyword"])
            if row.get("location"):
                meta["location"] = row["location"]
            records.append(
                AssetIn(external_id=f"{split}-{row['id']}", content=row["text"], json_metadata=meta)
            )
    return records


def setup_demo(store: Store, *, password: str | None = None, token_file: Path | None = None) -> dict[str, Any]:
    """Idempotently create the demo admin (superuser), its API token and the demo project with its tweets.

    The token is kept in ``token_file`` (readable by its owner only) and reused while it is valid for this
    database, so each start does not add another token. Returns ``{"password", "token", "project_id",
    "n_assets", "created"}``."""
    from prelabel.errors import NotFound
    from prelabel.service import assets, auth, projects

    password = password or secrets.token_urlsafe(12)
    try:
        auth.get_user_by_name(store, DEMO_USER)
    except NotFound:
        auth.create_user(store, DEMO_USER, password, is_superuser=True)
    else:
        _keep_or_set_password(store, password)
    actor = _actor(store, DEMO_USER)
    token = _demo_token(store, actor, token_file)
    existing = [p for p in projects.list_projects(store, actor) if p.title == DEMO_TITLE]
    if existing:
        project_id = existing[0].id
        _fill_demo_descriptions(store, actor, existing[0].id, existing[0].interface)
    else:
        project_id = projects.create_project(
            store, actor, title=DEMO_TITLE, description=DEMO_DESCRIPTION, interface=DEMO_INTERFACE
        ).id
    result = assets.import_assets(store, actor, project_id, demo_records(), on_conflict="skip")
    if result.created:
        _shuffle_cold_start(store, project_id)
    stats = projects.project_stats(store, actor, project_id)
    return {
        "password": password,
        "token": token,
        "project_id": project_id,
        "n_assets": stats.n_assets,
        "created": result.created,
    }


def _demo_token(store: Store, actor: Actor, token_file: Path | None) -> str:
    from prelabel.errors import Unauthenticated
    from prelabel.service import auth

    if token_file is not None and token_file.is_file():
        kept = token_file.read_text(encoding="utf-8").strip()
        try:
            if auth.authenticate_token(store, kept).user_id == actor.user_id:
                return kept
        except Unauthenticated:
            pass  # revoked, or made for another database: make a new one
    _, token = auth.create_token(store, actor, "demo")
    if token_file is not None:
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.touch(mode=0o600)
        token_file.chmod(0o600)
        token_file.write_text(token + "\n", encoding="utf-8")
    return token


def _fill_demo_descriptions(store: Store, actor: Actor, project_id: int, interface: dict[str, Any]) -> None:
    """A demo project made before categories had descriptions gets the demo's question and descriptions
    where its own are empty (what someone wrote is kept)."""
    from prelabel.service import projects

    wanted = {j["name"]: j for j in DEMO_INTERFACE["jobs"]}
    doc = json.loads(json.dumps(interface))
    changed = False
    for job in doc.get("jobs", []):
        demo_job = wanted.get(job.get("name"))
        if demo_job is None:
            continue
        if not job.get("instruction") and demo_job.get("instruction"):
            job["instruction"], changed = demo_job["instruction"], True
        demo_cats = {c["key"]: c for c in demo_job["categories"]}
        for cat in job.get("categories", []):
            demo_cat = demo_cats.get(cat.get("key"))
            if demo_cat is not None and not cat.get("description") and demo_cat.get("description"):
                cat["description"], changed = demo_cat["description"], True
    if changed:
        projects.update_project(store, actor, project_id, interface=doc)


def _shuffle_cold_start(store: Store, project_id: int) -> None:
    """Serve the first tweets in a seeded random order. Every import already gives new assets random priorities
    (project setting `queue_initial_order`; the files are sorted, their first ~50 tweets all disasters); the
    demo re-draws them from a fixed seed so that every demo starts with the same tweets. The import's prepare
    job then moves ten representative tweets in front (the "diverse" order, once the background worker has
    encoded them), and the trainer replaces all of it with active-learning priorities after its first model."""
    import random

    from prelabel.service import assets, queue

    rng = random.Random(DEMO_SEED)
    ids = [a.id for a in assets.iter_assets(store, project_id)]
    queue.set_priorities(store, project_id, [(asset_id, rng.random()) for asset_id in ids])


def _keep_or_set_password(store: Store, password: str) -> None:
    """Setting a password ends the user's sessions: a restart with the same PRELABEL_DEMO_PASSWORD keeps them."""
    from prelabel.errors import Unauthenticated
    from prelabel.service import auth

    try:
        auth.authenticate_password(store, DEMO_USER, password)
    except Unauthenticated:
        _set_password(store, DEMO_USER, password)


def _set_password(store: Store, username: str, password: str) -> None:
    """Reset the demo admin's password (demo only: its password is printed at every start)."""
    from prelabel.service.auth import MIN_PASSWORD_LENGTH, set_password

    if len(password) < MIN_PASSWORD_LENGTH:
        _fail(f"{DEMO_PASSWORD_ENV} must have at least {MIN_PASSWORD_LENGTH} characters.")
    set_password(store, username, password)


# --- db -------------------------------------------------------------------------------------------
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseOpt = None) -> None:
    """Create or migrate the database schema to this version of prelabel."""
    from prelabel.store.migrate import current_revision

    with _store(database_url, check=False) as store:
        before = current_revision(store.engine)
        store.upgrade()
        after = current_revision(store.engine)
        if before == after:
            out.print(f"Database {store.safe_url()} is up to date (revision {after}).")
        else:
            out.print(f"Upgraded {store.safe_url()} from {before or 'empty'} to revision {after}.")


@db_app.command("check")
def db_check(database_url: DatabaseOpt = None) -> None:
    """Exit 0 if the schema is up to date, else print what to run and exit 1."""
    with _store(database_url) as store:
        out.print(f"Database {store.safe_url()} is up to date.")


# --- users and tokens -----------------------------------------------------------------------------
user_app = typer.Typer(help="Users.", no_args_is_help=True)


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="PRELABEL_PASSWORD",
            help="At least 8 characters (prompted when not given).",
        ),
    ],
    superuser: Annotated[
        bool, typer.Option("--superuser", help="Sees and administers every project.")
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a user who can log in to the UI and create API tokens."""
    from prelabel.service.auth import create_user

    with _store(database_url) as store:
        user = create_user(store, username, password, is_superuser=superuser)
        out.print(
            f"Created user {user.username!r} (id {user.id}{', superuser' if user.is_superuser else ''})."
        )


@user_app.command("password")
def user_password(
    username: Annotated[str, typer.Argument(help="The user whose password to set.")],
    password: Annotated[
        str,
        typer.Option(
            prompt="New password",
            hide_input=True,
            confirmation_prompt=True,
            envvar="PRELABEL_PASSWORD",
            help="At least 8 characters (prompted, hidden, when not given).",
        ),
    ],
    database_url: DatabaseOpt = None,
) -> None:
    """Set a user's password; every browser session of the user ends and their login delays are cleared."""
    from prelabel.service.auth import set_password

    with _store(database_url) as store:
        ended = set_password(store, username, password)
        out.print(f"Password of {username!r} set; {ended} browser session(s) ended.")


def _set_active(username: str, active: bool, database_url: str | None) -> None:
    from prelabel.service.auth import COMMAND_LINE, set_user_active

    with _store(database_url) as store:
        user = set_user_active(store, COMMAND_LINE, _actor(store, username).user_id, active)
        state = "active" if user.is_active else "deactivated: its sessions ended and its API tokens are refused"
        out.print(f"User {user.username!r} is {state}.")


@user_app.command("deactivate")
def user_deactivate(
    username: Annotated[str, typer.Argument(help="The user to deactivate.")], database_url: DatabaseOpt = None
) -> None:
    """Deactivate a user: every browser session ends, logins and API tokens are refused until `activate`."""
    _set_active(username, False, database_url)


@user_app.command("activate")
def user_activate(
    username: Annotated[str, typer.Argument(help="The user to activate.")], database_url: DatabaseOpt = None
) -> None:
    """Activate a deactivated user again (their old sessions stay ended)."""
    _set_active(username, True, database_url)


@user_app.command("sessions")
def user_sessions(
    username: Annotated[str, typer.Argument(help="Whose browser sessions.")],
    end: Annotated[bool, typer.Option("--end", help="End every session of the user.")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """List a user's browser sessions (newest first), or end them all with --end."""
    from rich.table import Table

    from prelabel.service.auth import COMMAND_LINE, end_sessions, list_sessions

    with _store(database_url) as store:
        user_id = _actor(store, username).user_id
        if end:
            out.print(f"Ended {end_sessions(store, COMMAND_LINE, user_id)} session(s) of {username!r}.")
            return
        table = Table("id", "state", "created (UTC)", "last seen (UTC)", "address", "browser")
        for r in list_sessions(store, COMMAND_LINE, user_id):
            state = "active" if r.active else ("ended" if r.revoked_at else "expired")
            when = (f"{r.created_at:%Y-%m-%d %H:%M}", f"{r.last_seen_at:%Y-%m-%d %H:%M}")
            table.add_row(str(r.id), state, *when, r.client_address, r.user_agent)
        out.print(table)


token_app = typer.Typer(help="API tokens.", no_args_is_help=True)


@token_app.command("create")
def token_create(
    username: Annotated[str, typer.Argument(help="The token's user.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    database_url: DatabaseOpt = None,
) -> None:
    """Create an API token and print it (only once: store it now). Prints only the token on stdout."""
    from prelabel.service.auth import create_token

    with _store(database_url) as store:
        token, secret = create_token(store, _actor(store, username), name)
        console.print(f"Created API token {token.name!r} (id {token.id}) for {username!r}; it is shown once:")
        out.print(secret)


# --- projects -------------------------------------------------------------------------------------
project_app = typer.Typer(help="Projects.", no_args_is_help=True)


@project_app.command("create")
def project_create(
    title: Annotated[str, typer.Option(help="Project title.")],
    interface: Annotated[
        Path,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="JSON file: the interface (jobs with their question, 'instruction', and categories with an "
            "optional 'description'), in our shape or the original jsonInterface shape.",
        ),
    ],
    user: UserOpt,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    database_url: DatabaseOpt = None,
) -> None:
    """Create a project from an interface file; the user becomes its admin. Prints the new project's id."""
    from prelabel.service.projects import create_project

    try:
        doc = json.loads(interface.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(f"{interface} is not a JSON file: {exc}")
    if not isinstance(doc, dict):
        _fail(f'{interface} must hold a JSON object like {{"jobs": [...]}}.')
    with _store(database_url) as store:
        project = create_project(
            store, _actor(store, user), title=title, description=description, interface=doc
        )
        console.print(f"Created project {project.title!r} with id:")
        out.print(project.id)


@project_app.command("list")
def project_list(user: UserOpt, database_url: DatabaseOpt = None) -> None:
    """The user's projects."""
    from rich.table import Table

    from prelabel.service.projects import list_projects

    with _store(database_url) as store:
        table = Table("id", "title", "role", "created")
        for p in list_projects(store, _actor(store, user)):
            table.add_row(str(p.id), p.title, str(p.role), p.created_at.strftime("%Y-%m-%d %H:%M"))
        out.print(table)


# --- import / export ------------------------------------------------------------------------------
ImportFormat = Literal["csv", "jsonl", "json", "parquet", "label-studio"]


def _format_of(path: Path, fmt: str | None) -> ImportFormat:
    if fmt:
        if fmt not in ("csv", "jsonl", "json", "parquet", "label-studio"):
            _fail(f"Unknown format {fmt!r}; use csv, jsonl, json, parquet or label-studio.")
        return fmt  # type: ignore[return-value]
    from prelabel.service.importing import SUFFIX_FORMATS

    found = SUFFIX_FORMATS.get(path.suffix.lower().lstrip("."))
    if found is None:
        _fail(f"Cannot tell the format of {path.name}; pass --format csv|jsonl|json|parquet.")
    return found


def import_file(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV, JSONL, JSON or Parquet file.")
    ],
    project: ProjectOpt,
    user: UserOpt,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="csv | jsonl | json | parquet | label-studio (Label Studio JSON; default: from the suffix: .csv, "
            ".jsonl/.ndjson, .json, .parquet/.pq).",
        ),
    ] = None,
    text_column: Annotated[str, typer.Option(help="Column holding the text.")] = "text",
    id_column: Annotated[
        str | None,
        typer.Option(
            help="Column holding the external id (default: external_id, else id, else the one *_id column; "
            "several *_id columns must be chosen; none: ids made from each text)."
        ),
    ] = None,
    ids_from_text: Annotated[
        bool, typer.Option("--ids-from-text", help="Make the ids from each text even if the file has ids.")
    ] = False,
    allow_duplicate_texts: Annotated[
        bool,
        typer.Option(
            "--allow-duplicate-texts",
            help="Import texts already in the project under an id of the other kind (made from the text vs "
            "from a column) as second assets instead of refusing.",
        ),
    ] = False,
    metadata_column: Annotated[
        list[str] | None,
        typer.Option(help="Column kept as metadata (repeatable; default: all other columns)."),
    ] = None,
    honeypot_column: Annotated[str | None, typer.Option(help="Column marking honeypots (1/true).")] = None,
    label_column: Annotated[
        str | None, typer.Option(help="Column with an initial label (category key).")
    ] = None,
    on_conflict: Annotated[
        str, typer.Option(help="What to do with external ids already in the project: error | skip | update.")
    ] = "error",
    batch_size: Annotated[
        int,
        typer.Option(help="Assets per transaction; 0 = the whole file in one transaction (all or nothing)."),
    ] = 0,
    database_url: DatabaseOpt = None,
) -> None:
    """Import assets from a CSV / JSONL / JSON / Parquet file, with a progress bar."""
    from prelabel.domain import parse_interface
    from prelabel.service.importing import parse_file
    from prelabel.service.projects import get_project
    from prelabel.service.spelling import CLI

    if on_conflict not in ("error", "skip", "update"):
        _fail(f"--on-conflict must be error, skip or update; got {on_conflict!r}.")
    fmt_ = _format_of(file, fmt)
    if fmt_ == "label-studio":
        return _import_label_studio(file, project, user, on_conflict, database_url)
    with _store(database_url) as store:
        actor = _actor(store, user)
        proj = get_project(store, actor, project)
        with _import_progress() as progress:
            parsed = parse_file(
                _read_with_progress(file, progress),
                fmt=fmt_,
                text_column=text_column,
                id_column=id_column,
                ids_from_text=ids_from_text,
                metadata_columns=metadata_column or None,
                honeypot_column=honeypot_column,
                label_column=label_column,
                interface=parse_interface(proj.interface),
                spelling=CLI,
            )
            totals = _import_batches(
                store, actor, project, parsed.records, progress, batch_size,
                on_conflict=on_conflict, allow_duplicate_texts=allow_duplicate_texts,
            )  # fmt: skip
    out.print(
        f"Imported {file.name} into project {project}: {totals['created']} created, "
        f"{totals['updated']} updated, "
        f"{totals['skipped']} skipped, {totals['labels_created']} labels."
    )
    out.print(_ids_sentence(parsed.id_column, parsed.id_detected, parsed.id_reason))


def _ids_sentence(column: str | None, detected: bool, reason: str) -> str:
    if column is None and reason.startswith("no id column"):
        return (
            "External ids made from each text: the file has no id column (external_id, id or a single *_id "
            "column); name one with --id-column."
        )
    if column is None:
        return "External ids made from each text (--ids-from-text)."
    if detected:
        return f"External ids from column {column!r}, detected as {reason}; choose another with --id-column."
    return f"External ids from column {column!r}."


def _import_progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _read_with_progress(file: Path, progress: Any) -> bytes:
    read_task = progress.add_task("reading", total=file.stat().st_size)
    chunks = []
    with open(file, "rb") as fh:
        while chunk := fh.read(1 << 20):
            chunks.append(chunk)
            progress.advance(read_task, len(chunk))
    return b"".join(chunks)


def _import_batches(
    store: Store,
    actor: Actor,
    project: int,
    records: list[AssetIn],
    progress: Any,
    batch_size: int,
    **options: Any,
) -> dict[str, int]:
    from prelabel.service.assets import import_assets
    from prelabel.service.spelling import CLI

    step = batch_size if batch_size > 0 else len(records)
    task = progress.add_task("importing", total=len(records))
    totals = {"created": 0, "updated": 0, "skipped": 0, "labels_created": 0}
    for start in range(0, len(records), step):
        batch = records[start : start + step]
        result: ImportResult = import_assets(store, actor, project, batch, spelling=CLI, **options)
        for key in totals:
            totals[key] += getattr(result, key)
        progress.advance(task, len(batch))
    return totals


def _import_label_studio(file: Path, project: int, user: str, on_conflict: str, database_url: str | None) -> None:
    """`prelabel import --format label-studio`: the tasks with their annotations in one transaction, then their
    predictions."""
    from prelabel.service.label_studio_json import import_tasks

    with _store(database_url) as store:
        result = import_tasks(store, _actor(store, user), project, file.read_bytes(), on_conflict=on_conflict)  # type: ignore[arg-type]
    out.print(
        f"Imported {file.name} into project {project}: {result.created} created, {result.updated} updated, "
        f"{result.skipped} skipped, {result.labels_created} labels."
    )


def export(
    project: ProjectOpt,
    user: UserOpt,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="jsonl | csv | parquet | label-studio (a JSON array of Label Studio tasks); default: from the "
            "--output suffix (.jsonl, .csv, .parquet), else jsonl.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    escape_formulas: Annotated[
        bool,
        typer.Option(
            "--escape-formulas/--no-escape-formulas",
            help="CSV: prefix cells a spreadsheet would run as formulas (= + - @ …) with ', which the CSV import "
            "removes again; --no-escape-formulas writes them verbatim. Other formats are never escaped.",
        ),
    ] = True,
    database_url: DatabaseOpt = None,
) -> None:
    """Export every asset with its latest labels and current prediction (streamed)."""
    from prelabel.service.assets import export_assets
    from prelabel.service.importing import SUFFIX_FORMATS

    if fmt is None:
        guessed = SUFFIX_FORMATS.get(output.suffix.lower().lstrip(".")) if output is not None else None
        fmt = guessed if guessed in ("csv", "jsonl", "parquet") else "jsonl"
    if fmt not in ("csv", "jsonl", "parquet", "label-studio"):
        _fail(f"--format must be csv, jsonl, parquet or label-studio; got {fmt!r}.")
    with _store(database_url) as store:
        actor = _actor(store, user)
        if fmt == "label-studio":
            from prelabel.service.label_studio_json import export_tasks

            stream = export_tasks(store, actor, project)
        else:
            stream = export_assets(store, actor, project, fmt, escape_formulas=escape_formulas)  # type: ignore[arg-type]
        n = 0
        if output is None:
            for chunk in stream:
                sys.stdout.buffer.write(chunk)
                n += len(chunk)
            sys.stdout.buffer.flush()
        else:
            # written beside it, then renamed: a failed export never leaves a truncated file under the name
            part = output.with_name(output.name + ".part")
            try:
                with open(part, "wb") as fh:
                    for chunk in stream:
                        fh.write(chunk)
                        n += len(chunk)
                part.replace(output)
            finally:
                part.unlink(missing_ok=True)
            console.print(f"Wrote {n} bytes to {output}.")


def register(app: typer.Typer) -> None:
    """Add the server-side commands to the `prelabel` app."""
    app.command("serve")(serve)
    app.command("demo")(demo)
    app.command("import")(import_file)
    app.command("export")(export)
    app.add_typer(db_app, name="db")
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
    app.add_typer(project_app, name="project")
