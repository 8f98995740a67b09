"""The README opens with the two commands, and documents every setting and server command."""

from __future__ import annotations

from pathlib import Path

import typer

from prelabel.cli import server
from prelabel.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_opens_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[:4] == ["```bash", "./run demo", "./run test", "```"]
    run = README.parent / "run"
    assert run.exists() and "demo)" in run.read_text() and "test)" in run.read_text()


def test_every_setting_is_documented() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"`PRELABEL_{name.upper()}`" not in text]
    assert missing == [], f"settings missing from the README's configuration table: {missing}"


def test_every_server_command_is_documented() -> None:
    app = typer.Typer()
    server.register(app)
    text = README.read_text(encoding="utf-8")
    names = [c.name for c in app.registered_commands] + [
        f"{g.name} {c.name}" for g in app.registered_groups for c in g.typer_instance.registered_commands
    ]
    assert names, "no commands registered"
    missing = [n for n in names if f"`prelabel {n}" not in text]
    assert missing == [], f"commands missing from the README: {missing}"
