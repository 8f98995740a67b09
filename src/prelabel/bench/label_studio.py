"""`prelabel bench label-studio`: a real Label Studio connected to a real prelabel server as its ML backend, timed.

Both run on 127.0.0.1 in a temporary directory: Label Studio (its own executable, from the venv `./run test` makes,
``.venv-ls``) on its own SQLite file with a known user and legacy API token, prelabel as `prelabel serve` with its
background trainer on another. The bench creates a Label Studio project with one single-choice ``<Choices>`` on
a ``<Text>``, imports demo tweets as tasks, connects prelabel (``/label-studio/<token>/``), and then, as a user
clicking Label Studio's "Retrieve predictions" (the action every task's first look in the label stream also
triggers) every `POLL_S` seconds, times

* connect → every task has a prelabel prediction (the zero-shot version, which needs prelabel[embeddings]);
* each tenth annotation (posted through Label Studio's API, answered with the demo's labels) → every task has a
  prediction of a fresher model version than before that round.

The helpers that start and drive both servers are shared with tests/label_studio/.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx

LS_ENV = "PRELABEL_TEST_LABEL_STUDIO"  # a label-studio executable (else .venv-ls/bin/label-studio)
# A throw-away Label Studio on 127.0.0.1 in a temporary directory: fixed credentials, not a secret.
LS_USER = "admin@prelabel.invalid"
LS_PASSWORD = "prelabel-test-password"
LS_TOKEN = "prelabel0test0token0for0label0studio"
POLL_S = 0.5
LABEL_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Header value="Is this tweet about a real disaster?"/>
  <Choices name="disaster" toName="text" choice="single" required="true">
    <Choice value="Disaster" hint="A real disaster, accident or emergency happening now"/>
    <Choice value="Not a disaster"/>
  </Choices>
</View>
"""
CHOICE = {"DISASTER": "Disaster", "NOT_DISASTER": "Not a disaster"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_label_studio(root: Path | None = None) -> Path | None:
    """The label-studio executable: $PRELABEL_TEST_LABEL_STUDIO, else `root`/.venv-ls/bin/label-studio."""
    if os.environ.get(LS_ENV):
        path = Path(os.environ[LS_ENV])
        return path if path.exists() else None
    path = (root or Path.cwd()) / ".venv-ls" / "bin" / "label-studio"
    return path if path.exists() else None


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start; the end of its log ({log}):\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End a server started in its own session, and whatever it started (the trainer's processes)."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)


# --- Label Studio ---------------------------------------------------------------------------------------------
@dataclass
class LabelStudio:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    startup_s: float

    def client(self, timeout: float = 120.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Token {LS_TOKEN}"}, timeout=timeout)

    def stop(self) -> None:
        _stop(self.proc)


def label_studio_env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),  # else it also writes to ~/.local/share/label-studio
        # prelabel listens on 127.0.0.1: Label Studio refuses ML backends and webhooks on local addresses unless
        # told otherwise (the how-to explains this for real deployments)
        "ML_BLOCK_LOCAL_IP": "false",
        "SSRF_PROTECTION_ENABLED": "false",
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
    }


def start_label_studio(exe: Path, workdir: Path, *, timeout: float = 240.0) -> LabelStudio:
    """Start Label Studio headless on a free port of 127.0.0.1 with `LS_USER` and the legacy token `LS_TOKEN`.
    A migrated empty database next to the executable (`./run test` makes it) is copied in first: without it
    Label Studio migrates a new one, about 30 s on two cores."""
    data = workdir / "label-studio"
    data.mkdir(parents=True, exist_ok=True)
    template = exe.parent.parent / "prelabel-template" / "label_studio.sqlite3"
    if template.exists():
        shutil.copy(template, data / "label_studio.sqlite3")
    port = free_port()
    log = workdir / "label-studio.log"
    cmd = [str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
           "--data-dir", str(data), "--username", LS_USER, "--password", LS_PASSWORD, "--user-token", LS_TOKEN,
           "--enable-legacy-api-token"]
    t0 = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=label_studio_env(data),
                                cwd=workdir, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url + "/health", proc, log, timeout, "Label Studio")
    except BaseException:
        _stop(proc)
        raise
    return LabelStudio(url, proc, log, time.monotonic() - t0)


# --- prelabel -------------------------------------------------------------------------------------------------
@dataclass
class Prelabel:
    url: str
    database_url: str
    username: str
    token: str
    proc: subprocess.Popen[bytes]
    log: Path

    def backend_url(self, project_id: int | None = None) -> str:
        """The ML backend URL to give Label Studio."""
        return f"{self.url}/label-studio/{self.token}/" + (f"projects/{project_id}/" if project_id else "")

    def stop(self) -> None:
        _stop(self.proc)


