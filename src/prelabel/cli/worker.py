"""``prelabel worker`` (run a trainer in the foreground) and ``prelabel train PROJECT`` (train now, with
progress bars). Both talk to the database directly; any number of workers may run against one database."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from prelabel.cli.server import DatabaseOpt, UserOpt, _fail, _setup_logging, _store, console


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("train")(train)


def worker(
    database_url: DatabaseOpt = None,
    lease_seconds: Annotated[float, typer.Option(help="Job lease; a silent worker's job is re-claimed after.")] = 60.0,
    poll_seconds: Annotated[float, typer.Option(help="Seconds between polls when there is nothing to do.")] = 0.25,
    search_jobs: Annotated[int, typer.Option(help="Parallel trial processes of an AutoML search.")] = 1,
    tiers: Annotated[
        str,
        typer.Option(
            help="Claim only these job tiers, comma-separated: fast, prepare (an import's sentence vectors and "
            "first queue order), search."
        ),
    ] = "fast,prepare,search",
    log_level: Annotated[str, typer.Option(envvar="PRELABEL_LOG_LEVEL")] = "INFO",
) -> None:
    """Run a background trainer until interrupted: queue jobs as labels arrive, claim and run them."""
    import threading

    from prelabel.worker.trainer import Trainer

    chosen = tuple(x.strip() for x in tiers.split(",") if x.strip())
    if not chosen or any(x not in ("fast", "prepare", "search") for x in chosen):
        _fail(f"--tiers must list some of fast, prepare, search; got {tiers!r}.")
    _setup_logging(log_level)
    with _store(database_url) as store:
        trainer = Trainer(
            store, lease_seconds=lease_seconds, poll_seconds=poll_seconds, search_n_jobs=search_jobs, tiers=chosen
        )
        console.print(f"worker [bold]{trainer.worker_id}[/] polling {store.safe_url()} (Ctrl-C to stop)")
        stop = threading.Event()
        try:
            trainer.run_forever(stop)
        except KeyboardInterrupt:
            stop.set()
            console.print("stopped (a job cut short is re-claimed after its lease expires)")


def train(
    project: Annotated[int, typer.Argument(help="Project id.")],
    user: UserOpt,
    database_url: DatabaseOpt = None,
    tier: Annotated[str, typer.Option(help="fast, search or both.")] = "both",
    wait: Annotated[bool, typer.Option(help="Run the jobs here (else only queue them for a worker).")] = True,
    log_level: Annotated[str, typer.Option(envvar="PRELABEL_LOG_LEVEL")] = "WARNING",
) -> None:
    """Train PROJECT now (admin): queue the jobs and, with --wait, run them here with progress bars."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from prelabel.cli.server import _actor
    from prelabel.service.training import request_training
    from prelabel.worker.trainer import Trainer

    if tier not in ("fast", "search", "both"):
        _fail(f"--tier must be fast, search or both; got {tier!r}.")
    _setup_logging(log_level)
    with _store(database_url) as store:
        jobs = request_training(store, _actor(store, user), project, tier=tier, reason="cli")  # type: ignore[arg-type]
        console.print("queued " + ", ".join(f"job {j.id} ({j.tier})" for j in jobs))
        if not wait:
            return
        with Progress(
            TextColumn("{task.description:<34}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[msg]}"),
            TimeElapsedColumn(),
            console=console,
        ) as bars:
            tasks: dict[str, Any] = {}

            def on_progress(phase: str, fraction: float, message: str) -> None:
                key = "predict" if phase in ("predict", "queue", "finish") else "train"
                if key not in tasks:
                    label = "training" if key == "train" else "predictions"
                    tasks[key] = bars.add_task(label, total=1.0, msg="")
                bars.update(tasks[key], completed=fraction, msg=message[:60])

            # only the tiers asked for: an import's prepare job is left to the workers
            trainer = Trainer(store, progress=on_progress, schedule=False, tiers=tuple(j.tier for j in jobs))
            for _ in jobs:
                tasks.clear()
                result = trainer.run_once(project_id=project)
                if result is None:
                    break
                for task_id in tasks.values():
                    bars.update(task_id, completed=1.0)
                colour = "green" if result.status == "SUCCEEDED" else "red"
                console.print(
                    f"job {result.job_id} ({result.tier}): [{colour}]{result.status}[/] {result.message} "
                    + " ".join(f"{k}={v:.1f}s" for k, v in result.timings.items())
                )
