"""The UI benchmark (`python -m prelabel.ui.bench`) runs end to end on a small project (no timing asserted)."""

from __future__ import annotations

from prelabel.ui.bench import run


def test_ui_bench_runs_every_request() -> None:
    rows = run(n_assets=60, repeat=2, database_url=None)
    assert rows[0][0] == "GET /login (baseline)"
    assert len(rows) == 8
    assert all(med > 0 and p90 >= 0 for _, med, p90 in rows)
