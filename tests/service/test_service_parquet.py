"""Parquet import and export through the service layer on real databases (SQLite file, PostgreSQL): the CSV
columns with Parquet's types, record batches in, row groups out as they are written, bad files refused whole."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from service_helpers import INTERFACE, Team, answer, prediction

from prelabel.domain import parse_interface
from prelabel.errors import InvalidInput
from prelabel.service import assets, labels, parquet, predictions
from prelabel.service.dto import AssetIn, PredictionIn
from prelabel.service.importing import parse_file

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _parquet(table: Any, **kw: Any) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kw)
    return buf.getvalue()


def _n_assets(team: Team) -> int:
    return assets.count_assets(team.store, team.admin, team.pid)


def test_a_parquet_file_is_read_batch_by_batch_with_its_own_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parquet, "READ_BATCH", 3)  # several record batches from one small file
    table = pa.table(
        {
            "ticket_id": pa.array(range(101, 108), pa.float64()),  # how pandas writes integer ids with gaps
            "text": [f"text {i}" for i in range(7)],
            "gold": [["DISASTER"], None, [], ["NOT_DISASTER"], None, None, None],
            "when": [dt.datetime(2024, 5, i + 1, 12, 0) for i in range(7)],
            "score": [0.5, float("nan"), 1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    parsed = parse_file(
        _parquet(table, row_group_size=2), fmt="parquet", label_column="gold", interface=parse_interface(INTERFACE)
    )
    recs = parsed.records
    assert (parsed.id_column, parsed.id_source) == ("ticket_id", "detected")
    assert [r.external_id for r in recs] == [str(i) for i in range(101, 108)]
    assert recs[0].label == answer("DISASTER") and recs[1].label is None and recs[3].label == answer("NOT_DISASTER")
    assert recs[0].json_metadata == {"when": "2024-05-01T12:00:00", "score": 0.5}
    assert recs[1].json_metadata["score"] is None  # NaN is no JSON number


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"external_id,text\n1,a\n", "not a readable Parquet file"),
        (b"", "not a readable Parquet file"),
    ],
)
def test_files_that_are_not_parquet_are_refused_with_advice(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as exc:
        parse_file(data, fmt="parquet")
    assert "to_parquet" in exc.value.message  # says how to write one


def test_bad_parquet_content_is_refused_naming_the_row_or_column() -> None:
    missing = _parquet(pa.table({"id": ["1"], "body": ["hello"]}))
    with pytest.raises(InvalidInput, match=r"Missing column\(s\) \['text'\].*text_column"):
        parse_file(missing, fmt="parquet")
    numbers = _parquet(pa.table({"id": ["1", "2"], "text": ["ok", None]}))
    with pytest.raises(InvalidInput, match=r"Parquet row 2: the text column 'text' is empty"):
        parse_file(numbers, fmt="parquet")
    good = _parquet(pa.table({"id": [str(i) for i in range(50)], "text": [f"t{i}" for i in range(50)]}))
    truncated = good[: len(good) // 2] + good[-64:]
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        parse_file(truncated, fmt="parquet")


def test_a_bad_row_in_a_later_batch_writes_nothing(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parquet, "READ_BATCH", 10)
    texts: list[str | None] = [f"text {i}" for i in range(25)]
    texts[22] = "   "
    data = _parquet(pa.table({"id": [str(i) for i in range(25)], "text": texts}))
    with pytest.raises(InvalidInput, match="Parquet row 23"):
        assets.import_parsed(team.store, team.admin, team.pid, parse_file(data, fmt="parquet"))
    assert _n_assets(team) == 0


def _project_with_labels_and_predictions(team: Team, n: int) -> None:
    records = [AssetIn(external_id=f"e{i}", content=f"text {i}", json_metadata={"i": i}) for i in range(n)]
    assets.import_assets(team.store, team.admin, team.pid, records)
    first = assets.get_asset_by_external_id(team.store, team.admin, team.pid, "e0")
    labels.create_label(team.store, team.admin, team.pid, first.id, json_response=answer("DISASTER"))
    items = [PredictionIn(external_id=f"e{i}", json_response=prediction("NOT_DISASTER", 0.75)) for i in range(n)]
    predictions.create_predictions(team.store, team.admin, team.pid, items, model_name="ext")


def test_the_export_has_the_csv_columns_and_streams_row_groups(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet, "ROW_GROUP", 10)
    _project_with_labels_and_predictions(team, 35)
    stream = assets.export_assets(team.store, team.admin, team.pid, "parquet")
    chunks = list(stream)
    assert len(chunks) == 4 and all(chunks)  # three full row groups handed on before the last and the footer
    file = pq.ParquetFile(io.BytesIO(b"".join(chunks)))
    assert file.metadata.num_row_groups == 4
    csv_header = next(iter(assets.export_assets(team.store, team.admin, team.pid, "csv"))).decode().splitlines()[0]
    assert file.schema_arrow.names == csv_header.split(",")
    rows = {r["external_id"]: r for r in file.read().to_pylist()}
    first, other = rows["e0"], rows["e7"]
    assert first["label:JOB_0"] == ["DISASTER"] and first["label_type"] == "DEFAULT"
    assert first["label_author"] == "alice"
    assert other["label:JOB_0"] is None and other["label_json"] is None and other["is_honeypot"] is False
    assert other["prediction:JOB_0"] == ["NOT_DISASTER"] and other["probability:JOB_0"] == [0.75]
    assert other["prediction_model"].startswith("ext-") and other["json_metadata"] == '{"i": 7}'


def test_an_empty_export_is_a_valid_file_with_the_columns(team: Team) -> None:
    data = b"".join(assets.export_assets(team.store, team.admin, team.pid, "parquet"))
    table = pq.read_table(io.BytesIO(data))
    assert table.num_rows == 0 and "label:JOB_0" in table.schema.names


def test_an_export_reimports_into_another_project(team: Team) -> None:
    _project_with_labels_and_predictions(team, 12)
    data = b"".join(assets.export_assets(team.store, team.admin, team.pid, "parquet"))
    from prelabel.service import projects

    other = projects.create_project(team.store, team.admin, title="Copy", interface=INTERFACE).id
    parsed = parse_file(
        data,
        fmt="parquet",
        text_column="content",
        label_column="label:JOB_0",
        metadata_columns=["json_metadata"],
        interface=parse_interface(INTERFACE),
    )
    result = assets.import_parsed(team.store, team.admin, other, parsed)
    assert (result.created, result.labels_created, result.id_column) == (12, 1, "external_id")
    copy = assets.get_asset_by_external_id(team.store, team.admin, other, "e0")
    assert copy.content == "text 0" and copy.labels[0].json_response == answer("DISASTER")
