"""CSV exports escape cells a spreadsheet would run as formulas, by default, and the CSV import undoes it: an
export re-imports with exactly its texts, ids and metadata (real databases)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from service_helpers import INTERFACE, Team

from prelabel.service import assets, projects
from prelabel.service.assets import escape_formula
from prelabel.service.dto import AssetIn
from prelabel.service.importing import parse_file, unescape_formula

TRICKY = ["=1+1", "+cmd|' /C calc'!A0", "-2", "@SUM(A1)", "\t=x", "'=x", "''=x", "'plain", "plain", "-", ""]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _records(value: str) -> list[AssetIn]:
    """The value as a text (an empty text cannot be imported), in the metadata, and as an external id where one
    can be (ids are stripped of surrounding spaces)."""
    recs = [
        AssetIn(external_id="as-text", content=value or "no text", json_metadata={"note": value, "n": 1}),
        AssetIn(
            external_id="as-metadata", content="plain", json_metadata={"note": value, "list": [value, {"k": value}]}
        ),
    ]
    if value and value == value.strip():
        recs.append(AssetIn(external_id=value, content=f"the id is {value}"))
    return recs


def _contents(team: Team, project_id: int) -> dict[str, tuple[str, dict[str, object]]]:
    return {a.external_id: (a.content, a.json_metadata) for a in assets.iter_assets(team.store, project_id)}


def _export(team: Team, **options: bool) -> bytes:
    return b"".join(assets.export_assets(team.store, team.admin, team.pid, "csv", **options))


def _cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


@pytest.mark.parametrize("value", TRICKY, ids=repr)
def test_a_default_csv_export_reimports_with_the_same_texts_and_metadata(team: Team, value: str) -> None:
    recs = _records(value)
    assets.import_assets(team.store, team.admin, team.pid, recs)
    original = _contents(team, team.pid)
    assert original == {r.external_id: (r.content, r.json_metadata) for r in recs}
    data = _export(team)
    if value.startswith(FORMULA_STARTS) or value.startswith(("'=", "''")):
        assert [c for row in _cells(data) for c in row if c == "'" + value], "the value was not escaped"
    copy = projects.create_project(team.store, team.admin, title="Copy", interface=INTERFACE).id
    assets.import_parsed(team.store, team.admin, copy, parse_file(data, fmt="csv", text_column="content"))
    assert _contents(team, copy) == original


def test_the_default_csv_export_has_no_cell_a_spreadsheet_would_run(team: Team) -> None:
    recs = [AssetIn(external_id=f"t{i}", content=v) for i, v in enumerate(TRICKY) if v]
    recs += [AssetIn(external_id=v, content="by id") for v in TRICKY if v and v == v.strip()]
    assets.import_assets(team.store, team.admin, team.pid, recs)
    cells = [c for row in _cells(_export(team)) for c in row]
    assert len(cells) > 10 * len(recs)
    assert [c for c in cells if c.startswith(FORMULA_STARTS)] == []
    assert "'=1+1" in cells and "'''=x" in cells and "'plain" in cells  # '=1+1 escaped, 'plain as it was


def test_escape_formulas_false_writes_every_cell_verbatim(team: Team) -> None:
    recs = [AssetIn(external_id=f"t{i}", content=v) for i, v in enumerate(TRICKY) if v]
    recs.append(AssetIn(external_id="=id", content="x"))
    assets.import_assets(team.store, team.admin, team.pid, recs)
    rows = csv.DictReader(io.StringIO(_export(team, escape_formulas=False).decode(), newline=""))
    assert {r["external_id"]: r["content"] for r in rows} == {r.external_id: r.content for r in recs}


def test_jsonl_and_parquet_exports_are_never_escaped(team: Team) -> None:
    assets.import_assets(team.store, team.admin, team.pid, [AssetIn(external_id="=e", content="=1+1")])
    jsonl = b"".join(assets.export_assets(team.store, team.admin, team.pid, "jsonl", escape_formulas=True))
    obj = json.loads(jsonl)
    assert (obj["external_id"], obj["content"]) == ("=e", "=1+1")
    pq = pytest.importorskip("pyarrow.parquet")
    data = b"".join(assets.export_assets(team.store, team.admin, team.pid, "parquet"))
    row = pq.read_table(io.BytesIO(data)).to_pylist()[0]
    assert (row["external_id"], row["content"]) == ("=e", "=1+1")


@pytest.mark.parametrize("value", [*TRICKY, "'", "'\t", "'\r=", "'-", "'@x", "a'=b"], ids=repr)
def test_unescaping_undoes_exactly_the_escape(value: str) -> None:
    assert unescape_formula(escape_formula(value)) == value


def test_a_csv_import_removes_one_apostrophe_before_a_formula_start_only() -> None:
    data = b"id,text,note\n1,'=x,'+y\n2,''=x,'plain\n3,'plain,'\n4,=1+1,''\n"
    parsed = parse_file(data, fmt="csv")
    got = [(r.external_id, r.content, r.json_metadata["note"]) for r in parsed.records]
    assert got == [("1", "=x", "+y"), ("2", "'=x", "'plain"), ("3", "'plain", "'"), ("4", "=1+1", "'")]
    jsonl = parse_file(b'{"id": "1", "text": "\'=x"}\n', fmt="jsonl")
    assert jsonl.records[0].content == "'=x"  # only CSV cells are unescaped


def test_a_csv_json_metadata_column_holding_an_object_is_the_metadata() -> None:
    data = b'id,text,json_metadata,status\n1,a,"{""k"": [1, ""=x""]}",TODO\n2,b,not json,TODO\n3,c,"[1, 2]",TODO\n'
    meta = [r.json_metadata for r in parse_file(data, fmt="csv").records]
    assert meta == [
        {"k": [1, "=x"]},
        {"json_metadata": "not json", "status": "TODO"},  # not an object: the other columns, as before
        {"json_metadata": "[1, 2]", "status": "TODO"},
    ]
    named = parse_file(data, fmt="csv", metadata_columns=["json_metadata"]).records[0].json_metadata
    assert named == {"json_metadata": '{"k": [1, "=x"]}'}  # named columns are kept as text
