"""`prelabel bench labelers`: many people labeling at once against a real server whose trainer is running.

It starts `prelabel serve --worker` on a free loopback port (its two trainer processes included) over a new SQLite
file in a temporary data dir, or over `--database-url`; creates a project with the package's demo tweets and
`--users` labelers who are its members, each with an API token; then runs one labeler per thread of this process,
each with its own `prelabel.Client`: take the next asset from the queue (``POST …/queue/next``, a lease), read it
for about `--think` seconds, label it with the demo's own answer (NOT_DISASTER where the demo has none), again,
until it has `--labels-per-user` labels, the queue is empty or `--duration` seconds have passed. The load
generator shares the machine's cores with the server and its trainer; threads keep its own share small (the
clients mostly wait on sockets). The labelers start evenly over `--ramp` seconds (by default `--think`: people
do not all open the page in the same instant; `--ramp 0` sends every first request at once, and they wait for
each other). Without a pause (`--think 0`) every labeler always has a request in flight: the server is saturated,
and a request's latency is about the number of labelers divided by the requests per second it serves (Little's
law), whatever its own cost.

The report: labels per second; p50 / p95 / p99 of taking the next asset and of saving a label, as the clients
measured them around each SDK call and as the server measured them (its ``Server-Timing: app;dur=<ms>`` header);
responses with a 5xx status and other failures; double leases (one asset leased to two labelers at once, from the
responses' times: the second lease granted entirely after the first was granted and before its holder saved its
label); lost labels (labels the server acknowledged with a 2xx that the API does not list at the end); and what the
trainer did meanwhile.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from prelabel.bench.label_studio import _stop, _wait_up, free_port
from prelabel.client import Client, PrelabelAPIError

OPERATIONS = ("next_asset", "save")
PERCENTILES = (50, 95, 99)


# --- what each labeler records --------------------------------------------------------------------------------
class TimingTransport(httpx.HTTPTransport):
    """An HTTP transport that keeps the server's own duration (``Server-Timing: app;dur=<ms>``) of its last
    response, so that the labeler can set it beside the time it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.server_ms: float | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.server_ms = None
        response = super().handle_request(request)
        self.server_ms = server_timing(response.headers.get("server-timing"))
        return response


def server_timing(header: str | None) -> float | None:
    """The ``app`` duration of a Server-Timing header, in ms (``app;dur=12.5`` → 12.5)."""
    for metric in (header or "").split(","):
        name, *params = (part.strip() for part in metric.split(";"))
        if name == "app":
            for param in params:
                if param.startswith("dur="):
                    return float(param[4:])
    return None


@dataclass
class Call:
    operation: str  # next_asset | save
    status: int  # HTTP status; 0: no response (a transport error)
    client_ms: float
    server_ms: float | None


@dataclass
class Lease:
    user: int
    asset_id: int
    asked: float  # monotonic time the request was sent: the lease was granted after it
    granted: float  # the response arrived: granted before it
    released: float | None = None  # the label's request was sent: held until then at least


