"""`prelabel bench scale`: one project of N assets, as a team with a large corpus would run it.

On a new database (a temporary SQLite file, or with ``--database-url`` a temporary database created on that
PostgreSQL server and dropped afterwards) it measures, in order:

* **import**: a CSV of N texts written to disk, imported with ``prelabel import`` (a process of its own: the
  whole file parsed, then one transaction, the command's default); wall seconds, rows/s, the process's peak RSS.
  The texts are the package's demo tweets (a real vocabulary) repeated, each copy after the first with a
  suffix ``#k``, so that a copy is a text of its own.
* **first model**: `--labels` of those tweets labeled with the demo's answers, then a fast training job run by
  one ``prelabel worker --tiers fast``; seconds from the job's queueing to its version READY (which is when
  its suggestions become visible, on the queue's head and the whole pool at once), the job's own phases, the
  worker's peak RSS.
* **encoding**: texts/s of the sentence encoder in this process on `--encode-sample` of the texts, one thread
  as a worker encodes, on an empty vector cache; N divided by it is how long one worker needs for the pool.
* **readers**: ``prelabel serve --no-worker`` and `--readers` labelers in threads, each a member with an API
  token and a browser session; each round takes the next asset (API), opens the labeling page, saves a label
  (API), opens the project page and the dashboard, asks for the review list and a page of TODO assets from
  the middle of the project (keyset cursor). p50 / p95 / p99 per request, as the client and as the server
  (``Server-Timing``) measured it.
* **export**: the whole project streamed as JSONL from the running server (labels and current prediction);
  rows/s, and the server's peak RSS before and after.

Targets are the ones a team of this size needs (see docs/how-to/deploy.md). Nothing is cached between runs.
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from prelabel.bench.label_studio import _stop, _wait_up, free_port
from prelabel.bench.labelers import TimingTransport, percentiles, server_timing

IMPORT_TARGET_S = 60.0
POOL_TARGET_S = 120.0
HEAD_TARGET_S = 5.0
PAGE_TARGETS_MS = {"next_asset": 50.0, "label_page": 150.0, "project_page": 500.0, "dashboard": 500.0}
EXPORT_TARGET_ROWS_S = 50_000.0
WORKER_RSS_TARGET_MIB = 3 * 1024.0
READ_TIMEOUT_S = 60.0  # a request slower than this is counted as a time-out
READ_OPERATIONS = ("next_asset", "label_page", "save", "project_page", "dashboard", "review", "assets_page")


@dataclass
class Report:
    database: str
    assets: int
    import_s: float = 0.0
    import_rows_per_s: float = 0.0
    import_peak_rss_mib: float = 0.0
    labels: int = 0
    first_model_s: float = 0.0  # job queued → version READY: suggestions on the head and on the whole pool
    first_model_phases: dict[str, float] = field(default_factory=dict)
    worker_peak_rss_mib: float = 0.0
    encode_texts_per_s: float | None = None
    encode_pool_s: float | None = None  # N / texts/s: one worker encoding the whole pool
    readers: int = 0
    latency_ms: dict[str, dict[str, dict[str, float | int | None]]] = field(default_factory=dict)
    status_errors: dict[str, int] = field(default_factory=dict)
    export_rows: int = 0
    export_s: float = 0.0
    export_rows_per_s: float = 0.0
    server_rss_mib_before_export: float = 0.0
    server_peak_rss_mib: float = 0.0
    not_measured: list[str] = field(default_factory=list)


# --- the data -------------------------------------------------------------------------------------------------
def base_texts() -> list[tuple[str, str]]:
    """The demo tweets as (external id, text)."""
    from prelabel.cli.server import demo_records

    return [(r.external_id, r.content) for r in demo_records()]


def scaled_row(i: int, base: list[tuple[str, str]]) -> tuple[str, str]:
    """Row i of the scaled data: the base texts in order, copy k ≥ 1 of a text suffixed with ``#k``."""
    copy, j = divmod(i, len(base))
    ext, text = base[j]
    return (ext, text) if copy == 0 else (f"{ext}-{copy}", f"{text} #{copy}")


