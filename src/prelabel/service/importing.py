"""Parsing import files (CSV, JSONL, JSON array) into `AssetIn` records. Pure: no database.

Every problem raises `InvalidInput` naming the row (CSV, counted from 1 after the header, with its line) or
the line (JSONL) or the item (JSON): a file that is not UTF-8, malformed CSV/JSON, a missing column, an empty
text, or an external id used twice in the file.

External ids: taken from `id_column`. When the file has no such column and `id_column` is the default
``"external_id"`` (or None), ids are generated deterministically from the content: ``h`` + the first 16 hex
digits of the text's sha256, with ``-2``, ``-3`` … appended to repeated texts in file order. Re-importing the
same file (even reordered) therefore yields the same ids, so ``on_conflict="skip"`` makes imports idempotent.
A non-default `id_column` that is missing is an error.

Metadata: `metadata_columns` lists the columns kept in ``json_metadata``; None keeps every other column (in
JSON, a ``json_metadata`` object is used as is). Honeypots: a truthy `honeypot_column` value (1, true, yes, y)
marks the asset; its `label_column` value then becomes the honeypot's gold answer instead of a label.
Labels (`label_column`): a json_response object (JSON / JSONL, or a JSON string in CSV), or category keys
for the interface's first job — a string, a list, or in CSV several keys separated by ``|`` — which needs
`interface`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import ValidationError

from prelabel.domain import Interface
from prelabel.errors import InvalidInput
from prelabel.service.dto import AssetIn

Format = Literal["csv", "jsonl", "json"]
DEFAULT_ID_COLUMN = "external_id"
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"", "0", "false", "no", "n", "f", "none", "null"}
MAX_EXTERNAL_ID = 255


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"The file is not UTF-8 text: invalid byte 0x{data[exc.start]:02x} at line {line} "
            f"(byte {exc.start}). Save it as UTF-8 and try again.",
            details={"line": line, "byte": exc.start},
        ) from None


def _truthy(value: Any, where: str, column: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int | float):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidInput(f"{where}: column {column!r} must be true/false (or 1/0); got {value!r}.")


def _label_from(
    value: Any, where: str, interface: Interface | None, *, csv_text: bool
) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{where}: the label is not valid JSON ({exc.msg}).") from None
        else:
            value = [v.strip() for v in text.split("|")] if csv_text else [text]
    if isinstance(value, dict):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        if interface is None:
            raise InvalidInput(
                f"{where}: a label given as category keys needs the project's interface; "
                'or give a json_response such as {"JOB": {"categories": [{"name": "KEY"}]}}.'
            )
        job = interface.jobs[0]
        return {job.name: {"categories": [{"name": v} for v in value if v]}}
    raise InvalidInput(f"{where}: a label must be a json_response object or category key(s); got {value!r}.")


class _Builder:
    def __init__(
        self,
        *,
        text_column: str,
        id_column: str | None,
        metadata_columns: list[str] | None,
        honeypot_column: str | None,
        label_column: str | None,
        interface: Interface | None,
        csv_text: bool,
    ) -> None:
        self.text_column = text_column
        self.id_column = id_column
        self.metadata_columns = metadata_columns
        self.honeypot_column = honeypot_column
        self.label_column = label_column
        self.interface = interface
        self.csv_text = csv_text
        self.generate_ids = id_column is None
        self.seen: dict[str, str] = {}
        self.content_seen: dict[str, int] = {}
        self.records: list[AssetIn] = []

    def check_columns(self, columns: Iterable[str], what: str) -> None:
        cols = set(columns)
        required = [self.text_column]
        for opt in (self.honeypot_column, self.label_column, *(self.metadata_columns or [])):
            if opt:
                required.append(opt)
        if self.id_column is not None:
            if self.id_column in cols:
                pass
            elif self.id_column == DEFAULT_ID_COLUMN:
                self.generate_ids = True
            else:
                required.append(self.id_column)
        missing = [c for c in required if c not in cols]
        if missing:
            raise InvalidInput(
                f"Missing column(s) {missing} in {what}; the file has {sorted(cols)}. "
                "Choose the columns with the text/id/label column options.",
                details={"missing": missing, "columns": sorted(cols)},
            )

    def add(self, row: dict[str, Any], where: str) -> None:
        text = row.get(self.text_column)
        if text is None or (isinstance(text, str) and not text.strip()):
            raise InvalidInput(f"{where}: the text column {self.text_column!r} is empty.")
        if not isinstance(text, str):
            raise InvalidInput(
                f"{where}: the text column {self.text_column!r} must be a string; got {text!r}."
            )
        if self.generate_ids:
            digest = "h" + hashlib.sha256(text.encode()).hexdigest()[:16]
            n = self.content_seen.get(digest, 0) + 1
            self.content_seen[digest] = n
            ext = digest if n == 1 else f"{digest}-{n}"
        else:
            assert self.id_column is not None
            raw = row.get(self.id_column)
            if (
                raw is None
                or (isinstance(raw, str) and not raw.strip())
                or isinstance(raw, dict | list | bool)
            ):
                raise InvalidInput(
                    f"{where}: the id column {self.id_column!r} is empty or not a string/number."
                )
            ext = str(raw).strip()
            if len(ext) > MAX_EXTERNAL_ID:
                raise InvalidInput(f"{where}: the external id is longer than {MAX_EXTERNAL_ID} characters.")
        if ext in self.seen:
            raise InvalidInput(
                f"{where}: external id {ext!r} was already used at {self.seen[ext]}; "
                "external ids must be unique within an import.",
                details={"external_id": ext},
            )
        self.seen[ext] = where
        special = {self.text_column, self.id_column, self.honeypot_column, self.label_column}
        if self.metadata_columns is not None:
            meta = {c: row.get(c) for c in self.metadata_columns}
        elif isinstance(row.get("json_metadata"), dict) and not self.csv_text:
            meta = dict(row["json_metadata"])
        else:
            meta = {k: v for k, v in row.items() if k not in special and k is not None}
        is_honeypot = (
            _truthy(row.get(self.honeypot_column), where, self.honeypot_column)
            if self.honeypot_column
            else False
        )
        label = (
            _label_from(row.get(self.label_column), where, self.interface, csv_text=self.csv_text)
            if self.label_column
            else None
        )
        try:
            rec = AssetIn(
                external_id=ext,
                content=text,
                json_metadata=meta,
                is_honeypot=is_honeypot,
                honeypot_response=label if is_honeypot else None,
                label=None if is_honeypot else label,
            )
        except ValidationError as exc:
            raise InvalidInput(f"{where}: {exc.errors()[0]['msg']}") from None
        self.records.append(rec)


def parse_records(
    data: bytes,
    *,
    fmt: Format,
    text_column: str = "text",
    id_column: str | None = DEFAULT_ID_COLUMN,
    metadata_columns: list[str] | None = None,
    honeypot_column: str | None = None,
    label_column: str | None = None,
    interface: Interface | None = None,
) -> list[AssetIn]:
    """Parse an import file into records (see the module docstring for ids, metadata, honeypots, labels)."""
    if fmt not in ("csv", "jsonl", "json"):
        raise InvalidInput(f"Unknown import format {fmt!r}; use csv, jsonl or json.")
    text = _decode(data)
    b = _Builder(
        text_column=text_column,
        id_column=id_column,
        metadata_columns=metadata_columns,
        honeypot_column=honeypot_column,
        label_column=label_column,
        interface=interface,
        csv_text=fmt == "csv",
    )
    if fmt == "csv":
        _parse_csv(text, b)
    elif fmt == "jsonl":
        _parse_jsonl(text, b)
    else:
        _parse_json(text, b)
    if not b.records:
        raise InvalidInput("The file contains no records.")
    return b.records


def _parse_csv(text: str, b: _Builder) -> None:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidInput("The CSV file is empty; it needs a header row with the column names.")
        header = [h.strip() for h in header]
        if len(set(header)) != len(header):
            dup = sorted({h for h in header if header.count(h) > 1})
            raise InvalidInput(f"The CSV header repeats column(s) {dup}.")
        b.check_columns(header, "the CSV header")
        n = 0
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            n += 1
            where = f"CSV row {n} (line {reader.line_num})"
            if len(fields) != len(header):
                raise InvalidInput(
                    f"{where} has {len(fields)} fields but the header has {len(header)}; check quoting "
                    "(fields with commas, quotes or newlines must be quoted)."
                )
            b.add(dict(zip(header, fields, strict=True)), where)
    except csv.Error as exc:
        raise InvalidInput(f"Malformed CSV near line {reader.line_num}: {exc}.") from None


def _check_object(obj: Any, where: str, b: _Builder, first: bool) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InvalidInput(f"{where}: each record must be a JSON object; got {type(obj).__name__}.")
    if first:
        b.check_columns(obj.keys(), f"{where} (the first record)")
    return obj


def _parse_jsonl(text: str, b: _Builder) -> None:
    first = True
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"JSONL line {i}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{where} is not valid JSON: {exc.msg} (column {exc.colno}).") from None
        obj = _check_object(obj, where, b, first)
        first = False
        _check_row_columns(obj, where, b)
        b.add(obj, where)


def _parse_json(text: str, b: _Builder) -> None:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"The JSON file is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from None
    if isinstance(doc, dict) and isinstance(doc.get("assets"), list):
        doc = doc["assets"]
    if not isinstance(doc, list):
        raise InvalidInput('A JSON import must be an array of objects (or {"assets": [...]}).')
    for i, obj in enumerate(doc, start=1):
        where = f"JSON item {i}"
        obj = _check_object(obj, where, b, i == 1)
        _check_row_columns(obj, where, b)
        b.add(obj, where)


def _check_row_columns(obj: dict[str, Any], where: str, b: _Builder) -> None:
    if b.text_column not in obj:
        raise InvalidInput(f"{where}: missing field {b.text_column!r}.")
    if not b.generate_ids and b.id_column is not None and b.id_column not in obj:
        raise InvalidInput(f"{where}: missing field {b.id_column!r}.")
