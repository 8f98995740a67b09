"""`prelabel bench store` runs end to end on a tiny sample (figures are printed, never asserted)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from prelabel.cli.bench import app
from prelabel.store.engine import normalize_url


def test_bench_store_prints_a_table_and_cleans_up(tmp_path: Path) -> None:
    pg = os.environ.get("PRELABEL_TEST_POSTGRES_URL")
    args = ["store", "--n", "300", "--baseline-n", "40", "--repeats", "2", "--json", str(tmp_path / "b.json")]
    if pg:
        args += ["--postgres-url", pg]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "import" in result.output and "predictions (worker)" in result.output
    rows = json.loads((tmp_path / "b.json").read_text())
    backends = {r["backend"] for r in rows}
    assert backends == ({"sqlite", "postgresql"} if pg else {"sqlite"})
    assert all(r["rows_per_s"] > 0 and r["median_s"] > 0 for r in rows)
    assert {r["rows"] for r in rows if r["operation"] == "import"} == {300}
    if pg:
        engine = create_engine(normalize_url(pg))
        with engine.connect() as conn:
            left = conn.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE 'prelabel_bench_%'")
            ).all()
        engine.dispose()
        assert left == []