@dataclass
class Labeler:
    user: int
    client: Client
    transport: TimingTransport
    calls: list[Call] = field(default_factory=list)
    leases: list[Lease] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)  # ids of the labels saved with a 2xx

    def call(self, operation: str, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """(whether it succeeded, its result), recording the call's status and both durations."""
        start = time.perf_counter()
        status, result, ok = 200, None, True
        try:
            result = fn()
        except PrelabelAPIError as exc:
            status, ok = exc.status, False
        except httpx.TransportError:
            status, ok = 0, False
        client_ms = (time.perf_counter() - start) * 1000
        self.calls.append(Call(operation, status, client_ms, self.transport.server_ms if status else None))
        return ok, result


@dataclass(frozen=True)
class Plan:
    """What every labeler does: label `limit` assets of the project with the demo's `answers`, reading each for
    about `think` seconds (uniformly between half and one and a half times; 0: none), until `deadline`."""

    project_id: int
    answers: dict[str, str]
    limit: int
    deadline: float
    think: float = 0.0


def label_loop(lab: Labeler, plan: Plan, start_after: float = 0.0) -> None:
    """One labeler: after `start_after` seconds, next asset, its answer, until `plan.limit` labels, an empty queue
    or the deadline."""
    pace = random.Random(lab.user)
    time.sleep(start_after)
    while len(lab.acknowledged) < plan.limit and time.monotonic() < plan.deadline:
        asked = time.monotonic()
        ok, asset = lab.call("next_asset", lambda: lab.client.next_asset(plan.project_id))
        if not ok:
            time.sleep(0.1)  # a failing server is not hammered in a tight loop
            continue
        if asset is None:
            return  # nothing left to label
        lease = Lease(lab.user, asset.id, asked, time.monotonic())
        lab.leases.append(lease)
        time.sleep(plan.think * pace.uniform(0.5, 1.5))
        response = {"JOB_0": {"categories": [{"name": plan.answers.get(asset.external_id, "NOT_DISASTER")}]}}
        lease.released = time.monotonic()
        ok, label = lab.call("save", partial(lab.client.create_label, plan.project_id, asset.id, response))
        if ok:
            lab.acknowledged.append(label.id)


# --- the report -----------------------------------------------------------------------------------------------
def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """p50 / p95 / p99 (linear interpolation between the nearest ranks) and how many values there were."""
    ordered = sorted(values)
    out: dict[str, float | int | None] = {"n": len(ordered)}
    for p in PERCENTILES:
        if not ordered:
            out[f"p{p}"] = None
            continue
        rank = (len(ordered) - 1) * p / 100
        low = int(rank)
        high = min(low + 1, len(ordered) - 1)
        out[f"p{p}"] = round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 1)
    return out


def double_leases(leases: list[Lease], end: float) -> int:
    """Pairs of leases of one asset to two labelers at once: the later one granted entirely inside the earlier
    one (granted after it was granted, and before its holder sent the label; never sent: held to the end)."""
    by_asset: dict[int, list[Lease]] = {}
    for lease in leases:
        by_asset.setdefault(lease.asset_id, []).append(lease)
    count = 0
    for group in by_asset.values():
        for first in group:
            held_until = first.released if first.released is not None else end
            count += sum(
                1 for other in group
                if other.user != first.user and other.asked > first.granted and other.granted < held_until
            )  # fmt: skip
    return count


@dataclass
class Report:
    users: int
    labels_per_user: int
    duration_limit_s: float
    think_s: float
    database: str
    assets: int
    load_generator: str
    elapsed_s: float = 0.0
    labels: int = 0
    labels_per_s: float = 0.0
    latency_ms: dict[str, dict[str, dict[str, float | int | None]]] = field(default_factory=dict)
    status_5xx: int = 0
    other_failures: dict[str, int] = field(default_factory=dict)  # status (0: no response) → count
    responses_without_server_timing: int = 0
    double_leases: int = 0
    lost_labels: int = 0
    trainer: dict[str, Any] = field(default_factory=dict)
    ramp_s: float = 0.0  # the labelers started evenly over this many seconds


def fill_report(report: Report, labelers: list[Labeler], elapsed: float, present: set[int]) -> None:
    """The figures of the run from what the labelers recorded and the label ids the API lists at the end."""
    calls = [c for lab in labelers for c in lab.calls]
    acknowledged = [i for lab in labelers for i in lab.acknowledged]
    report.elapsed_s = round(elapsed, 2)
    report.labels = len(acknowledged)
    report.labels_per_s = round(len(acknowledged) / elapsed, 2) if elapsed > 0 else 0.0
    for op in OPERATIONS:
        done = [c for c in calls if c.operation == op and 200 <= c.status < 300]
        report.latency_ms[op] = {
            "client": percentiles([c.client_ms for c in done]),
            "server": percentiles([c.server_ms for c in done if c.server_ms is not None]),
        }
    report.status_5xx = sum(1 for c in calls if c.status >= 500)
    for c in calls:
        if c.status < 200 or 300 <= c.status < 500:
            report.other_failures[str(c.status)] = report.other_failures.get(str(c.status), 0) + 1
    report.responses_without_server_timing = sum(1 for c in calls if c.status and c.server_ms is None)
    report.double_leases = double_leases([le for lab in labelers for le in lab.leases], time.monotonic())
    report.lost_labels = len(set(acknowledged) - present)


