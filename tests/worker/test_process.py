"""The background worker as a real process: it trains as labels arrive, and SIGKILL mid-job loses nothing."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from loophelpers import label, make_world, topic_corpus
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from prelabel.automl.embeddings import embeddings_available
from prelabel.config import Settings
from prelabel.service import training as tsvc
from prelabel.store import repositories as repo
from prelabel.store import tables as t
from prelabel.store.engine import Store
from prelabel.worker.process import start_background_worker
from prelabel.worker.trainer import Trainer


def _wait(cond: object, timeout: float, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(step)
    return False


POOL = 4000  # assets; the trainer writes predictions in chunks of 2000 (`Trainer.chunk_size`), one commit each


def _versions(s: Session, project_id: int) -> dict[int, tuple[str, int]]:
    """model version id → (status, predictions written), read in ONE statement: one snapshot on both dialects
    (PostgreSQL's READ COMMITTED gives each statement its own)."""
    rows = s.execute(
        select(t.ModelVersion.id, t.ModelVersion.status, func.count(t.Prediction.id))
        .outerjoin(t.Prediction, t.Prediction.model_version_id == t.ModelVersion.id)
        .where(t.ModelVersion.project_id == project_id)
        .group_by(t.ModelVersion.id, t.ModelVersion.status)
    ).all()
    return {int(v): (str(st), int(n)) for v, st, n in rows}


@dataclass(frozen=True)
class _JobState:
    status: str
    attempts: int
    model_version_id: int | None
    versions: dict[int, tuple[str, int]]  # every version of the project: (status, predictions written)
    serving: int | None  # the version whose predictions labelers are served

    @property
    def written(self) -> int:
        """Predictions written so far for the version the job is writing."""
        return self.versions.get(self.model_version_id, ("", 0))[1] if self.model_version_id is not None else 0

    def half_visible(self) -> list[tuple[int, int]]:
        """READY versions (what labelers and the API see) with fewer or more predictions than assets."""
        return [(v, n) for v, (st, n) in self.versions.items() if st == "READY" and n != POOL]


def _job_state(store: Store, project_id: int, job_id: int) -> _JobState:
    with store.transaction(read_only=True) as s:
        versions = _versions(s, project_id)
        job = s.get(t.TrainingJob, job_id)
        assert job is not None
        serving = repo.serving_version(s, project_id)
        return _JobState(
            str(job.status),
            int(job.attempts),
            job.model_version_id,
            versions,
            int(serving.id) if serving is not None else None,
        )


class _Watcher(threading.Thread):
    """Reads the project's versions every few milliseconds and keeps every half-written version it saw
    READY."""

    def __init__(self, store: Store, project_id: int) -> None:
        super().__init__(daemon=True)
        self.store, self.project_id = store, project_id
        self.done = threading.Event()
        self.reads = 0
        self.half_visible: list[tuple[int, int]] = []

    def run(self) -> None:
        while not self.done.is_set():
            with self.store.transaction(read_only=True) as s:
                versions = _versions(s, self.project_id)
            self.half_visible += [(v, n) for v, (st, n) in versions.items() if st == "READY" and n != POOL]
            self.reads += 1
            time.sleep(0.005)


def test_background_worker_trains_and_survives_sigkill(store: Store, db_url: str) -> None:
    """SIGKILL lands while the worker is writing a version's predictions (some written, not all): nothing of
    that version is ever served, and the job, claimed again once its lease expires, publishes one complete
    version with exactly one prediction per asset."""
    texts, truth = topic_corpus(POOL)
    w = make_world(store, texts, settings={"train_debounce_s": 0.0, "search_enabled": False})
    settings = Settings(database_url=db_url, environment="test", log_level="WARNING")
    handle = start_background_worker(settings, lease_seconds=1.5, poll_seconds=0.1, tiers=(None,))
    try:
        for aid, y in list(zip(w.asset_ids, truth, strict=True))[:10]:
            label(w, aid, y)

        def ready() -> bool:
            with store.transaction(read_only=True) as s:
                return bool(s.scalar(select(func.count()).where(t.ModelVersion.status == "READY")))

        assert _wait(ready, 60), "the background worker produced no model"
        # a second job, killed with SIGKILL while it writes its version's predictions
        [job] = tsvc.request_training(store, w.admin, w.project_id, tier="fast")
        seen: list[_JobState] = []

        def look() -> _JobState:
            seen.append(_job_state(store, w.project_id, job.id))
            return seen[-1]

        def predicting() -> bool:  # the fit is over: the job has created its version (or has ended)
            state = look()
            return state.model_version_id is not None or state.status in ("SUCCEEDED", "FAILED")

        def writing() -> bool:  # the first chunk of predictions is committed (or the job has ended)
            state = look()
            return state.status != "RUNNING" or 0 < state.written < POOL

        # each chunk takes about half a second to predict and write here: polling every 5 ms catches the state
        # between two commits, and the kill lands long before the next one (the checks below would say so)
        assert _wait(predicting, 90, step=0.05), "the job never got to predicting"
        assert _wait(writing, 30, step=0.005), "the job never wrote predictions"
        assert handle.pid is not None
        os.kill(handle.pid, signal.SIGKILL)
        handle.process.join(5)
        # what the dead worker left: its job RUNNING, part of its version's predictions, the version unpublished
        killed = _job_state(store, w.project_id, job.id)
        half = killed.model_version_id
        assert killed.status == "RUNNING" and half is not None, killed
        assert 0 < killed.written < POOL, f"the kill did not land mid-write: {killed.written}/{POOL} written"
        assert killed.versions[half][0] == "TRAINING", killed
        assert killed.serving is not None and killed.serving != half, killed  # labelers get the first version's
        assert not handle.is_alive()
        time.sleep(1.6)  # the dead worker's lease runs out; nothing it had started goes on
        assert _job_state(store, w.project_id, job.id) == killed
    finally:
        handle.stop()
    assert not any(s.half_visible() for s in seen), [s.half_visible() for s in seen if s.half_visible()]
    watcher = _Watcher(store, w.project_id)
    watcher.start()
    try:
        Trainer(store, schedule=False).run_until_idle()
    finally:
        watcher.done.set()
        watcher.join(10)
    assert watcher.reads > 0 and not watcher.half_visible, watcher.half_visible
    # claimed again: the killed version abandoned (its predictions deleted), a new one complete and served
    final = _job_state(store, w.project_id, job.id)
    assert final.status == "SUCCEEDED" and final.attempts == 2, final
    assert final.versions[half] == ("FAILED", 0), final
    assert final.model_version_id not in (None, half), final
    assert final.serving == final.model_version_id
    with store.transaction(read_only=True) as s:
        jobs = list(s.scalars(select(t.TrainingJob)))
        assert all(j.status == "SUCCEEDED" for j in jobs)
        versions = list(s.scalars(select(t.ModelVersion).order_by(t.ModelVersion.version)))
        published = list(
            s.scalars(select(t.Prediction.asset_id).where(t.Prediction.model_version_id == final.model_version_id))
        )
        s.expunge_all()
    assert sorted(published) == sorted(w.asset_ids), "not exactly one prediction per asset"
    assert [v.version for v in versions] == list(range(1, len(versions) + 1))
    for v in versions:
        assert v.status in ("READY", "FAILED")
        assert final.versions[v.id][1] == (POOL if v.status == "READY" else 0)
    assert sum(v.status == "READY" for v in versions) == 2


def test_stop_ends_idle_workers(db_url: str) -> None:
    handle = start_background_worker(Settings(database_url=db_url, environment="test"), poll_seconds=0.1)
    assert len(handle.processes) == 2 and handle.is_alive()  # one for fast jobs, one for searches
    assert handle.wait_ready(timeout=120)
    handle.stop(timeout=120)  # generous: spawning imports sklearn, slow on a loaded 2-core machine
    assert not handle.is_alive() and [p.exitcode for p in handle.processes] == [0, 0]


@pytest.mark.embeddings
@pytest.mark.skipif(not embeddings_available(), reason="prelabel[embeddings] is not installed")
def test_both_worker_processes_load_the_sentence_model_as_they_start(
    db_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """The process that prepares imports and the fast one each load MiniLM beside polling (not at the first
    import, nor at a project's first fast model, which needs it for the zero-shot prior)."""
    settings = Settings(database_url=db_url, environment="test", log_level="INFO")
    handle = start_background_worker(settings, poll_seconds=0.1, tiers=(("fast",), ("prepare", "search")))
    err = ""
    try:
        assert handle.wait_ready(60)
        end = time.monotonic() + 120
        while err.count("sentence model loaded") < 2 and time.monotonic() < end and handle.is_alive():
            time.sleep(0.2)
            err += capfd.readouterr().err
    finally:
        handle.stop()
    err += capfd.readouterr().err
    lines = [x for x in err.splitlines() if "sentence model loaded" in x]
    assert len(lines) == 2, err[-2000:]
    assert "could not preload" not in err


def test_stopping_does_not_hang_on_a_worker_killed_while_idle(db_url: str) -> None:
    """A worker killed while it waits for work (the OOM killer, SIGTERM to the whole process group from
    `timeout`, docker or systemd) must not make the server's shutdown wait forever for it."""
    import threading

    settings = Settings(database_url=db_url, environment="test", log_level="WARNING", preload_embeddings=False)
    handle = start_background_worker(settings, poll_seconds=0.2, tiers=(("fast",), ("prepare", "search")))
    assert handle.wait_ready(60)
    time.sleep(1.0)  # both are idle, waiting for the next poll
    victim = handle.processes[0]
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(5)
    stopper = threading.Thread(target=handle.stop, daemon=True)
    stopper.start()
    stopper.join(30)
    assert not stopper.is_alive(), "handle.stop() hung on the killed worker"
    assert not handle.is_alive()


_ORPHAN_SCRIPT = """
import os, signal, sys
from prelabel.config import Settings
from prelabel.worker.process import start_background_worker

if __name__ == "__main__":
    settings = Settings(database_url=sys.argv[1], environment="test", log_level="WARNING", preload_embeddings=False)
    handle = start_background_worker(settings, poll_seconds=0.1)
    assert handle.wait_ready(120)
    print(" ".join(str(p.pid) for p in handle.processes), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # the server dies without any shutdown (kill -9, the OOM killer)
"""


def test_workers_stop_when_the_server_is_killed_and_leave_nothing_behind(db_url: str, tmp_path: Path) -> None:
    """A SIGKILLed server runs no shutdown code: its worker processes notice that their parent has gone and
    stop instead of living on as orphans, and nothing is reported as leaked (the readiness flags are shared
    memory, not a named semaphore)."""
    import subprocess
    import sys

    script = tmp_path / "server.py"
    script.write_text(_ORPHAN_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), db_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    pids = [int(x) for x in proc.stdout.readline().split()]
    try:
        assert len(pids) == 2, proc.stderr.read() if proc.stderr else ""

        def gone() -> bool:
            for pid in pids:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    continue
                with open(f"/proc/{pid}/stat") as f:  # reaped by init, or a zombie waiting to be
                    if f.read().split(")")[-1].split()[0] != "Z":
                        return False
            return True

        assert _wait(gone, 30, 0.1), "the worker processes outlived the server"
        # stderr closes once every process holding it (workers, resource tracker) has exited
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert "leaked" not in err, err[-2000:]
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        proc.kill()
