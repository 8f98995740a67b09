"""Run one trainer as a background process (multiprocessing, spawn) for `prelabel serve` / `prelabel demo`.

The child builds its own Store from the settings (nothing is shared with the server process but the database),
polls for jobs and stops when the handle's event is set. A child that dies (killed, out of memory) loses only
its current job's lease; the job is claimed again by the next worker after the lease expires.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from dataclasses import dataclass
from typing import Any

from prelabel.config import Settings

STOP_TIMEOUT_S = 10.0


def _main(settings_json: str, stop: Any, lease_seconds: float, poll_seconds: float) -> None:
    from prelabel.store.engine import Store
    from prelabel.worker.trainer import Trainer

    settings = Settings.model_validate_json(settings_json)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s[worker]: %(message)s"
    )
    store = Store(settings.database_url)
    try:
        Trainer(store, lease_seconds=lease_seconds, poll_seconds=poll_seconds).run_forever(stop)
    except KeyboardInterrupt:
        pass
    finally:
        store.dispose()


@dataclass
class WorkerHandle:
    process: Any  # multiprocessing.process.BaseProcess
    stop_event: Any

    @property
    def pid(self) -> int | None:
        return int(self.process.pid) if self.process.pid is not None else None

    def is_alive(self) -> bool:
        return bool(self.process.is_alive())

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Ask the worker to stop after its current step; terminate it if it does not within `timeout`.
        A terminated job is picked up again later (its lease expires), so stopping is always safe."""
        self.stop_event.set()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


def start_background_worker(
    settings: Settings, *, lease_seconds: float = 60.0, poll_seconds: float = 0.5
) -> WorkerHandle:
    """Start one trainer process against `settings.database_url`; call `.stop()` on shutdown."""
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    proc = ctx.Process(
        target=_main,
        args=(settings.model_dump_json(), stop, lease_seconds, poll_seconds),
        name="prelabel-worker",
        daemon=True,
    )
    proc.start()
    return WorkerHandle(proc, stop)
