"""Run the trainer as background processes (multiprocessing, spawn) for `prelabel serve` / `prelabel demo`.

By default two processes: one claims only ``fast`` jobs and one ``prepare`` and ``search`` jobs, so that an
import's encoding or a budgeted search (tens of seconds) never delays the next fast model (seconds) that labelers
are waiting for. Both load the sentence model in a thread as they start (`Settings.preload_embeddings`), so an
import's first queue order waits for the encoding only, and the first fast model (it encodes the categories'
descriptions for its zero-shot prior and any labeled text not encoded yet) not for the model to load. Each child
builds its own Store from the settings (nothing is shared with the server but the database), polls for jobs
and stops when the handle's `StopFlag` is set. A child that dies (killed, out of memory) loses only its current
job's lease; the job is claimed again by the next worker after the lease expires.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from prelabel.config import Settings

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0
# the second process also prepares imports (encoding texts takes minutes on a large import): a fast model is
# never stuck behind it
DEFAULT_TIERS: tuple[tuple[str, ...], ...] = (("fast",), ("prepare", "search"))
PRELOAD_TIERS = ("fast", "prepare")  # processes claiming these tiers load the sentence model as they start


def _main(
    settings_json: str,
    stop: Any,
    ready: Any,
    index: int,
    lease_seconds: float,
    poll_seconds: float,
    tiers: tuple[str, ...] | None,
    initial_order_threads: int | None = None,
    preload_tiers: tuple[str, ...] = PRELOAD_TIERS,
) -> None:
    from prelabel.store.engine import Store
    from prelabel.worker.trainer import Trainer

    settings = Settings.model_validate_json(settings_json)
    if settings.worker_nice and hasattr(os, "nice"):
        os.nice(settings.worker_nice)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s[worker]: %(message)s"
    )
    store = Store(settings.database_url)
    try:
        trainer = Trainer(
            store, lease_seconds=lease_seconds, poll_seconds=poll_seconds, tiers=tiers,
            initial_order_threads=initial_order_threads,
        )
        if settings.preload_embeddings and (tiers is None or set(tiers) & set(preload_tiers)):
            # load the sentence model beside polling (a job that needs it waits on its lock): an import's prepare
            # job encodes first thing, and a project's first fast model needs it for the zero-shot prior (the
            # first fast version took 7.4-8.9 s after the tenth label without it in this process, 'bench prepare')
            threading.Thread(target=_preload, name="prelabel-preload-embeddings", daemon=True).start()
        ready[index] = 1  # this process imports everything and is about to poll
        # also stop when the server is gone: a SIGKILLed or OOM-killed parent runs no shutdown, and the
        # daemon flag only helps a parent that exits normally, so the workers lived on as orphans
        trainer.run_forever(StopFlag(stop.value_ref, parent=mp.parent_process()))
    except KeyboardInterrupt:
        pass
    finally:
        store.dispose()


def _preload() -> None:
    from prelabel.automl.embeddings import preload_model

    t0 = time.perf_counter()
    try:
        if preload_model():
            logger.info("sentence model loaded in %.1f s", time.perf_counter() - t0)
    except Exception:  # the job that needs it will load it again and report the error on the job
        logger.exception("could not preload the sentence model")


class StopFlag:
    """The shutdown signal shared with the worker processes: a byte in shared memory that the parent sets and
    the children poll (the `is_set` / `wait(timeout)` of an Event, which `Trainer.run_forever` takes).

    Not a `multiprocessing.Event`: its `set()` waits for every process sleeping in `wait()` to acknowledge, so
    one worker killed while idle (OOM killer, SIGKILL, a SIGTERM to the whole process group) made the server's
    shutdown hang forever. Setting a byte waits for nobody."""

    POLL_S = 0.05

    def __init__(self, value: Any, *, parent: Any = None) -> None:
        self._value = value  # a multiprocessing RawValue("b"), inherited by the spawned children
        # in a child: `multiprocessing.parent_process()`; the flag then also counts as set once it has died
        self._parent = parent

    @property
    def value_ref(self) -> Any:
        return self._value

    def set(self) -> None:
        self._value.value = 1

    def is_set(self) -> bool:
        return bool(self._value.value) or (self._parent is not None and not self._parent.is_alive())

    def wait(self, timeout: float | None = None) -> bool:
        end = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = self.POLL_S if end is None else min(self.POLL_S, end - time.monotonic())
            if left <= 0:
                break
            time.sleep(left)
        return self.is_set()


@dataclass
class WorkerHandle:
    """The background trainer processes; `.stop()` ends them all."""

    processes: list[Any]  # multiprocessing.process.BaseProcess
    stop_event: StopFlag
    tiers: list[tuple[str, ...] | None] = field(default_factory=list)
    # a byte per process in shared memory, set once it has imported everything and polls; not a
    # multiprocessing.Semaphore, a named OS object that the resource tracker reported as leaked ("leaked
    # semaphore objects to clean up at shutdown") once a killed server's workers had ended
    ready: Any = None

    READY_POLL_S: ClassVar[float] = 0.05

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Block until every process is polling for jobs (spawning imports scikit-learn: seconds); False
        after `timeout` seconds or as soon as a process has died before it got there."""
        end = time.monotonic() + timeout
        while True:
            flags = [bool(self.ready[i]) for i in range(len(self.processes))]
            if all(flags):
                return True
            if time.monotonic() >= end or any(
                not f and p.exitcode is not None for f, p in zip(flags, self.processes, strict=True)
            ):
                return False
            time.sleep(self.READY_POLL_S)

    @property
    def process(self) -> Any:
        """The first process (the fast-tier one by default)."""
        return self.processes[0]

    @property
    def pid(self) -> int | None:
        return int(self.process.pid) if self.process.pid is not None else None

    def is_alive(self) -> bool:
        return any(p.is_alive() for p in self.processes)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Ask the workers to stop after their current step; terminate any that does not within `timeout`.
        A terminated job is picked up again later (its lease expires), so stopping is always safe."""
        self.stop_event.set()
        for p in self.processes:
            p.join(timeout)
            if p.is_alive():
                p.terminate()
                p.join(5)


def start_background_worker(
    settings: Settings,
    *,
    lease_seconds: float = 60.0,
    poll_seconds: float = 0.25,
    tiers: tuple[tuple[str, ...] | None, ...] = DEFAULT_TIERS,
    initial_order_threads: int | None = None,
    preload_tiers: tuple[str, ...] = PRELOAD_TIERS,
) -> WorkerHandle:
    """Start trainer processes against `settings.database_url` (by default one for fast jobs, one for
    searches; pass ``tiers=(None,)`` for a single process taking every job); call `.stop()` on shutdown.
    `initial_order_threads`: see `Trainer`; `preload_tiers`: the processes claiming any of these tiers preload the
    sentence model (with `Settings.preload_embeddings`); the benchmark `prelabel bench prepare` compares both."""
    ctx = mp.get_context("spawn")
    stop = StopFlag(ctx.RawValue("b", 0))
    ready = ctx.RawArray("b", len(tiers))
    procs = []
    for index, tier in enumerate(tiers):
        proc = ctx.Process(
            target=_main,
            args=(
                settings.model_dump_json(), stop, ready, index, lease_seconds, poll_seconds, tier,
                initial_order_threads, preload_tiers,
            ),
            name=f"prelabel-worker-{'+'.join(tier) if tier else 'all'}",
            daemon=True,
        )
        proc.start()
        procs.append(proc)
    return WorkerHandle(procs, stop, list(tiers), ready)
