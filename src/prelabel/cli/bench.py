"""`prelabel bench …`: store, automl and loop benchmarks. Each command keeps its heavy imports inside itself."""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks: each prints a table of medians and ratios against a baseline.")
