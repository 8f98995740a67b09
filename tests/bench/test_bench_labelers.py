"""`prelabel bench labelers` end to end, small: a real `prelabel serve` with its trainer, three labelers, a few
labels each. The report has its figures, nothing is lost or leased twice, and every response carried the
server's own timing."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from prelabel.bench.labelers import Lease, double_leases, percentiles, server_timing
from prelabel.cli.main import app

pytestmark = pytest.mark.slow


def test_three_labelers_lose_nothing_and_see_the_server_timing() -> None:
    args = ["bench", "labelers", "--users", "3", "--labels-per-user", "4", "--rows", "40", "--duration", "60",
            "--ramp", "6"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["users"] == 3 and report["assets"] == 40 and report["database"] == "sqlite"
    assert report["labels"] == 12 and report["labels_per_s"] > 0
    assert report["ramp_s"] == 6 and report["elapsed_s"] >= 4  # the third labeler started 4 s in
    for op in ("next_asset", "save"):
        client, server = report["latency_ms"][op]["client"], report["latency_ms"][op]["server"]
        assert client["n"] == server["n"] == 12, (op, client, server)
        assert 0 < server["p50"] <= server["p95"] <= server["p99"]
        assert client["p50"] <= client["p95"] <= client["p99"]
    assert report["responses_without_server_timing"] == 0
    assert report["status_5xx"] == 0 and report["other_failures"] == {}
    assert report["double_leases"] == 0
    assert report["lost_labels"] == 0
    assert sum(report["trainer"]["jobs"].values()) >= 1  # the import's prepare job, at least queued


def test_a_lease_granted_inside_another_labelers_lease_is_a_double_lease() -> None:
    held = Lease(user=0, asset_id=7, asked=1.0, granted=2.0, released=5.0)
    assert double_leases([held, Lease(user=1, asset_id=7, asked=3.0, granted=4.0)], end=10.0) == 1
    # after the label was sent, or overlapping its request: not provably at once
    assert double_leases([held, Lease(user=1, asset_id=7, asked=5.5, granted=6.0)], end=10.0) == 0
    assert double_leases([held, Lease(user=1, asset_id=7, asked=1.5, granted=2.5)], end=10.0) == 0
    # the same labeler again, or another asset
    assert double_leases([held, Lease(user=0, asset_id=7, asked=3.0, granted=4.0)], end=10.0) == 0
    assert double_leases([held, Lease(user=1, asset_id=8, asked=3.0, granted=4.0)], end=10.0) == 0


def test_server_timing_and_percentiles() -> None:
    assert server_timing("app;dur=12.5") == 12.5
    assert server_timing("db;dur=3, app;desc=x;dur=7") == 7.0
    assert server_timing(None) is None and server_timing("db;dur=3") is None
    assert percentiles([4.0, 1.0, 3.0, 2.0, 5.0]) == {"n": 5, "p50": 3.0, "p95": 4.8, "p99": 5.0}
    assert percentiles([]) == {"n": 0, "p50": None, "p95": None, "p99": None}
