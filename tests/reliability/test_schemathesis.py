"""Schemathesis against a real `prelabel serve` on each database: every operation of /openapi.json, the
coverage, fuzzing and stateful phases with a fixed seed, and no server error, no undocumented status, content
type, header or body, and a correct Allow header on every path.

The fuzzer reaches real rows through dictionaries of the seeded ids (used for most generated ids, the rest are
generated freely). The two destructive operations that could lock it out, deleting a project and revoking a
token, are pointed at a spare project and a spare token, so that the rest of the run keeps its credentials and
its project. The seed fixes the generated data; schemathesis picks which links the stateful phase follows
outside it, so the number of cases varies by a few between runs. One worker: the machine has two cores, and the
server needs one.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fuzz_server import LiveServer, Seed

pytestmark = pytest.mark.slow

SEED = 20260
MAX_EXAMPLES = 12
STATEFUL_MAX_STEPS = 8
REQUEST_TIMEOUT_S = 60
RUN_TIMEOUT_S = 480
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",
    "allow_header_conformance",
]
PHASES = ["examples", "coverage", "fuzzing", "stateful"]
# Operations whose 2xx answers on the seeded project show the fuzzer got past ids and roles to real rows.
MIN_OPERATIONS_ON_REAL_ROWS = 15


def _toml(value: Any) -> str:
    """A TOML value: JSON's strings, numbers and arrays are TOML too; tables are written inline."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def schemathesis_config(seed: Seed) -> str:
    """schemathesis.toml: the run's bounds, the seeded ids as dictionaries, the spare rows for destruction."""
    dictionaries = {
        "projects": [seed.project_id],
        "assets": seed.asset_ids,
        "external_ids": seed.external_ids,
        "labels": seed.label_ids,
        "model_versions": seed.model_version_ids,
        "jobs": seed.job_ids,
        "tokens": [seed.token],
        "members": seed.member_names,
    }
    parameters = {
        "path.project_id": ("projects", 0.8),
        "asset_id": ("assets", 0.6),
        "path.external_id": ("external_ids", 0.6),
        "label_id": ("labels", 0.6),
        "model_version_id": ("model_versions", 0.5),
        "path.job_id": ("jobs", 0.6),
        "path.token": ("tokens", 0.8),
        "path.username": ("members", 0.6),
        "body.username": ("members", 0.6),
    }
    spare = {
        "DELETE /api/v1/projects/{project_id}": {"project_id": seed.spare_project_id},
        "DELETE /api/v1/tokens/{token_id}": {"token_id": seed.spare_token_id},
    }
    lines = [
        f"seed = {SEED}",
        "workers = 1",
        f"request-timeout = {REQUEST_TIMEOUT_S}",
        f"headers = {_toml({'Authorization': f'Bearer {seed.token}'})}",
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        'database = "none"',
        "[phases.stateful]",
        f"max-steps = {STATEFUL_MAX_STEPS}",
        "[dictionaries]",
        *(f"{name} = {_toml({'values': values})}" for name, values in dictionaries.items()),
        "[parameters]",
        *(f"{_toml(k)} = {_toml({'dictionary': d, 'probability': p})}" for k, (d, p) in parameters.items()),
    ]
    for operation, values in spare.items():
        lines += ["[[operations]]", f"include-name = {_toml(operation)}", f"parameters = {_toml(values)}"]
    return "\n".join(lines) + "\n"


def run_schemathesis(server: LiveServer, work: Path) -> tuple[dict[str, Any], str]:
    """`st run` against the server's /openapi.json; (its JSON report, its console output)."""
    config = work / "schemathesis.toml"
    config.write_text(schemathesis_config(server.seed), encoding="utf-8")
    report = work / "report.json"
    st = str(Path(sys.executable).with_name("st"))
    command = [st, "--config-file", str(config), "run", f"{server.url}/openapi.json"]
    command += ["--phases", ",".join(PHASES), "--checks", ",".join(CHECKS), "--no-color"]
    command += ["--report", "json", "--report-json-path", str(report), "--report-dir", str(work / "reports")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=work)
    output = done.stdout + done.stderr
    (work / "schemathesis.txt").write_text(output, encoding="utf-8")
    if not report.exists():
        pytest.fail(f"schemathesis wrote no report (exit {done.returncode}):\n{output}")
    return json.loads(report.read_text(encoding="utf-8")), output


def problems_of(report: dict[str, Any]) -> list[str]:
    """Each failed check with its count of unique failures, and each error (a request that got no answer)."""
    failures = Counter({f"{f['code']} {f['title']}": int(f["count"]) for f in report["failures"]})
    return [f"{n} x {name}" for name, n in failures.items()] + [json.dumps(e) for e in report["errors"]]


def failing_cases(output: str) -> str:
    """The console's failures section: each failing case with its response and a curl line to reproduce it."""
    start = output.find("FAILURES")
    return output[max(start - 40, 0) :][:30000] if start >= 0 else output[-20000:]


def operations_on_real_rows(server: LiveServer) -> set[str]:
    """Distinct "METHOD /path" of 2xx access-log lines on the seeded project (ids written {id})."""
    project = re.escape(f"/api/v1/projects/{server.seed.project_id}")
    pattern = re.compile(r'"(GET|POST|PATCH|PUT|DELETE) (' + project + r'(?:/[^ ?]*)?)[ ?][^"]*" 2\d\d')
    lines = server.log_path.read_text(errors="replace")
    return {f"{method} {re.sub(r'/[0-9]+', '/{id}', path)}" for method, path in pattern.findall(lines)}


def test_schemathesis_finds_nothing(live_server: LiveServer, tmp_path: Path) -> None:
    report, output = run_schemathesis(live_server, tmp_path)
    reached = operations_on_real_rows(live_server)
    print(
        f"schemathesis on {live_server.database}: {report['operations']['tested']} operations, "
        f"{report['test_cases']['generated']} cases, {report['running_time']:.1f} s, "
        f"{len(reached)} operations answered 2xx on the seeded project, problems {problems_of(report)}"
    )
    assert not problems_of(report), (
        f"schemathesis found problems on {live_server.database}: {problems_of(report)}\n\n"
        f"{failing_cases(output)}\n\nserver log (tail):\n{live_server.log_tail()}"
    )
    assert report["operations"]["tested"] == report["operations"]["total"], report["operations"]
    assert report["phases"]["stateful"]["status"] == "success", report["phases"]
    assert len(reached) >= MIN_OPERATIONS_ON_REAL_ROWS, sorted(reached)
