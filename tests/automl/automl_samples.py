"""Reading small real samples of ../shared/datasets (or $PRELABEL_DATASETS) at test time."""

from __future__ import annotations

import csv
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_datasets() -> Path:
    env = os.environ.get("PRELABEL_DATASETS")
    return Path(env) if env else REPO_ROOT / ".." / "shared" / "datasets"


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def sample(name: str, file: str, n: int, seed: int = 0) -> list[dict[str, Any]]:
    path = shared_datasets() / name / file
    if not path.exists():
        pytest.fail(f"shared data set missing: {path} (set PRELABEL_DATASETS)")
    rows = _rows(path)
    random.Random(seed).shuffle(rows)
    return rows[:n]
