"""Reading seeded draws of the real data sets the repository holds (tests/samples.py)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

from samples import dataset_dir


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def sample(name: str, file: str, n: int, seed: int = 0) -> list[dict[str, Any]]:
    rows = _rows(dataset_dir(name) / file)
    random.Random(seed).shuffle(rows)
    return rows[:n]
