"""Every command's --help renders (typer formats option help as rich markup: a stray "[…]" broke one)."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from prelabel.cli.main import app


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path under `command` (typer may vendor its own click, so groups are duck-typed)."""
    out = [prefix]
    if hasattr(command, "list_commands"):
        ctx = command.context_class(command)
        for name in command.list_commands(ctx):
            out += _paths(command.get_command(ctx, name), (*prefix, name))
    return out


COMMANDS = _paths(typer.main.get_command(app))


def test_the_tree_has_the_documented_commands() -> None:
    names = {" ".join(p) for p in COMMANDS}
    assert {"serve", "demo", "worker", "train", "bench fast", "bench loop", "automl fit"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "prelabel")
def test_help_renders(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
