"""The `prelabel` command: wires the sub-commands together. Each module keeps heavy imports inside commands."""

from __future__ import annotations

import typer

from prelabel.cli import automl, bench, label_studio, server, worker

app = typer.Typer(
    help="prelabel: annotation server for text classification with AutoML pre-annotation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
server.register(app)  # serve, demo, db, user, token, project, import, export
worker.register(app)  # worker, train
app.add_typer(automl.app, name="automl", help="Fit and apply the AutoML text classifier on files.")
app.add_typer(bench.app, name="bench", help="Benchmarks: each prints a table of medians and ratios.")
app.add_typer(label_studio.app, name="label-studio", help="Label Studio: connect a project, print a labeling config.")


def main() -> None:
    app()