def scaled_rows(n: int, base: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    return (scaled_row(i, base) for i in range(n))


def write_csv(path: Path, n: int, base: list[tuple[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["external_id", "text"])
        writer.writerows(scaled_rows(n, base))


# --- processes ------------------------------------------------------------------------------------------------
def _exe() -> str:
    return str(Path(sys.executable).parent / "prelabel")


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "PRELABEL_DATA_DIR": str(data_dir), "PRELABEL_LOG_LEVEL": "WARNING"}


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory so far (Linux's VmHWM), in MiB; 0 where /proc has none."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_measured(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Run a command to its end: (wall seconds, peak RSS in MiB from the kernel's accounting of the child)."""
    start = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({proc.returncode}); its log:\n{log.read_text()[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


@contextmanager
def background(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        yield proc
    finally:
        _stop(proc)


# --- the phases -----------------------------------------------------------------------------------------------
@dataclass
class Setup:
    url: str
    folder: Path
    project_id: int
    admin: str  # user name
    admin_token: str


def setup_project(url: str, folder: Path) -> Setup:
    from prelabel.cli.server import DEMO_INTERFACE
    from prelabel.service import auth, projects

    store = _store(url)
    try:
        store.upgrade()
        name = f"bench-scale-{secrets.token_hex(3)}"
        user = auth.create_user(store, name, secrets.token_urlsafe(12), is_superuser=True)
        actor = auth.Actor(user_id=user.id, username=user.username, is_superuser=True)
        _, token = auth.create_token(store, actor, "bench scale")
        # no automatic training: the bench queues the one fast job it times (and runs no worker that would take
        # the import's prepare job: encoding the whole pool would skew every other figure)
        project = projects.create_project(
            store, actor, title="Bench scale", interface=DEMO_INTERFACE, settings={"auto_train": False}
        )
        return Setup(url, folder, project.id, name, token)
    finally:
        store.dispose()


def _admin(store: Any, setup: Setup) -> Any:
    from prelabel.service import auth

    return auth.get_actor(store, auth.get_user_by_name(store, setup.admin).id)


def _store(url: str) -> Any:
    from prelabel.store.engine import Store

    return Store(url)


def measure_import(setup: Setup, n: int, report: Report) -> None:
    csv_path = setup.folder / "assets.csv"
    write_csv(csv_path, n, base_texts())
    cmd = [_exe(), "import", str(csv_path), "--project", str(setup.project_id), "--user", setup.admin,
           "--id-column", "external_id", "--database-url", setup.url]  # fmt: skip
    elapsed, rss = run_measured(cmd, _env(setup.folder), setup.folder / "import.log")
    report.import_s, report.import_rows_per_s, report.import_peak_rss_mib = elapsed, n / elapsed, rss
    csv_path.unlink()


def label_batch(setup: Setup, k: int) -> int:
    """Label the first `k` assets that have a demo answer; how many were labeled."""
    from prelabel.bench.prepare import demo_answers
    from prelabel.service import labels
    from prelabel.service.assets import get_asset_by_external_id

    answers = list(demo_answers().items())[:k]
    store = _store(setup.url)
    try:
        actor = _admin(store, setup)
        for ext, answer in answers:
            asset = get_asset_by_external_id(store, actor, setup.project_id, ext)
            response = {"JOB_0": {"categories": [{"name": answer}]}}
            labels.create_label(store, actor, setup.project_id, asset.id, json_response=response)
        return len(answers)
    finally:
        store.dispose()


def measure_first_model(setup: Setup, k: int, report: Report) -> None:
    """Queue one fast job and time it to READY with one `prelabel worker --tiers fast`."""
    from prelabel.service import training

    report.labels = label_batch(setup, k)
    store = _store(setup.url)
    try:
        actor = _admin(store, setup)
        cmd = [_exe(), "worker", "--tiers", "fast", "--poll-seconds", "0.2", "--database-url", setup.url]
        with background(cmd, _env(setup.folder), setup.folder / "worker.log") as worker:
            start = time.perf_counter()
            (job,) = training.request_training(store, actor, setup.project_id, tier="fast", reason="bench")
            done = _wait_for_job(store, actor, setup.project_id, job.id, worker)
            report.first_model_s = time.perf_counter() - start
            report.worker_peak_rss_mib = peak_rss_mib(worker.pid)
        version = _version_metrics(store, actor, setup.project_id, done.model_version_id)
        report.first_model_phases = {k: float(v) for k, v in version.get("timings", {}).items()}
    finally:
        store.dispose()


def _wait_for_job(store: Any, actor: Any, project_id: int, job_id: int, worker: subprocess.Popen[bytes]) -> Any:
    from prelabel.service import training

    while True:
        job = training.get_training_job(store, actor, project_id, job_id)
        if job.status == "SUCCEEDED":
            return job
        if job.status == "FAILED" or worker.poll() is not None:
            raise RuntimeError(f"the fast job ended {job.status}: {job.message}")
        time.sleep(0.1)


def _version_metrics(store: Any, actor: Any, project_id: int, model_version_id: int | None) -> dict[str, Any]:
    from prelabel.service import models

    if model_version_id is None:
        return {}
    return dict(models.get_model_version(store, actor, project_id, model_version_id).metrics or {})


def measure_encoding(n: int, sample: int, report: Report) -> None:
    """Texts/s of `embed` with one thread on an empty cache (what a worker's prepare job does)."""
    from prelabel.automl.embeddings import embed, embeddings_available

    if sample <= 0 or not embeddings_available():
        report.not_measured.append("encoding (no sentence model installed, or --encode-sample 0)")
        return
    texts = [text for _, text in scaled_rows(sample, base_texts())]
    with tempfile.TemporaryDirectory(prefix="prelabel-bench-scale-vectors-") as cache:
        embed(texts[:64], Path(cache), threads=1)  # loads the model, outside the timing
        start = time.perf_counter()
        embed(texts[64:], Path(cache), threads=1)
        rate = (len(texts) - 64) / (time.perf_counter() - start)
    report.encode_texts_per_s, report.encode_pool_s = rate, n / rate


# --- readers against a running server ------------------------------------------------------------------------
@dataclass
class Reader:
    api: httpx.Client  # API token
    ui: httpx.Client  # browser session
    transport: TimingTransport
    ui_transport: TimingTransport
    calls: dict[str, list[tuple[float, float | None]]] = field(default_factory=dict)  # (client ms, server ms)
    errors: dict[str, int] = field(default_factory=dict)

    def timed(self, operation: str, send: Callable[[], httpx.Response], ok: tuple[int, ...] = (200,)) -> Any:
        start = time.perf_counter()
        try:
            response = send()
        except httpx.TransportError as exc:  # a time-out past READ_TIMEOUT_S: counted, and the round goes on
            key = f"{operation} {type(exc).__name__}"
            self.errors[key] = self.errors.get(key, 0) + 1
            return None
        client_ms = (time.perf_counter() - start) * 1000
        if response.status_code not in ok:
            key = f"{operation} {response.status_code}"
            self.errors[key] = self.errors.get(key, 0) + 1
            return None
        self.calls.setdefault(operation, []).append((client_ms, server_timing(response.headers.get("server-timing"))))
        return response


def add_readers(setup: Setup, k: int) -> list[tuple[str, str, str]]:
    """`k` reviewers of the project (they label and may read the review list): (user name, password, token)."""
    from prelabel.service import auth, projects

    store = _store(setup.url)
    try:
        admin = _admin(store, setup)
        out = []
        for i in range(k):
            name, password = f"{setup.admin}-reader-{i}", secrets.token_urlsafe(12)
            user = auth.create_user(store, name, password)
            projects.add_member(store, admin, setup.project_id, username=name, role="reviewer")
            out.append((name, password, auth.create_token(store, auth.get_actor(store, user.id), "bench")[1]))
        return out
    finally:
        store.dispose()


def open_reader(base: str, name: str, password: str, token: str) -> Reader:
    transport, ui_transport = TimingTransport(), TimingTransport()
    api = httpx.Client(
        base_url=base, transport=transport, timeout=READ_TIMEOUT_S, headers={"Authorization": f"Bearer {token}"}
    )
    ui = httpx.Client(base_url=base, transport=ui_transport, timeout=READ_TIMEOUT_S)
    csrf = re.findall(r'name="csrf_token" value="([^"]+)"', ui.get("/login").text)[0]
    response = ui.post("/login", data={"username": name, "password": password, "csrf_token": csrf})
    if response.status_code != 303:
        raise RuntimeError(f"UI login of {name} failed: {response.status_code}")
    return Reader(api, ui, transport, ui_transport)


def reader_rounds(reader: Reader, project_id: int, rounds: int, middle_cursor: str) -> None:
    """Each round: the next asset, its labeling page, a label, the project page, the dashboard, the review
    list and a page of TODO assets from the middle of the project."""
    p = f"/api/v1/projects/{project_id}"
    label = {"json_response": {"JOB_0": {"categories": [{"name": "NOT_DISASTER"}]}}}
    middle: dict[str, str | int] = {"status": "TODO", "limit": 100, "after": middle_cursor}
    for _ in range(rounds):
        got = reader.timed("next_asset", lambda: reader.api.post(f"{p}/queue/next"))
        reader.timed("label_page", lambda: reader.ui.get(f"/projects/{project_id}/label"))
        if got is not None:
            save = f"{p}/assets/{got.json()['id']}/labels"
            reader.timed("save", lambda: reader.api.post(save, json=label), (200, 201))  # noqa: B023
        reader.timed("project_page", lambda: reader.ui.get(f"/projects/{project_id}"))
        reader.timed("dashboard", lambda: reader.ui.get(f"/projects/{project_id}/dashboard"))
        reader.timed("review", lambda: reader.api.get(f"{p}/review", params={"limit": 50}))
        reader.timed("assets_page", lambda: reader.api.get(f"{p}/assets", params=middle))


def measure_readers(base: str, setup: Setup, k: int, rounds: int, n: int, report: Report) -> None:
    from prelabel.service.assets import encode_cursor

    accounts = add_readers(setup, k)
    readers = [open_reader(base, *account) for account in accounts]
    middle = encode_cursor(_middle_asset_id(setup, n))
    threads = [threading.Thread(target=reader_rounds, args=(r, setup.project_id, rounds, middle)) for r in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.readers = k
    for op in READ_OPERATIONS:
        calls = [c for r in readers for c in r.calls.get(op, [])]
        report.latency_ms[op] = {
            "client": percentiles([c for c, _ in calls]),
            "server": percentiles([s for _, s in calls if s is not None]),
        }
    for r in readers:
        for key, count in r.errors.items():
            report.status_errors[key] = report.status_errors.get(key, 0) + count
        r.api.close()
        r.ui.close()


def _middle_asset_id(setup: Setup, n: int) -> int:
    from prelabel.service.assets import get_asset_by_external_id

    ext, _ = scaled_row(n // 2, base_texts())
    store = _store(setup.url)
    try:
        actor = _admin(store, setup)
        return get_asset_by_external_id(store, actor, setup.project_id, ext).id
    finally:
        store.dispose()


def measure_export(base: str, setup: Setup, server_pid: int, report: Report) -> None:
    report.server_rss_mib_before_export = peak_rss_mib(server_pid)
    headers = {"Authorization": f"Bearer {setup.admin_token}"}
    rows = 0
    start = time.perf_counter()
    with httpx.stream("GET", f"{base}/api/v1/projects/{setup.project_id}/export", params={"format": "jsonl"},
                      headers=headers, timeout=600) as response:  # fmt: skip
        response.raise_for_status()
        for chunk in response.iter_bytes():
            rows += chunk.count(b"\n")
    report.export_s = time.perf_counter() - start
    report.export_rows, report.export_rows_per_s = rows, rows / report.export_s
    report.server_peak_rss_mib = peak_rss_mib(server_pid)


@contextmanager
def serving(setup: Setup, timeout: float = 120.0) -> Iterator[tuple[str, int]]:
    """`prelabel serve --no-worker` on a free loopback port: (base URL, its pid)."""
    port = free_port()
    log = setup.folder / "serve.log"
    cmd = [_exe(), "serve", "--host", "127.0.0.1", "--port", str(port), "--database-url", setup.url, "--no-worker"]
    with background(cmd, _env(setup.folder), log) as proc:
        base = f"http://127.0.0.1:{port}"
        _wait_up(base + "/health", proc, log, timeout, "prelabel serve")
        yield base, proc.pid


# --- the command ----------------------------------------------------------------------------------------------
def bench_on(url: str, folder: Path, *, n: int, labels: int, readers: int, rounds: int, encode_sample: int) -> Report:
    report = Report(url.split(":", 1)[0].split("+", 1)[0], n)
    setup = setup_project(url, folder)
    _phase("import", lambda: measure_import(setup, n, report))
    _phase("first model", lambda: measure_first_model(setup, labels, report))
    _phase("encoding", lambda: measure_encoding(n, encode_sample, report))
    with serving(setup) as (base, pid):
        _phase("readers", lambda: measure_readers(base, setup, readers, rounds, n, report))
        _phase("export", lambda: measure_export(base, setup, pid, report))
    report.not_measured += [
        "the queue's head before the whole pool: a version's suggestions appear all at once when it is READY",
        "several workers on one job (encoding, pool prediction) and one search study across workers",
    ]
    return report


def _phase(name: str, fn: Callable[[], None]) -> None:
    start = time.perf_counter()
    print(f"bench scale: {name}…", file=sys.stderr, flush=True)
    fn()
    print(f"bench scale: {name} done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def run(
    *,
    n: int,
    database_url: str | None,
    labels: int = 200,
    readers: int = 10,
    rounds: int = 10,
    encode_sample: int = 2000,
    as_json: bool = False,
) -> Report:
    from prelabel.bench.store import with_temp_postgres

    options = {"n": n, "labels": labels, "readers": readers, "rounds": rounds, "encode_sample": encode_sample}
    with tempfile.TemporaryDirectory(prefix="prelabel-bench-scale-") as tmp:
        folder = Path(tmp)
        if database_url is None:
            report = bench_on(f"sqlite:///{folder / 'prelabel.db'}", folder, **options)
        else:
            report = with_temp_postgres(database_url, lambda url: bench_on(url, folder, **options))
    print(json.dumps(asdict(report), indent=2) if as_json else render(report))
    return report


# --- the table ------------------------------------------------------------------------------------------------
def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def summary_rows(r: Report) -> list[tuple[str, str, str]]:
    """(measure, figure, target and whether it is met)."""
    rows = [
        ("import", f"{r.import_s:.1f} s, {r.import_rows_per_s:,.0f} rows/s, peak RSS {r.import_peak_rss_mib:,.0f} MiB",
         f"<= {IMPORT_TARGET_S:.0f} s: {_met(r.import_s <= IMPORT_TARGET_S)}"),
        (f"first fast model on {r.labels} labels, whole pool",
         f"{r.first_model_s:.1f} s ({_phases(r.first_model_phases)})",
         f"<= {POOL_TARGET_S:.0f} s: {_met(r.first_model_s <= POOL_TARGET_S)}; queue's head <= {HEAD_TARGET_S:.0f} s: "
         f"{_met(r.first_model_s <= HEAD_TARGET_S)}"),
        ("worker peak RSS", f"{r.worker_peak_rss_mib:,.0f} MiB",
         f"<= {WORKER_RSS_TARGET_MIB:,.0f} MiB: {_met(r.worker_peak_rss_mib <= WORKER_RSS_TARGET_MIB)}"),
    ]  # fmt: skip
    if r.encode_texts_per_s is not None and r.encode_pool_s is not None:
        rows.append(("encoding, one worker thread", f"{r.encode_texts_per_s:,.0f} texts/s "
                     f"({r.encode_pool_s / 60:,.0f} min for the pool)", ""))  # fmt: skip
    for op in READ_OPERATIONS:
        lat = r.latency_ms.get(op, {})
        server, client = lat.get("server", {}), lat.get("client", {})
        target = PAGE_TARGETS_MS.get(op)
        p95 = server.get("p95")
        verdict = f"p95 <= {target:.0f} ms: {_met(p95 is not None and p95 <= target)}" if target else ""
        rows.append((f"{op} ({r.readers} readers), server p50/p95/p99 ms",
                     f"{_ms(server)}; client {_ms(client)}; n={server.get('n', 0)}", verdict))  # fmt: skip
    export = f"{r.export_rows:,} rows in {r.export_s:.1f} s, {r.export_rows_per_s:,.0f} rows/s"
    verdict = f">= {EXPORT_TARGET_ROWS_S:,.0f} rows/s: {_met(r.export_rows_per_s >= EXPORT_TARGET_ROWS_S)}"
    rows.append(("export JSONL", export, verdict))
    rows.append(("server peak RSS", f"{r.server_rss_mib_before_export:,.0f} MiB before export, "
                 f"{r.server_peak_rss_mib:,.0f} MiB after", ""))  # fmt: skip
    if r.status_errors:
        rows.append(("unexpected statuses", ", ".join(f"{k}: {v}" for k, v in sorted(r.status_errors.items())), ""))
    return rows


def _ms(p: dict[str, float | int | None]) -> str:
    return "/".join("-" if p.get(k) is None else f"{p[k]:.0f}" for k in ("p50", "p95", "p99"))


def _phases(phases: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in phases.items() if k != "total")


def render(r: Report) -> str:
    lines = [f"prelabel bench scale: {r.assets:,} assets on {r.database}", ""]
    lines += ["| measure | figure | target |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in summary_rows(r)]
    if r.not_measured:
        lines += ["", "Not measured (not built):", *(f"- {x}" for x in r.not_measured)]
    return "\n".join(lines)
