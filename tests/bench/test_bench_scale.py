"""`prelabel bench scale` end to end, small: 3,000 assets (the demo tweets and their #1 copies), on SQLite and,
in CI, on a database of its own on the PostgreSQL server (dropped afterwards). Every phase ran against the real
processes (`prelabel import`, `prelabel worker`, `prelabel serve`), and the figures add up."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from prelabel.bench.scale import READ_OPERATIONS, base_texts, scaled_row, scaled_rows
from prelabel.cli.main import app

pytestmark = pytest.mark.slow

PG_ENV = "PRELABEL_TEST_POSTGRES_URL"


def _servers() -> list[str | None]:
    return [None, os.environ[PG_ENV]] if os.environ.get(PG_ENV) else [None]


@pytest.mark.parametrize("server", _servers(), ids=lambda s: "postgresql" if s else "sqlite")
def test_a_small_scale_run_measures_every_phase(server: str | None) -> None:
    n = 12_000  # past the 10,876 demo tweets: some texts are #1 copies
    args = ["bench", "scale", "--assets", str(n), "--labels", "40", "--readers", "2", "--rounds", "3",
            "--encode-sample", "0", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args + (["--database-url", server] if server else []))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["database"] == ("postgresql" if server else "sqlite") and report["assets"] == n
    assert report["import_s"] > 0 and report["import_peak_rss_mib"] > 0
    assert report["labels"] == 40
    assert report["first_model_s"] > 0 and report["first_model_phases"]["predict"] > 0
    assert report["worker_peak_rss_mib"] > 0
    for op in READ_OPERATIONS:
        server_ms = report["latency_ms"][op]["server"]
        assert server_ms["n"] == 2 * 3, (op, report["latency_ms"][op])
        assert 0 < server_ms["p50"] <= server_ms["p95"] <= server_ms["p99"]
    assert report["status_errors"] == {}
    assert report["export_rows"] == n  # one JSONL line per asset
    assert report["export_rows_per_s"] > 0 and report["server_peak_rss_mib"] >= report["server_rss_mib_before_export"]
    assert any("encoding" in x for x in report["not_measured"])


def test_scaled_rows_are_unique_and_keep_the_real_texts() -> None:
    base = base_texts()
    rows = list(scaled_rows(2 * len(base) + 5, base))
    assert len({ext for ext, _ in rows}) == len(rows)
    assert not {text for _, text in rows[: len(base)]} & {text for _, text in rows[len(base) :]}
    assert rows[: len(base)] == base
    ext, text = scaled_row(len(base) + 3, base)
    assert ext == f"{base[3][0]}-1" and text == f"{base[3][1]} #1"
