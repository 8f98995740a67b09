"""The README opens with the two commands. (That every setting and command is documented is checked against
docs/reference/ by tests/test_docs.py.)"""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_opens_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[:4] == ["```bash", "./run demo", "./run test", "```"]
    run = README.parent / "run"
    assert run.exists() and "demo)" in run.read_text() and "test)" in run.read_text()
