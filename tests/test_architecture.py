"""The layering of docs/architecture.md, checked on the source: dependencies point one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "prelabel"

# layer -> prelabel layers it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "config": set(),
    "domain": {"errors"},
    "store": {"domain", "errors", "config"},
    "service": {"store", "domain", "errors", "config"},
    "automl": set(),
    "client": set(),
    "worker": {"service", "store", "automl", "domain", "errors", "config"},
    "api": {"service", "store", "domain", "errors", "config", "ui", "worker"},
    "ui": {"service", "store", "domain", "errors", "config"},
}


def _layer(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _prelabel_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "prelabel" and len(parts) > 1:
                found.add(parts[1])
    return found


FILES = sorted(p for p in SRC.rglob("*.py") if _layer(p) in ALLOWED)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_layering(path: Path) -> None:
    layer = _layer(path)
    illegal = _prelabel_imports(path) - ALLOWED[layer] - {layer}
    assert not illegal, f"{path.relative_to(SRC)} ({layer}) imports {sorted(illegal)}; see docs/architecture.md"


def test_every_layer_exists() -> None:
    for layer in ("store", "service", "api", "automl", "worker", "client", "cli", "ui"):
        assert (SRC / layer / "__init__.py").exists() or (SRC / layer).is_dir(), layer


def _private_third_party(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    modules += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0]
    return {m for m in modules if not m.startswith("prelabel") and any(p.startswith("_") for p in m.split(".")[1:])}


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_private_module_of_a_dependency(path: Path) -> None:
    # a dependency's private modules change without notice between releases; the lock file's pins don't protect users
    assert not _private_third_party(path), f"{path.relative_to(SRC)} imports {sorted(_private_third_party(path))}"


# Only store/ talks to the database: the layers above it call its functions and never build or run a query.
NO_SQL_LAYERS = ("service", "worker", "cli", "api", "ui")
SESSION_CALLS = frozenset(
    {"execute", "scalar", "scalars", "get", "get_bind", "add", "add_all", "delete", "flush", "merge", "refresh"}
)


def _sql_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] == "sqlalchemy"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sqlalchemy":
            found.append(f"from {node.module} import …")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SESSION_CALLS:
            receiver = node.func.value
            if isinstance(receiver, ast.Name) and receiver.id in {"s", "session", "conn", "tx"}:
                found.append(f"line {node.lineno}: {receiver.id}.{node.func.attr}(…)")
    return found


@pytest.mark.parametrize(
    "path",
    sorted(p for p in SRC.rglob("*.py") if _layer(p) in NO_SQL_LAYERS),
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_only_the_store_runs_queries(path: Path) -> None:
    uses = _sql_uses(path)
    assert not uses, f"{path.relative_to(SRC)} runs SQL itself ({'; '.join(uses)}): move it into store/"