# --- the server and its project -------------------------------------------------------------------------------
@dataclass
class Setup:
    project_id: int
    admin_token: str
    tokens: list[str]  # one per labeler
    assets: int


def prepare_database(url: str, users: int, rows: int | None) -> Setup:
    """Migrate the database; add an admin, the project with the demo tweets (the first `rows`) and `users`
    labelers who are its members, under names of their own (a database that has other projects is fine)."""
    from prelabel.cli.server import DEMO_INTERFACE, demo_records
    from prelabel.service import assets, auth, projects
    from prelabel.store.engine import Store

    store = Store(url)
    try:
        store.upgrade()
        tag = secrets.token_hex(3)
        admin = auth.create_user(store, f"bench-admin-{tag}", secrets.token_urlsafe(12))
        actor = auth.Actor(user_id=admin.id, username=admin.username)
        _, admin_token = auth.create_token(store, actor, "bench labelers")
        project = projects.create_project(store, actor, title=f"Bench labelers {tag}", interface=DEMO_INTERFACE)
        records = demo_records()[:rows] if rows else demo_records()
        assets.import_assets(store, actor, project.id, records)
        tokens = []
        for k in range(users):
            user = auth.create_user(store, f"bench-labeler-{tag}-{k}", secrets.token_urlsafe(12))
            projects.add_member(store, actor, project.id, username=user.username, role="labeler")
            tokens.append(auth.create_token(store, auth.Actor(user_id=user.id, username=user.username), "bench")[1])
        return Setup(project.id, admin_token, tokens, len(records))
    finally:
        store.dispose()


@contextmanager
def serving(url: str, data_dir: Path, timeout: float = 120.0) -> Iterator[str]:
    """`prelabel serve --worker` on a free port of 127.0.0.1 over `url`; its base URL while it runs."""
    port = free_port()
    log = data_dir / "prelabel.log"
    exe = Path(sys.executable).parent / "prelabel"
    env = {**os.environ, "PRELABEL_DATA_DIR": str(data_dir), "PRELABEL_LOG_LEVEL": "WARNING",
           "PRELABEL_RUN_WORKER": "true"}  # fmt: skip
    cmd = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--database-url", url, "--worker"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_up(base + "/health", proc, log, timeout, "prelabel serve")
        yield base
    finally:
        _stop(proc)


