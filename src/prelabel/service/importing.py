"""Parsing import files (CSV, JSONL, JSON array, Parquet) into `AssetIn` records. Pure: no database.

Every problem raises `InvalidInput` naming the row (CSV, counted from 1 after the header, with its line;
Parquet, counted from 1) or the line (JSONL) or the item (JSON): a file that is not UTF-8 (or not Parquet),
malformed CSV/JSON, a missing column, an empty text, or an external id used twice in the file. Advice in a
message names options as the caller's interface writes them (`spelling`).

External ids: taken from `id_column` when it is given (a missing one is an error). Without it the id column is
detected (`detect_id_column`) from the column names, compared case-insensitively: ``external_id`` if present,
else ``id``, else the one column whose name ends in ``_id`` (``ticket_id``); several ``*_id`` columns and neither
of the first two is ambiguous and refused, asking for `id_column`. With no id column, or with `ids_from_text`,
ids are made from the content (`text_id`): ``h`` + the first 16 hex digits of the text's sha256, with ``-2``,
``-3`` … appended to repeated texts in file order. Re-importing the same file (even reordered) therefore yields
the same ids, so ``on_conflict="skip"`` makes imports idempotent. `ParsedImport` says which column the ids came
from and whether it was detected, so that every interface can tell the person importing.

Metadata: `metadata_columns` lists the columns kept in ``json_metadata``; None keeps every other column, unless
the record's ``json_metadata`` field holds an object (in CSV and Parquet, JSON text of an object, as the export
writes it): that is used as is. Honeypots: a truthy `honeypot_column` value (1, true, yes, y)
marks the asset; its `label_column` value then becomes the honeypot's gold answer instead of a label.
Labels (`label_column`): a json_response object (JSON / JSONL, or a JSON string in CSV), or category keys
for the interface's first job — a string, a list, or in CSV several keys separated by ``|`` — which needs
`interface`.

Spreadsheet escapes (CSV only): the CSV export prefixes a cell a spreadsheet would run as a formula with ``'``
(`needs_formula_escape`), so the CSV import removes one leading ``'`` from a cell that starts with ``'`` and
then ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or another ``'`` (`unescape_formula`): an export
re-imports as it was. Other formats are read verbatim.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from prelabel.domain import Interface
from prelabel.errors import InvalidInput
from prelabel.service.dto import AssetIn
from prelabel.service.spelling import API, Spelling

Format = Literal["csv", "jsonl", "json", "parquet"]
# A file's format from its name's suffix (lower case, no dot): the API's uploads and the CLI's files.
SUFFIX_FORMATS: dict[str, Format] = {
    "csv": "csv",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "json": "json",
    "parquet": "parquet",
    "pq": "parquet",
}
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "json", "parquet")
DEFAULT_ID_COLUMN = "external_id"  # the first choice of `detect_id_column`
_TEXT_ID = re.compile(r"h[0-9a-f]{16}(-[0-9]+)?")
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"", "0", "false", "no", "n", "f", "none", "null"}
MAX_EXTERNAL_ID = 255
# What makes a spreadsheet run a cell as a formula (OWASP "CSV injection"): its first character.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED_STARTS = tuple("'" + c for c in (*FORMULA_STARTS, "'"))


def needs_formula_escape(text: str) -> bool:
    """Whether a CSV cell needs a leading ``'``: it starts like a formula, or with ``'`` then a formula start or
    another ``'`` (escaped too, so that `unescape_formula` can tell an escape from a text's own apostrophe)."""
    return text.startswith(FORMULA_STARTS) or text.startswith(_ESCAPED_STARTS)


def unescape_formula(cell: str) -> str:
    """A CSV cell without the leading ``'`` the export's `needs_formula_escape` rule adds (other cells as is)."""
    return cell[1:] if cell.startswith(_ESCAPED_STARTS) else cell


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


def text_id(text: str) -> str:
    """The id an import gives a text when the file has no id column (the first of repeated texts)."""
    return "h" + hashlib.sha256(text.encode()).hexdigest()[:16]


def is_text_id(external_id: str) -> bool:
    """Whether an external id has the shape `text_id` gives (``h`` + 16 hex digits, maybe ``-n``)."""
    return _TEXT_ID.fullmatch(external_id) is not None


def detect_id_column(
    columns: Iterable[str], exclude: Iterable[str | None] = (), spelling: Spelling = API
) -> tuple[str | None, str]:
    """(the id column of a file with these columns, or None; why), by the rule of the module docstring.
    Columns in `exclude` (the text, label, honeypot columns) are never the id."""
    skip = {c for c in exclude if c}
    cols = [c for c in columns if c not in skip]
    for wanted in (DEFAULT_ID_COLUMN, "id"):
        found = [c for c in cols if c.lower() == wanted]
        if len(found) == 1:
            return found[0], f"the column named {wanted!r}"
        if found:
            raise _ambiguous(found, spelling)
    suffixed = [c for c in cols if c.lower().endswith("_id")]
    if len(suffixed) > 1:
        raise _ambiguous(suffixed, spelling)
    if suffixed:
        return suffixed[0], "the only column whose name ends in '_id'"
    return None, "no id column (external_id, id or one *_id column): ids from each text"


def _ambiguous(candidates: list[str], spelling: Spelling) -> InvalidInput:
    return InvalidInput(
        f"Which column holds the external ids? The file has several candidates: {sorted(candidates)}. "
        f"Choose one with {spelling.option('id_column', 'NAME')}, or take ids from each text with "
        f"{spelling.option('ids_from_text', True)}.",
        details={"candidates": sorted(candidates)},
    )


@dataclass(frozen=True)
class ParsedImport:
    """A parsed import file: its records and where their external ids came from."""

    records: list[AssetIn]
    id_column: str | None  # the column the ids came from; None: made from each text (`text_id`)
    id_detected: bool  # the column was chosen by `detect_id_column`, not named by the caller
    id_reason: str  # why, for people: "the column named 'id'", "the only column whose name ends in '_id'"

    @property
    def id_source(self) -> Literal["column", "detected", "text"]:
        if self.id_column is None:
            return "text"
        return "detected" if self.id_detected else "column"


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
        ids_from_text: bool = False,
        spelling: Spelling = API,
    ) -> None:
        if ids_from_text and id_column is not None:
            raise InvalidInput(
                f"Give either {spelling.option('id_column', id_column)} or {spelling.option('ids_from_text', True)}"
                ", not both."
            )
        self.text_column = text_column
        self.id_column = id_column
        self.metadata_columns = metadata_columns
        self.honeypot_column = honeypot_column
        self.label_column = label_column
        self.interface = interface
        self.csv_text = csv_text
        self.spelling = spelling
        self.generate_ids = ids_from_text
        self.id_detected = False
        self.id_reason = "ids from each text" if ids_from_text else f"the column {id_column!r} as asked"
        self.seen: dict[str, str] = {}
        self.content_seen: dict[str, int] = {}
        self.records: list[AssetIn] = []

    def parsed(self) -> ParsedImport:
        column = None if self.generate_ids else self.id_column
        return ParsedImport(self.records, column, self.id_detected and column is not None, self.id_reason)

    def check_columns(self, columns: Iterable[str], what: str) -> None:
        cols = set(columns)
        required = [self.text_column]
        for opt in (self.honeypot_column, self.label_column, *(self.metadata_columns or [])):
            if opt:
                required.append(opt)
        if self.id_column is not None:
            required.append(self.id_column)
        elif not self.generate_ids:
            special = (self.text_column, self.label_column, self.honeypot_column)
            self.id_column, self.id_reason = detect_id_column(columns, special, self.spelling)
            self.id_detected = self.id_column is not None
            self.generate_ids = self.id_column is None
        missing = [c for c in required if c not in cols]
        if missing:
            sp = self.spelling
            options = "/".join(sp.option(o) for o in ("text_column", "id_column", "label_column"))
            raise InvalidInput(
                f"Missing column(s) {missing} in {what}; the file has {sorted(cols)}. "
                f"Choose the columns with {options}.",
                details={"missing": missing, "columns": sorted(cols)},
            )

    def _detected_hint(self) -> str:
        if not self.id_detected:
            return ""
        sp = self.spelling
        return (
            f" The ids were taken from column {self.id_column!r} ({self.id_reason}); if it is not the id, name "
            f"the right column with {sp.option('id_column', 'NAME')}, or take ids from each text with "
            f"{sp.option('ids_from_text', True)}."
        )

    def add(self, row: dict[str, Any], where: str) -> None:
        text = row.get(self.text_column)
        if text is None or (isinstance(text, str) and not text.strip()):
            raise InvalidInput(f"{where}: the text column {self.text_column!r} is empty; give every row a text.")
        if not isinstance(text, str):
            raise InvalidInput(
                f"{where}: the text column {self.text_column!r} must be a string; got {text!r}."
            )
        if self.generate_ids:
            digest = text_id(text)
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
                    + self._detected_hint()
                )
            # an integer id column with gaps reaches Parquet/pandas as floats: 7.0 is the id 7
            ext = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw).strip()
            if len(ext) > MAX_EXTERNAL_ID:
                raise InvalidInput(f"{where}: the external id is longer than {MAX_EXTERNAL_ID} characters.")
        if ext in self.seen:
            raise InvalidInput(
                f"{where}: external id {ext!r} was already used at {self.seen[ext]}; "
                f"external ids must be unique within an import.{self._detected_hint()}",
                details={"external_id": ext},
            )
        self.seen[ext] = where
        special = {self.text_column, self.id_column, self.honeypot_column, self.label_column}
        if self.metadata_columns is not None:
            meta = {c: row.get(c) for c in self.metadata_columns}
        else:
            given = _metadata_object(row.get("json_metadata"), csv_text=self.csv_text)
            meta = given if given is not None else {k: v for k, v in row.items() if k not in special and k is not None}
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


def _metadata_object(value: Any, *, csv_text: bool) -> dict[str, Any] | None:
    """A record's ``json_metadata`` field when it holds an object: the object itself in JSON, JSON text of one in
    CSV and Parquet (their cells are text); None otherwise."""
    if not csv_text:
        return dict(value) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def parse_file(
    data: bytes,
    *,
    fmt: Format,
    text_column: str = "text",
    id_column: str | None = None,
    ids_from_text: bool = False,
    metadata_columns: list[str] | None = None,
    honeypot_column: str | None = None,
    label_column: str | None = None,
    interface: Interface | None = None,
    spelling: Spelling = API,
) -> ParsedImport:
    """Parse an import file into records (see the module docstring for ids, metadata, honeypots, labels).
    `spelling` is how the caller's interface writes options in the advice of error messages."""
    if fmt not in FORMATS:
        raise InvalidInput(f"Unknown import format {fmt!r}; use csv, jsonl, json or parquet.")
    b = _Builder(
        text_column=text_column,
        id_column=id_column,
        metadata_columns=metadata_columns,
        honeypot_column=honeypot_column,
        label_column=label_column,
        interface=interface,
        csv_text=fmt in ("csv", "parquet"),
        ids_from_text=ids_from_text,
        spelling=spelling,
    )
    if fmt == "parquet":
        _parse_parquet(data, b)
    elif fmt == "csv":
        _parse_csv(_decode(data), b)
    elif fmt == "jsonl":
        _parse_jsonl(_decode(data), b)
    else:
        _parse_json(_decode(data), b)
    if not b.records:
        raise InvalidInput("The file contains no records.")
    return b.parsed()


def parse_records(data: bytes, *, fmt: Format, **options: Any) -> list[AssetIn]:
    """`parse_file`'s records only (the same options)."""
    return parse_file(data, fmt=fmt, **options).records


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
            b.add(dict(zip(header, map(unescape_formula, fields), strict=True)), where)
    except csv.Error as exc:
        raise InvalidInput(
            f"Malformed CSV near line {reader.line_num}: {exc}. Check the quoting: a field that opens with a quote "
            'must close with one, and a quote inside it is written twice ("").'
        ) from None


def _parse_parquet(data: bytes, b: _Builder) -> None:
    from prelabel.service.parquet import read_batches

    columns, batches = read_batches(data)
    b.check_columns(columns, "the Parquet file's columns")
    n = 0
    for rows in batches:
        for row in rows:
            n += 1
            b.add(row, f"Parquet row {n}")


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
        except RecursionError:
            raise InvalidInput(f"{where} is nested too deeply to be a record.") from None
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
    except RecursionError:
        raise InvalidInput("The JSON file is nested too deeply to hold records.") from None
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
