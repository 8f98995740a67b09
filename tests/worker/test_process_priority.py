"""The background trainer processes of `prelabel serve` run at a lower CPU priority than the server
(`PRELABEL_WORKER_NICE`), so that labelers' requests come first while training fills the cores."""

from __future__ import annotations

import os

import pytest

from prelabel.config import Settings
from prelabel.worker.process import start_background_worker

pytestmark = pytest.mark.skipif(not hasattr(os, "getpriority"), reason="Unix process priorities")


@pytest.mark.parametrize("nice", [10, 0])
def test_worker_processes_run_nice_by_the_setting(db_url: str, nice: int) -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    settings = Settings(database_url=db_url, environment="test", worker_nice=nice, preload_embeddings=False)
    handle = start_background_worker(settings, poll_seconds=0.1, tiers=(None,))
    try:
        assert handle.wait_ready(timeout=120)
        assert handle.pid is not None
        assert os.getpriority(os.PRIO_PROCESS, handle.pid) == min(own + nice, 19)
    finally:
        handle.stop(timeout=120)