def run_labelers(
    base: str, setup: Setup, labels_per_user: int, duration: float, think: float = 0.0, ramp: float = 0.0
) -> tuple[list[Labeler], float]:
    """Every labeler in a thread of its own until each is done, the k-th of n starting after k·`ramp`/n seconds;
    (the labelers, seconds it took)."""
    from prelabel.bench.prepare import demo_answers

    labelers = []
    for k, token in enumerate(setup.tokens):
        transport = TimingTransport()
        labelers.append(Labeler(k, Client(base, token, transport=transport, timeout=120), transport))
    start = time.monotonic()
    plan = Plan(setup.project_id, demo_answers(), labels_per_user, start + duration, think)
    offsets = [k * ramp / len(labelers) for k in range(len(labelers))]
    threads = [
        threading.Thread(target=label_loop, args=(lab, plan, wait)) for lab, wait in zip(labelers, offsets, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    for lab in labelers:
        lab.client.close()
    return labelers, elapsed


def listed_labels(admin: Client, project_id: int) -> set[int]:
    """The ids of every label of the project, as the API lists them."""
    ids: set[int] = set()
    after: int | None = None
    while True:
        page = admin.list_labels(project_id, after=after, limit=1000)
        if not page:
            return ids
        ids.update(label.id for label in page)
        after = page[-1].id


def trainer_summary(admin: Client, project_id: int) -> dict[str, Any]:
    """What the trainer did for the project: its jobs by tier and status, and the model versions it made."""
    jobs: dict[str, int] = {}
    for job in admin.training_jobs(project_id, limit=500):
        key = f"{job.tier} {job.status}"
        jobs[key] = jobs.get(key, 0) + 1
    return {"jobs": jobs, "model_versions": len(admin.list_model_versions(project_id))}


# --- the command ----------------------------------------------------------------------------------------------
def bench(
    *,
    users: int,
    labels_per_user: int,
    duration: float,
    think: float = 0.0,
    ramp: float | None = None,
    database_url: str | None = None,
    rows: int | None = None,
) -> Report:
    """Run the benchmark and return its report (see the module docstring); `ramp` defaults to `think`."""
    ramp = think if ramp is None else ramp
    with tempfile.TemporaryDirectory(prefix="prelabel-bench-labelers-") as tmp:
        folder = Path(tmp)
        url = database_url or f"sqlite:///{folder / 'prelabel.db'}"
        setup = prepare_database(url, users, rows)
        report = Report(
            users, labels_per_user, duration, think, url.split(":", 1)[0].split("+", 1)[0], setup.assets,
            f"{users} threads of one process, one SDK client each",
        )  # fmt: skip
        report.ramp_s = ramp
        with serving(url, folder) as base:
            labelers, elapsed = run_labelers(base, setup, labels_per_user, duration, think, ramp)
            with Client(base, setup.admin_token, timeout=120) as admin:
                present = listed_labels(admin, setup.project_id)
                report.trainer = trainer_summary(admin, setup.project_id)
        fill_report(report, labelers, elapsed, present)
        return report


def run(
    *,
    users: int,
    labels_per_user: int,
    duration: float,
    think: float,
    database_url: str | None,
    rows: int | None,
    as_json: bool,
    ramp: float | None = None,
) -> Report:
    report = bench(users=users, labels_per_user=labels_per_user, duration=duration, think=think, ramp=ramp,
                   database_url=database_url, rows=rows)  # fmt: skip
    if as_json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print_report(report)
    return report


def print_report(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    pace = f"reading each tweet ~{report.think_s:g} s" if report.think_s else "no pause between requests"
    pace += f", starting over {report.ramp_s:g} s" if report.ramp_s else ", all starting at once"
    title = (
        f"prelabel bench labelers: {report.users} labelers ({report.load_generator}, {pace}), {report.database}, "
        f"{report.assets:,} tweets, trainer running"
    )
    latency = Table(title=title)
    latency.add_column("operation")
    latency.add_column("n", justify="right")
    for side in ("client", "server"):
        for p in PERCENTILES:
            latency.add_column(f"{side} p{p} ms", justify="right")
    for op, sides in report.latency_ms.items():
        cells = [_ms(sides[side][f"p{p}"]) for side in ("client", "server") for p in PERCENTILES]
        latency.add_row(op, str(sides["client"]["n"]), *cells)
    console.print(latency)
    summary = Table(show_header=False)
    for name, value in _summary_rows(report):
        summary.add_row(name, value)
    console.print(summary)


def _ms(value: float | int | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _summary_rows(report: Report) -> list[tuple[str, str]]:
    failures = ", ".join(
        f"{n} x {'no response' if s == '0' else f'HTTP {s}'}" for s, n in sorted(report.other_failures.items())
    )
    jobs = ", ".join(f"{n} x {k}" for k, n in sorted(report.trainer.get("jobs", {}).items()))
    return [
        ("labels", f"{report.labels:,} in {report.elapsed_s:.1f} s: {report.labels_per_s:.1f} labels/s"),
        ("5xx responses", str(report.status_5xx)),
        ("other failures", failures or "0"),
        ("responses without Server-Timing", str(report.responses_without_server_timing)),
        ("double leases", str(report.double_leases)),
        ("lost labels", str(report.lost_labels)),
        ("trainer jobs", jobs or "none"),
        ("model versions", str(report.trainer.get("model_versions", 0))),
    ]
