"""Parquet files (pyarrow, imported only when a Parquet file is read or written): record batches in, row groups
out, so that neither an import's parsing nor an export holds more than one batch of rows as Arrow data.

Export: the columns of the CSV export (`assets.export_assets`) with Parquet's types: ``is_honeypot`` a boolean,
``label:JOB`` and ``prediction:JOB`` lists of category keys, ``probability:JOB`` a list of floats in the order of
``prediction:JOB``, a missing value null instead of an empty string; ``json_metadata`` and ``label_json`` stay
JSON text (their keys differ from asset to asset). Import: the columns of a CSV import (`importing`), each value
with its own type: a list of strings in the label column is a list of category keys.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from prelabel.errors import InvalidInput
from prelabel.service.dto import AssetOut, LabelOut

MEDIA_TYPE = "application/vnd.apache.parquet"
MEDIA_TYPES = (MEDIA_TYPE, "application/x-parquet", "application/parquet")
ROW_GROUP = 2000  # assets per row group of an export: one group's rows are all it holds at a time
READ_BATCH = 5000  # rows per record batch read from an import


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InvalidInput(
            "Parquet needs pyarrow on the server: pip install 'prelabel[server]' (or pyarrow). CSV and JSONL "
            "work without it."
        ) from None
    return pa, pq


def check_available() -> None:
    """InvalidInput (a 4xx) now when pyarrow is missing, rather than when a streamed export starts."""
    _pyarrow()


# --- import -----------------------------------------------------------------------------------------------
def read_batches(data: bytes) -> tuple[list[str], Iterator[list[dict[str, Any]]]]:
    """(the file's column names, its rows batch by batch as plain Python values)."""
    pa, pq = _pyarrow()
    try:
        file = pq.ParquetFile(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(exc) from None
    columns = list(file.schema_arrow.names)
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        raise InvalidInput(f"The Parquet file repeats column(s) {dup}.")

    def batches() -> Iterator[list[dict[str, Any]]]:
        try:
            for batch in file.iter_batches(batch_size=READ_BATCH):
                yield [{k: _plain(v) for k, v in row.items()} for row in batch.to_pylist()]
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(exc) from None

    return columns, batches()


def _unreadable(exc: Exception) -> InvalidInput:
    return InvalidInput(
        f"The file is not a readable Parquet file ({str(exc).splitlines()[0]}). Write it again, e.g. with "
        "pandas' DataFrame.to_parquet or pyarrow.parquet.write_table, or import it as CSV/JSONL.",
    )


def _plain(value: Any) -> Any:
    """A Parquet value as JSON can hold it: dates as ISO text, decimals as floats, NaN as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


# --- export -----------------------------------------------------------------------------------------------
class _Chunks:
    """A write-only file for pyarrow: keeps what was written until `take` hands it on."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0
        self.closed = False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._pos += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts = []
        return out


def _schema(pa: Any, jobs: list[str]) -> Any:
    fields = [
        ("external_id", pa.string()),
        ("content", pa.string()),
        ("status", pa.string()),
        ("is_honeypot", pa.bool_()),
        ("json_metadata", pa.string()),
    ]
    for j in jobs:
        fields += [
            (f"label:{j}", pa.list_(pa.string())),
            (f"prediction:{j}", pa.list_(pa.string())),
            (f"probability:{j}", pa.list_(pa.float64())),
        ]
    fields += [
        ("label_json", pa.string()),
        ("label_type", pa.string()),
        ("label_author", pa.string()),
        ("prediction_model", pa.string()),
    ]
    return pa.schema(fields)


def _row(a: AssetOut, eff: LabelOut | None, jobs: list[str]) -> dict[str, Any]:
    pred = a.current_prediction
    row: dict[str, Any] = {
        "external_id": a.external_id,
        "content": a.content,
        "status": a.status.value,
        "is_honeypot": a.is_honeypot,
        "json_metadata": json.dumps(a.json_metadata, ensure_ascii=False),
    }
    for j in jobs:
        label_cats = (eff.json_response.get(j) or {}).get("categories", []) if eff else []
        pred_cats = (pred.json_response.get(j) or {}).get("categories", []) if pred else []
        row[f"label:{j}"] = [c["name"] for c in label_cats] if eff else None
        row[f"prediction:{j}"] = [c["name"] for c in pred_cats] if pred else None
        row[f"probability:{j}"] = [c.get("probability") for c in pred_cats] if pred else None
    row["label_json"] = json.dumps(eff.json_response, ensure_ascii=False) if eff else None
    row["label_type"] = eff.label_type.value if eff else None
    row["label_author"] = eff.author if eff else None
    row["prediction_model"] = pred.model_name if pred else None
    return row


def export_rows(items: Iterator[tuple[AssetOut, LabelOut | None]], jobs: list[str]) -> Iterator[bytes]:
    """The Parquet file of (asset, its effective label) pairs, one row group per `ROW_GROUP` assets, each
    handed on as soon as it is written."""
    pa, pq = _pyarrow()
    schema = _schema(pa, jobs)
    sink = _Chunks()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        rows: list[dict[str, Any]] = []
        for asset, eff in items:
            rows.append(_row(asset, eff, jobs))
            if len(rows) >= ROW_GROUP:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                rows = []
                yield sink.take()
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    finally:
        writer.close()  # writes the footer (an empty export is still a valid file with the schema)
    yield sink.take()
