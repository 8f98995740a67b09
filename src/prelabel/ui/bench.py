"""Benchmark of the UI's server side: ``python -m prelabel.ui.bench [--assets N] [--repeat R] [--database-url URL]``.

Builds a project of N demo tweets (the package's demo data) with a prediction for every asset in a fresh
database (a temporary SQLite file unless a URL is given), then times the UI in-process (a FastAPI app with
`install_ui`, as `create_app` builds it, driven by FastAPI's TestClient: routing, session, CSRF, service calls,
template rendering; no network) and prints a table: median and p90 milliseconds per request and the ratio to
``GET /login`` (the baseline: a page rendered without the database) in the same process.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from prelabel.config import Settings
from prelabel.store.engine import Store

PASSWORD = "bench-password-1"
INTERFACE = {
    "jobs": [
        {
            "name": "JOB_0",
            "categories": [{"key": "DISASTER", "name": "Disaster"}, {"key": "NOT_DISASTER", "name": "Not"}],
        }
    ]
}


def _texts(n: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    data = files("prelabel") / "demo_data"
    for name in ("train.csv", "test.csv"):
        text = (data / name).read_text(encoding="utf-8")
        for row in csv.DictReader(io.StringIO(text, newline="")):
            out.append((f"{name[:-4]}-{row['id']}", row["text"]))
    while len(out) < n:  # more than the demo data: repeat it under new ids
        out.extend((f"r{len(out)}-{ext}", text) for ext, text in out[: n - len(out)])
    return out[:n]


def _setup(store: Store, n: int) -> int:
    from prelabel.service import auth, projects
    from prelabel.service.assets import import_assets
    from prelabel.service.dto import AssetIn, PredictionIn
    from prelabel.service.predictions import create_predictions

    user = auth.create_user(store, "bench", PASSWORD)
    actor = auth.get_actor(store, user.id)
    project = projects.create_project(store, actor, title="UI bench", interface=INTERFACE)
    texts = _texts(n)
    import_assets(store, actor, project.id, [AssetIn(external_id=e, content=c) for e, c in texts])
    preds = []
    for i, (ext, _) in enumerate(texts):
        p = 0.5 + (i % 50) / 100
        key, other = ("DISASTER", "NOT_DISASTER") if i % 3 else ("NOT_DISASTER", "DISASTER")
        preds.append(
            PredictionIn(
                external_id=ext,
                json_response={
                    "JOB_0": {
                        "categories": [{"name": key, "probability": p}],
                        "probabilities": {key: p, other: 1 - p},
                    }
                },
            )
        )
    create_predictions(store, actor, project.id, preds, model_name="automl")
    return project.id


def _time(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def run(n_assets: int, repeat: int, database_url: str | None) -> list[tuple[str, float, float]]:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from prelabel.ui import install_ui

    tmp = tempfile.TemporaryDirectory(prefix="prelabel-ui-bench-")
    url = database_url or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    store = Store(url)
    store.upgrade()
    try:
        pid = _setup(store, n_assets)
        settings = Settings(database_url=url, secret_key="bench-" + "s" * 32, environment="test", run_worker=False)
        app = FastAPI()
        install_ui(app, settings, store)
        with TestClient(app, follow_redirects=False) as c:
            page = c.get("/login").text
            token = re.findall(r'name="csrf_token" value="([^"]+)"', page)[0]
            c.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token})
            token = re.findall(r'name="csrf_token" value="([^"]+)"', c.get("/").text)[0]

            def check(path: str) -> Callable[[], object]:
                def get() -> object:
                    r = c.get(path)
                    assert r.status_code == 200, (path, r.status_code)
                    return r

                return get

            def label_and_next() -> object:
                page = c.get(f"/projects/{pid}/label").text
                aid = re.findall(r'name="asset_id" value="(\d+)"', page)[0]
                mv = re.findall(r'name="model_version_id" value="(\d+)"', page)[0]
                r = c.post(
                    f"/projects/{pid}/label",
                    data={"asset_id": aid, "model_version_id": mv, "job:JOB_0": "DISASTER", "csrf_token": token},
                )
                assert r.status_code == 303, r.text
                return r

            cases: list[tuple[str, Callable[[], object]]] = [
                ("GET /login (baseline)", check("/login")),
                ("GET /projects/{id}/label (leased asset)", check(f"/projects/{pid}/label")),
                ("label: GET page + POST label", label_and_next),
                ("GET /projects/{id}/label/model-status", check(f"/projects/{pid}/label/model-status?asset=1")),
                ("GET /projects/{id}", check(f"/projects/{pid}")),
                ("GET /projects/{id}/dashboard", check(f"/projects/{pid}/dashboard")),
                ("GET /projects/{id}/dashboard/jobs", check(f"/projects/{pid}/dashboard/jobs")),
                ("GET /", check("/")),
            ]
            rows = []
            for name, fn in cases:
                fn()  # warm up (template compile, caches)
                ts = _time(fn, repeat)
                rows.append((name, statistics.median(ts), sorted(ts)[int(0.9 * (len(ts) - 1))]))
        return rows
    finally:
        store.dispose()
        tmp.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=10_876, help="assets in the project (default: the demo's)")
    ap.add_argument("--repeat", type=int, default=30, help="timed requests per row")
    ap.add_argument("--database-url", default=None, help="an empty database (default: a temporary SQLite file)")
    args = ap.parse_args()
    rows = run(args.assets, args.repeat, args.database_url)
    base = rows[0][1]
    print(f"UI server side, {args.assets:,} assets with predictions, {args.repeat} requests per row")
    print(f"{'request':44s} {'median ms':>10s} {'p90 ms':>8s} {'x baseline':>11s}")
    for name, med, p90 in rows:
        print(f"{name:44s} {med:10.1f} {p90:8.1f} {med / base:11.1f}")


if __name__ == "__main__":
    main()
