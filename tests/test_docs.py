"""The reference docs are checked against the code, and every relative link in the docs resolves.

A setting, environment variable, project setting, CLI command or option, API route, UI route or SDK method that
the code has and docs/reference/ (or docs/ui.md) lacks fails here, naming what to add and where; so does a page
that documents a command, route or method the code no longer has. Nothing here starts a server: the API's
routes come from the app `create_app` builds on an empty SQLite file.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from prelabel import Client
from prelabel.cli.main import app as cli_app
from prelabel.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "prelabel"
CONFIGURATION = DOCS / "reference" / "configuration.md"
CLI = DOCS / "reference" / "cli.md"
REST = DOCS / "reference" / "rest.md"
SDK = DOCS / "reference" / "sdk.md"
UI = DOCS / "ui.md"
INDEX = DOCS / "index.md"

HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _without_code_blocks(text: str) -> str:
    return re.sub(r"^[ \t]*```.*?^[ \t]*```", "", text, flags=re.S | re.M)


def _headings(text: str) -> list[str]:
    return [line for line in _without_code_blocks(text).splitlines() if line.startswith("#")]


def _sections(text: str, level: int) -> dict[str, str]:
    """Heading text (without the #s) → the text up to the next heading of the same or a higher level."""
    out: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in _without_code_blocks(text).splitlines():
        m = re.match(r"^(#+) (.*)$", line)
        if m and len(m.group(1)) <= level:
            if current is not None:
                out[current] = "\n".join(lines)
            current = m.group(2).strip() if len(m.group(1)) == level else None
            lines = []
        elif current is not None:
            lines.append(line)
    if current is not None:
        out[current] = "\n".join(lines)
    return out


# --- configuration ---------------------------------------------------------------------------------------------
def _env_prefix() -> str:
    return str(Settings.model_config.get("env_prefix", ""))


def test_every_setting_is_documented() -> None:
    text = _read(CONFIGURATION)
    rows = {m.group(1) for m in re.finditer(r"^\| `([A-Z0-9_]+)` \|", text, flags=re.M)}
    names = [f"{_env_prefix()}{name}".upper() for name in Settings.model_fields]
    assert names, "Settings has no fields?"
    missing = [n for n in names if n not in rows]
    assert missing == [], f"add a row '| `NAME` | default | meaning |' to {CONFIGURATION.name} for: {missing}"


def _package_env_vars() -> set[str]:
    """Every PRELABEL_* name written in the package's source (os.environ lookups, typer envvars, constants)."""
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        found.update(re.findall(r"\bPRELABEL_[A-Z][A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    return found


def _cli_env_vars() -> set[str]:
    out: set[str] = set()
    for _, command in _cli_commands():
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            if isinstance(envvar, str):
                out.add(envvar)
            elif envvar:
                out.update(envvar)
    return out


def test_every_environment_variable_is_documented() -> None:
    text = _read(CONFIGURATION)
    names = _package_env_vars() | _cli_env_vars()
    assert "PRELABEL_CACHE_DIR" in names and "PRELABEL_USER" in names, "the source scan found nothing"
    missing = sorted(n for n in names if f"`{n}`" not in text)
    assert missing == [], f"document these environment variables in {CONFIGURATION.name}: {missing}"


def test_every_project_setting_is_documented() -> None:
    from prelabel.service.projects import PROJECT_SETTINGS

    section = _sections(_read(CONFIGURATION), 2).get("Project settings", "")
    rows = {m.group(1) for m in re.finditer(r"^\| `([a-z0-9_]+)` \|", section, flags=re.M)}
    missing = [k for k in PROJECT_SETTINGS if k not in rows]
    assert missing == [], f"add rows to '## Project settings' of {CONFIGURATION.name} for: {missing}"
    stale = sorted(rows - set(PROJECT_SETTINGS))
    assert stale == [], f"{CONFIGURATION.name} documents project settings that do not exist: {stale}"


# --- command line ----------------------------------------------------------------------------------------------
def _cli_commands() -> Iterator[tuple[str, Any]]:
    """(path, command) of every leaf command (typer may vendor its own click, so groups are duck-typed)."""

    def walk(command: Any, prefix: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
        if hasattr(command, "list_commands"):
            ctx = command.context_class(command)
            for name in command.list_commands(ctx):
                yield from walk(command.get_command(ctx, name), (*prefix, name))
        else:
            yield " ".join(prefix), command

    yield from walk(typer.main.get_command(cli_app), ())


def _cli_sections() -> dict[str, str]:
    out = {}
    for heading, body in _sections(_read(CLI), 3).items():
        m = re.fullmatch(r"`prelabel ([a-z][a-z -]*)`", heading)
        if m:
            out[m.group(1)] = body
    return out


def test_every_command_and_option_is_documented() -> None:
    sections = _cli_sections()
    commands = dict(_cli_commands())
    assert {"serve", "demo", "worker", "import", "db upgrade"} <= set(commands)
    problems = []
    for path, command in commands.items():
        body = sections.get(path)
        if body is None:
            problems.append(f"no section '### `prelabel {path}`'")
            continue
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            if type(param).__name__.endswith("Argument"):
                names = [str(param.name).upper()]
            else:
                names = [*param.opts, *param.secondary_opts]
            problems += [f"`prelabel {path}`: `{n}`" for n in names if f"`{n}`" not in body]
    assert problems == [], f"missing from {CLI.name}: {problems}"


def test_no_documented_command_is_gone() -> None:
    stale = sorted(set(_cli_sections()) - {path for path, _ in _cli_commands()})
    assert stale == [], f"{CLI.name} documents commands that do not exist: {stale}"


# --- REST API --------------------------------------------------------------------------------------------------
def _flatten(routes: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(METHOD, path) of every HTTP route, through included routers (FastAPI may keep them nested)."""
    for route in routes:
        ctx = getattr(route, "include_context", None)
        if ctx is not None and hasattr(ctx, "included_router"):
            yield from _flatten(ctx.included_router.routes, prefix + ctx.prefix)
        elif getattr(route, "methods", None) and hasattr(route, "path"):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", prefix + route.path)  # {external_id:path} → {external_id}
            for method in route.methods:
                if method in HTTP_METHODS:
                    yield method, path


@pytest.fixture(scope="module")
def api_routes(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    from prelabel.api import create_app
    from prelabel.store.engine import Store

    url = f"sqlite:///{tmp_path_factory.mktemp('docs') / 'docs.db'}"
    store = Store(url)
    store.upgrade()
    try:
        app = create_app(Settings(database_url=url, environment="test", run_worker=False), store=store)
        routes = {
            (method, path) for method, path in _flatten(app.routes) if path.startswith("/api/") or path == "/health"
        }
        routes |= {
            (method.upper(), path)
            for path, ops in app.openapi()["paths"].items()
            for method in ops
            if method.upper() in HTTP_METHODS and (path.startswith("/api/") or path == "/health")
        }
    finally:
        store.dispose()
    return routes


def _rest_headings() -> set[tuple[str, str]]:
    out = set()
    for line in _headings(_read(REST)):
        m = re.fullmatch(r"#+ `([A-Z]+) (/\S*)`", line.strip())
        if m:
            out.add((m.group(1), m.group(2)))
    return out


def test_every_api_route_is_documented(api_routes: set[tuple[str, str]]) -> None:
    assert ("GET", "/health") in api_routes and ("POST", "/api/v1/projects") in api_routes
    missing = sorted(api_routes - _rest_headings(), key=lambda r: (r[1], r[0]))
    assert missing == [], f"add a heading '### `METHOD /path`' to {REST.name} for: {missing}"


def test_no_documented_route_is_gone(api_routes: set[tuple[str, str]]) -> None:
    stale = sorted(_rest_headings() - api_routes)
    assert stale == [], f"{REST.name} documents routes the app does not have: {stale}"


# --- the browser UI --------------------------------------------------------------------------------------------
def _ui_routes() -> set[tuple[str, str]]:
    from prelabel.ui.pages import router

    return {(m, p.replace("{project_id}", "{id}")) for m, p in _flatten(router.routes)}


def _ui_documented() -> set[tuple[str, str]]:
    section = _sections(_read(UI), 2).get("Pages", "")
    return {(m, p) for m, p in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`", section)}


def test_every_ui_route_is_documented() -> None:
    routes = _ui_routes()
    assert ("GET", "/projects/{id}/label") in routes
    missing = sorted(routes - _ui_documented())
    assert missing == [], f"add these routes to the '## Pages' table of {UI.name}: {missing}"


def test_no_documented_ui_route_is_gone() -> None:
    stale = sorted(_ui_documented() - _ui_routes())
    assert stale == [], f"{UI.name} names UI routes that do not exist: {stale}"


# --- the SDK ---------------------------------------------------------------------------------------------------
def _public_methods() -> list[str]:
    return sorted(name for name, value in vars(Client).items() if callable(value) and not name.startswith("_"))


def _sdk_headings() -> set[str]:
    out = set()
    for line in _headings(_read(SDK)):
        m = re.match(r"#+ `(\w+)\(", line)
        if m:
            out.add(m.group(1))
    return out


def test_every_client_method_is_documented() -> None:
    methods = _public_methods()
    assert "create_project" in methods and "iter_assets" in methods
    missing = [name for name in ["Client", *methods] if name not in _sdk_headings()]
    assert missing == [], f"add a heading '### `name(arguments)`' to {SDK.name} for: {missing}"


def test_no_documented_method_is_gone() -> None:
    stale = sorted(_sdk_headings() - {"Client", *_public_methods()})
    assert stale == [], f"{SDK.name} documents Client methods that do not exist: {stale}"


def test_every_exported_name_is_documented() -> None:
    import prelabel.client

    text = _read(SDK)
    missing = [name for name in prelabel.client.__all__ if f"`{name}`" not in text]
    assert missing == [], f"document these names of prelabel.client in {SDK.name}: {missing}"


# --- links -----------------------------------------------------------------------------------------------------
def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (but - and _), spaces to hyphens."""
    text = re.sub(r"`|\*\*|\*|<[^>]+>", "", heading.strip().lstrip("#").strip()).lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in _headings(_read(path)):
        slug = _slug(line)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _links(path: Path) -> Iterator[str]:
    text = re.sub(r"`[^`\n]*`", "", _without_code_blocks(_read(path)))
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: … are not checked
            yield target


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    broken = []
    for target in _links(path):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading with that anchor in {dest.name})")
    assert broken == [], f"{path.name}: broken links {broken}"


def test_the_index_links_every_page() -> None:
    linked = {(INDEX.parent / t.partition("#")[0]).resolve() for t in _links(INDEX) if t.partition("#")[0]}
    # the pages of docs/ and its how-to/ and reference/ folders (the other folders hold benchmark outputs)
    pages = [p for pattern in ("*.md", "how-to/*.md", "reference/*.md") for p in DOCS.glob(pattern) if p != INDEX]
    missing = sorted(str(p.relative_to(DOCS)) for p in pages if p.resolve() not in linked)
    assert missing == [], f"link these pages from docs/index.md, under the right kind: {missing}"


def test_the_readme_links_the_index() -> None:
    assert any(t.startswith("docs/index.md") for t in _links(ROOT / "README.md"))
