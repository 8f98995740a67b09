"""The background worker as a real process: it trains as labels arrive, and SIGKILL mid-job loses nothing."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest
from loophelpers import label, make_world, topic_corpus
from sqlalchemy import func, select

from prelabel.automl.embeddings import embeddings_available
from prelabel.config import Settings
from prelabel.service import training as tsvc
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


def test_background_worker_trains_and_survives_sigkill(store: Store, db_url: str) -> None:
    texts, truth = topic_corpus(4000)
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
        # a second job, killed with SIGKILL as soon as it writes its version
        tsvc.request_training(store, w.admin, w.project_id, tier="fast")

        def writing() -> bool:
            with store.transaction(read_only=True) as s:
                job = s.scalars(select(t.TrainingJob).order_by(t.TrainingJob.id.desc()).limit(1)).one()
                return job.status != "QUEUED" and (
                    job.model_version_id is not None or job.status != "RUNNING"
                )

        assert _wait(writing, 60, step=0.005)
        assert handle.pid is not None
        os.kill(handle.pid, signal.SIGKILL)
        handle.process.join(5)
        assert not handle.is_alive()
    finally:
        handle.stop()
    time.sleep(1.6)  # the dead worker's lease runs out
    Trainer(store, schedule=False).run_until_idle()
    with store.transaction(read_only=True) as s:
        jobs = list(s.scalars(select(t.TrainingJob)))
        assert all(j.status == "SUCCEEDED" for j in jobs)
        versions = list(s.scalars(select(t.ModelVersion).order_by(t.ModelVersion.version)))
        counts = dict(
            s.execute(
                select(t.Prediction.model_version_id, func.count()).group_by(t.Prediction.model_version_id)
            ).all()
        )
        s.expunge_all()
    assert [v.version for v in versions] == list(range(1, len(versions) + 1))
    for v in versions:
        assert v.status in ("READY", "FAILED")
        assert counts.get(v.id, 0) == (4000 if v.status == "READY" else 0)
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