def start_prelabel(workdir: Path, *, timeout: float = 120.0, env: dict[str, str] | None = None) -> Prelabel:
    """`prelabel serve --worker` on a free port over a new SQLite file, with a user and an API token."""
    from prelabel.service import auth
    from prelabel.store.engine import Store

    url = f"sqlite:///{workdir / 'prelabel.db'}"
    store = Store(url)
    try:
        store.upgrade()
        user = auth.create_user(store, "ls-bot", "ls-bot-password")
        _, token = auth.create_token(store, auth.Actor(user.id, user.username), "label-studio")
    finally:
        store.dispose()
    port = free_port()
    log = workdir / "prelabel.log"
    exe = Path(sys.executable).parent / "prelabel"
    env = {**os.environ, "PRELABEL_DATA_DIR": str(workdir / "prelabel-data"), "PRELABEL_LOG_LEVEL": "WARNING",
           **(env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--database-url", url, "--worker"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base + "/health", proc, log, timeout, "prelabel serve")
    except BaseException:
        _stop(proc)
        raise
    return Prelabel(base, url, "ls-bot", token, proc, log)


# --- Label Studio's API -------------------------------------------------------------------------------------
def _ok(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        raise RuntimeError(f"Label Studio answered {r.status_code} to {r.request.method} {r.request.url}: "
                           f"{r.text[:1000]}")
    return r.json() if r.content else None


def create_project(ls: httpx.Client, title: str, label_config: str = LABEL_CONFIG) -> int:
    return int(_ok(ls.post("/api/projects", json={"title": title, "label_config": label_config}))["id"])


def import_tasks(ls: httpx.Client, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
    """Import tasks; their ids in the order given."""
    _ok(ls.post(f"/api/projects/{project_id}/import", json=tasks))
    return task_ids(ls, project_id)


def task_ids(ls: httpx.Client, project_id: int) -> list[int]:
    tasks = _ok(ls.get("/api/tasks", params={"project": project_id, "page_size": 10_000, "fields": "all"}))
    return sorted(t["id"] for t in (tasks["tasks"] if isinstance(tasks, dict) else tasks))


def connect(ls: httpx.Client, project_id: int, url: str) -> dict[str, Any]:
    """Add prelabel as the project's ML backend (Label Studio checks /health and /setup before saving it)."""
    backend: dict[str, Any] = _ok(ls.post("/api/ml", json={"url": url, "project": project_id, "title": "prelabel"}))
    return backend


def retrieve_predictions(ls: httpx.Client, project_id: int) -> None:
    """Data Manager's "Retrieve predictions" on every task (only tasks without a prediction of the backend's
    current model version are sent to /predict)."""
    _ok(ls.post("/api/dm/actions", params={"id": "retrieve_tasks_predictions", "project": project_id},
                json={"selectedItems": {"all": True, "excluded": []}}))


def newest_predictions(ls: httpx.Client, project_id: int) -> dict[int, dict[str, Any]]:
    """task id → its newest prediction."""
    out: dict[int, dict[str, Any]] = {}
    for p in sorted(_ok(ls.get("/api/predictions", params={"project": project_id})), key=lambda p: p["id"]):
        out[p["task"]] = p
    return out


def annotate(ls: httpx.Client, task_id: int, choice: str, lead_time: float = 3.0) -> None:
    result = [{"from_name": "disaster", "to_name": "text", "type": "choices", "value": {"choices": [choice]}}]
    _ok(ls.post(f"/api/tasks/{task_id}/annotations", json={"result": result, "lead_time": lead_time}))


def version_number(model_version: str | None) -> int | None:
    """7 for prelabel's ``prelabel-automl-7``; None for anything else (``prelabel-pending`` included)."""
    if not model_version or not model_version.startswith("prelabel-"):
        return None
    tail = model_version.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def wait_for_versions(
    ls: httpx.Client, project_id: int, tasks: list[int], accept: Callable[[int], bool], *, timeout: float
) -> tuple[float, int] | None:
    """Retrieve predictions every `POLL_S` s until every task's newest prediction is of a prelabel version that
    `accept`s; (seconds, the lowest such version), or None after `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        retrieve_predictions(ls, project_id)
        newest = newest_predictions(ls, project_id)
        versions = {version_number(newest.get(t, {}).get("model_version")) for t in tasks}
        if None not in versions and all(accept(v) for v in versions if v is not None):
            return time.monotonic() - t0, min(v for v in versions if v is not None)
        time.sleep(POLL_S)
    return None


def prelabel_versions(pl: Prelabel) -> dict[int, dict[str, Any]]:
    """version number → prelabel's model version (tier, n_labels, …) of the one project the bench's user has."""
    headers = {"Authorization": f"Bearer {pl.token}"}
    (project,) = httpx.get(f"{pl.url}/api/v1/projects", headers=headers).json()
    got = httpx.get(f"{pl.url}/api/v1/projects/{project['id']}/model-versions", headers=headers).json()
    return {mv["version"]: mv for mv in got}


# --- the demo tweets ------------------------------------------------------------------------------------------
def demo_tasks(n: int, seed: int = 0) -> list[tuple[dict[str, Any], str]]:
    """`n` demo tweets as Label Studio tasks with their answers (DISASTER / NOT_DISASTER), the two classes
    alternating (the shipped file starts with a run of disasters)."""
    text = (files("prelabel") / "demo_data" / "train.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    random.Random(seed).shuffle(rows)
    pos = [r for r in rows if r["target"] == "1"][: (n + 1) // 2]
    neg = [r for r in rows if r["target"] == "0"][: n // 2]
    mixed = [r for pair in zip(pos, neg, strict=False) for r in pair] + pos[len(neg):]
    return [({"data": {"text": r["text"], "tweet_id": r["id"]}},
             "DISASTER" if r["target"] == "1" else "NOT_DISASTER") for r in mixed[:n]]


# --- the bench ------------------------------------------------------------------------------------------------
@dataclass
class Timings:
    label_studio_start_s: float
    tasks: int
    connect_to_predictions_s: float | None = None
    first_version: str | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)


def _describe(pl: Prelabel, version: int | None) -> str | None:
    if version is None:
        return None
    mv = prelabel_versions(pl).get(version, {})
    return f"{mv.get('display_name')} ({mv.get('tier')}, {mv.get('n_labels')} labels)"


def _round(
    ls: httpx.Client, pl: Prelabel, pid: int, ids: list[int], n: int, before: int, timeout: float
) -> dict[str, Any]:
    """Seconds from the `n`-th annotation until every task has a version above `before`, and until every task
    has one trained on all `n` labels."""
    t0 = time.monotonic()
    fresher = wait_for_versions(ls, pid, ids, lambda v: v > before, timeout=timeout)

    def trained_on_all(v: int) -> bool:
        return int(prelabel_versions(pl).get(v, {}).get("n_labels", 0)) >= n

    complete = wait_for_versions(ls, pid, ids, trained_on_all, timeout=timeout)
    return {
        "annotations": n,
        "fresher_s": fresher[0] if fresher else None,
        "fresher_version": _describe(pl, fresher[1] if fresher else None),
        "all_labels_s": time.monotonic() - t0 if complete else None,
        "all_labels_version": _describe(pl, complete[1] if complete else None),
        "newest": complete[1] if complete else fresher[1] if fresher else before,
    }


def _scenario(ls_server: LabelStudio, pl: Prelabel, n_tasks: int, rounds: int, timeout: float) -> Timings:
    timings = Timings(ls_server.startup_s, n_tasks)
    with ls_server.client() as ls:
        pid = create_project(ls, "prelabel bench")
        tasks = demo_tasks(n_tasks)
        ids = import_tasks(ls, pid, [t for t, _ in tasks])
        answers = dict(zip(ids, (a for _, a in tasks), strict=True))
        connect(ls, pid, pl.backend_url())
        got = wait_for_versions(ls, pid, ids, lambda v: v > 0, timeout=timeout)
        if got is not None:
            timings.connect_to_predictions_s, timings.first_version = got[0], _describe(pl, got[1])
        version = got[1] if got else 0
        for r in range(rounds):
            for tid in ids[r * 10 : (r + 1) * 10]:
                annotate(ls, tid, CHOICE[answers[tid]])
            row = _round(ls, pl, pid, ids, (r + 1) * 10, version, timeout)
            version = row.pop("newest")
            timings.rounds.append(row)
    return timings


def _seconds(value: float | None, timeout: float) -> str:
    return f"{value:.2f}" if value is not None else f"none within {timeout:g} s"


def run(*, label_studio: Path | None, tasks: int = 60, rounds: int = 3, settle: float = 10.0,
        timeout: float = 120.0, json_out: Path | None = None, workdir: Path | None = None) -> Timings:
    """Start both servers in a temporary directory, run the scenario, print the table (and write JSON)."""
    import tempfile

    from rich.console import Console
    from rich.table import Table

    exe = label_studio or find_label_studio()
    if exe is None:
        raise RuntimeError(f"no label-studio executable: run ./run test once (it makes .venv-ls) or set {LS_ENV}")
    console = Console()
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        pl = start_prelabel(Path(tmp))
        try:
            ls_server = start_label_studio(exe, Path(tmp))
            try:
                time.sleep(settle)  # the trainer's processes load the sentence model as they start
                timings = _scenario(ls_server, pl, tasks, rounds, timeout)
            finally:
                ls_server.stop()
        finally:
            pl.stop()
    table = Table(title=f"Label Studio ↔ prelabel: {tasks} tasks, a retrieval every {POLL_S:g} s")
    for col in ("after", "every task has", "seconds", "model version"):
        table.add_column(col)
    table.add_row("connecting", "a prediction", _seconds(timings.connect_to_predictions_s, timeout),
                  timings.first_version or "-")
    for row in timings.rounds:
        after = f"annotation {row['annotations']}"
        table.add_row(after, "a fresher version", _seconds(row["fresher_s"], timeout), row["fresher_version"] or "-")
        table.add_row(after, "one trained on all", _seconds(row["all_labels_s"], timeout),
                      row["all_labels_version"] or "-")
    console.print(table)
    console.print(f"Label Studio started in {timings.label_studio_start_s:.1f} s.")
    if json_out is not None:
        json_out.write_text(json.dumps(timings.__dict__, indent=2) + "\n")
    return timings
