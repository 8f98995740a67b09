"""`prelabel bench store`: throughput of the store and service layer on a temporary database.

For each backend (a temporary SQLite file; with ``--postgres-url`` also a temporary PostgreSQL database
created on that server and dropped afterwards) and each repeat (into a fresh project), it measures:

* ``import`` — `service.assets.import_assets` of N records (validation + bulk insert, one transaction);
* ``iterate`` — `service.assets.iter_assets` over all N assets (keyset chunks of 1000);
* ``pages+labels+pred`` — `service.assets.list_assets` pages of 1000 with labels and current predictions;
* ``predictions (worker)`` — `service.predictions.bulk_store_predictions` of N predictions (one transaction);
* ``predictions (API)`` — `service.predictions.create_predictions` of N validated predictions, 5000 per call;
* baselines, in the same process and database: a naive ORM insert, one INSERT per row (``session.add`` +
  ``flush``), of a smaller sample of assets and of predictions.

It prints medians over the repeats (wall time, and CPU time of this process: the steadier figure on a shared
machine) and each figure's ratio to its baseline's rows/s. No figure is asserted.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from prelabel.domain import ModelStatus
from prelabel.service import assets, auth, models, predictions, projects
from prelabel.service.dto import AssetFilter, AssetIn, PredictionIn
from prelabel.store import tables as t
from prelabel.store.engine import Store, normalize_url

INTERFACE = {"jobs": [{"name": "JOB_0", "input": "single", "categories": [{"key": "POS"}, {"key": "NEG"}]}]}
T = TypeVar("T")
_WORDS = [
    *("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while"),
    *("fire", "and", "flood", "warnings", "spread", "across", "town"),
]


@dataclass
class Row:
    backend: str
    operation: str
    rows: int
    median_s: float
    rows_per_s: float
    median_cpu_s: float
    ratio: float | None
    baseline: str
    target: str = ""


def _texts(n: int, seed: int = 0) -> list[str]:
    out = []
    for i in range(n):
        k = (i * 7919 + seed) % len(_WORDS)
        out.append(f"{i} " + " ".join(_WORDS[(k + j) % len(_WORDS)] for j in range(12 + i % 9)))
    return out


def _records(n: int, prefix: str) -> list[AssetIn]:
    return [
        AssetIn(external_id=f"{prefix}{i}", content=text, json_metadata={"i": i}) for i, text in enumerate(_texts(n))
    ]


def _response(i: int) -> dict[str, Any]:
    p = (i % 97) / 100
    key = "POS" if p >= 0.5 else "NEG"
    top = p if p >= 0.5 else 1 - p
    return {
        "JOB_0": {
            "categories": [{"name": key, "confidence": round(top * 100), "probability": top}],
            "probabilities": {"POS": p, "NEG": 1 - p},
        }
    }


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process). On a shared machine the CPU time is the steadier
    figure; with SQLite (in-process) it is close to the wall time of an idle machine."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


class _Bench:
    def __init__(self, store: Store, backend: str, n: int, baseline_n: int, repeats: int) -> None:
        self.store = store
        self.backend = backend
        self.n = n
        self.baseline_n = baseline_n
        self.repeats = repeats
        self.times: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}
        user = auth.create_user(store, f"bench{uuid.uuid4().hex[:8]}", "bench-password", is_superuser=True)
        self.actor = auth.Actor(user_id=user.id, username=user.username, is_superuser=True)

    def add(self, op: str, timing: tuple[float, float]) -> None:
        self.times.setdefault(op, []).append(timing[0])
        self.cpu.setdefault(op, []).append(timing[1])

    def new_project(self) -> int:
        return projects.create_project(self.store, self.actor, title="bench", interface=INTERFACE).id

    def naive_assets(self, pid: int, recs: list[AssetIn]) -> None:
        with self.store.transaction() as s:
            for r in recs:
                s.add(
                    t.Asset(
                        project_id=pid,
                        external_id=r.external_id,
                        content=r.content,
                        json_metadata=r.json_metadata,
                    )
                )
                s.flush()

    def naive_predictions(self, pid: int, mv_id: int, asset_ids: list[int]) -> None:
        with self.store.transaction() as s:
            for i, aid in enumerate(asset_ids):
                s.add(
                    t.Prediction(
                        project_id=pid,
                        asset_id=aid,
                        model_version_id=mv_id,
                        json_response=_response(i),
                        confidence=0.5,
                    )
                )
                s.flush()

    def one_repeat(self, rep: int) -> None:
        # Baselines: naive ORM, one INSERT per row.
        pid = self.new_project()
        base = _records(self.baseline_n, f"b{rep}-")
        self.add("baseline: ORM insert assets", _timed(lambda: self.naive_assets(pid, base)))
        base_ids = [a.id for a in assets.iter_assets(self.store, pid)]
        mv = models.create_model_version(self.store, pid, name="naive", status=ModelStatus.READY)
        self.add("baseline: ORM insert predictions", _timed(lambda: self.naive_predictions(pid, mv.id, base_ids)))

        pid = self.new_project()
        recs = _records(self.n, f"r{rep}-")
        self.add("import", _timed(lambda: assets.import_assets(self.store, self.actor, pid, recs)))
        ids: list[int] = []
        self.add("iterate", _timed(lambda: ids.extend(a.id for a in assets.iter_assets(self.store, pid))))
        assert len(ids) == self.n, "iteration lost rows"

        worker_mv = models.create_model_version(self.store, pid, tier="fast")
        rows = [(aid, _response(i), 0.5) for i, aid in enumerate(ids)]
        self.add(
            "predictions (worker)",
            _timed(lambda: predictions.bulk_store_predictions(self.store, pid, worker_mv.id, rows)),
        )
        items = [PredictionIn(asset_id=aid, json_response=_response(i + 1)) for i, aid in enumerate(ids)]

        def push() -> None:
            for k in range(0, len(items), 5000):
                predictions.create_predictions(self.store, self.actor, pid, items[k : k + 5000], model_name="pushed")

        self.add("predictions (API, 5000/call)", _timed(push))

        def walk() -> None:
            seen = 0
            cursor = None
            while True:
                page = assets.list_assets(self.store, self.actor, pid, AssetFilter(), after=cursor, limit=1000)
                seen += len(page.items)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            assert seen == self.n

        self.add("pages of 1000 + labels + current prediction", _timed(walk))

    def rows(self) -> list[Row]:
        def rate(op: str, n: int) -> float:
            return n / statistics.median(self.times[op])

        base_assets = rate("baseline: ORM insert assets", self.baseline_n)
        base_preds = rate("baseline: ORM insert predictions", self.baseline_n)
        spec = [
            ("baseline: ORM insert assets", self.baseline_n, base_assets, "ORM assets", ""),
            ("import", self.n, base_assets, "ORM assets", ">= 20000 rows/s (SQLite)"),
            ("iterate", self.n, base_assets, "ORM assets", ""),
            ("pages of 1000 + labels + current prediction", self.n, base_assets, "ORM assets", ""),
            ("baseline: ORM insert predictions", self.baseline_n, base_preds, "ORM predictions", ""),
            ("predictions (worker)", self.n, base_preds, "ORM predictions", "100k in <= 10 s"),
            ("predictions (API, 5000/call)", self.n, base_preds, "ORM predictions", "100k in <= 10 s"),
        ]
        out = []
        for op, n, base_rate, base_name, target in spec:
            r = rate(op, n)
            out.append(
                Row(
                    self.backend,
                    op,
                    n,
                    statistics.median(self.times[op]),
                    r,
                    statistics.median(self.cpu[op]),
                    r / base_rate,
                    base_name,
                    target,
                )
            )
        return out


def _bench_backend(url: str, backend: str, n: int, baseline_n: int, repeats: int) -> list[Row]:
    store = Store(url)
    try:
        store.upgrade()
        bench = _Bench(store, backend, n, baseline_n, repeats)
        for rep in range(repeats):
            t0 = time.perf_counter()
            bench.one_repeat(rep)
            print(
                f"{backend}: repeat {rep + 1}/{repeats} done in {time.perf_counter() - t0:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        return bench.rows()
    finally:
        store.dispose()


def with_temp_postgres(server_url: str, fn: Callable[[str], T]) -> T:
    """fn(url) on a new database of the PostgreSQL server at `server_url`, dropped afterwards."""
    from sqlalchemy import create_engine, text

    base = normalize_url(server_url)
    name = f"prelabel_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            return fn(base.rsplit("/", 1)[0] + "/" + name)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def run(
    *,
    n: int = 100_000,
    baseline_n: int = 2_000,
    repeats: int = 3,
    postgres_url: str | None = None,
    sqlite: bool = True,
    json_out: Path | None = None,
    print_table: bool = True,
) -> list[Row]:
    """Run the benchmark on the requested backends; print the table (rich) and optionally write JSON."""
    rows: list[Row] = []
    if sqlite:
        with tempfile.TemporaryDirectory(prefix="prelabel-bench-") as tmp:
            rows += _bench_backend(f"sqlite:///{Path(tmp) / 'bench.db'}", "sqlite", n, baseline_n, repeats)
    if postgres_url:
        rows += with_temp_postgres(postgres_url, lambda url: _bench_backend(url, "postgresql", n, baseline_n, repeats))
    if print_table:
        _print(rows, repeats)
    if json_out is not None:
        json_out.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return rows


def _print(rows: list[Row], repeats: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"prelabel bench store (median of {repeats} repeat(s))")
    for col, justify in [
        ("backend", "left"),
        ("operation", "left"),
        ("rows", "right"),
        ("median s", "right"),
        ("rows/s", "right"),
        ("cpu s", "right"),
        ("rows/cpu-s", "right"),
        ("x baseline", "right"),
        ("baseline", "left"),
        ("target", "left"),
    ]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            r.backend,
            r.operation,
            f"{r.rows:,}",
            f"{r.median_s:.3f}",
            f"{r.rows_per_s:,.0f}",
            f"{r.median_cpu_s:.3f}",
            f"{r.rows / r.median_cpu_s:,.0f}" if r.median_cpu_s > 0 else "",
            f"{r.ratio:.1f}" if r.ratio is not None else "",
            r.baseline,
            r.target,
        )
    Console(width=190).print(table)
