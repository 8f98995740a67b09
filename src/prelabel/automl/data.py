"""Reading labelled text files (CSV or JSON Lines) for the CLI and the benchmark."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class TextTable:
    texts: list[str]
    labels: list[Any] | None  # labels, label lists (multi-label) or None when the file has no labels
    ids: list[str] | None
    multilabel: bool


def _split_labels(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value).strip()
    if not text:
        return []
    if text.startswith("["):
        return [str(v) for v in json.loads(text)]
    return [part.strip() for part in text.split("|") if part.strip()]


def read_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_table(
    path: str | Path,
    text_column: str = "text",
    label_column: str | None = "label",
    labels_column: str | None = None,
    id_column: str | None = "id",
    require_labels: bool = True,
) -> TextTable:
    """Texts with their labels from a CSV (header row) or JSONL file. ``labels_column`` names a column of
    label lists (JSON lists in JSONL; JSON or ``a|b`` strings in CSV) and makes the task multi-label."""
    path = Path(path)
    rows = read_rows(path)
    if not rows:
        raise ValueError(f"{path} holds no rows.")
    columns = set(rows[0])
    if text_column not in columns:
        raise ValueError(f"{path} has no text column {text_column!r}; columns: {sorted(columns)}.")
    texts = ["" if r.get(text_column) is None else str(r[text_column]) for r in rows]
    ids = [str(r.get(id_column, "")) for r in rows] if id_column and id_column in columns else None
    labels: list[Any] | None = None
    multilabel = False
    if labels_column:
        if labels_column not in columns:
            raise ValueError(f"{path} has no labels column {labels_column!r}; columns: {sorted(columns)}.")
        labels = [_split_labels(r[labels_column]) for r in rows]
        multilabel = True
    elif label_column and label_column in columns:
        labels = [str(r[label_column]) for r in rows]
    elif require_labels:
        raise ValueError(f"{path} has no label column {label_column!r}; columns: {sorted(columns)}.")
    return TextTable(texts=texts, labels=labels, ids=ids, multilabel=multilabel)
