"""Small real samples of ../shared/datasets (or $PRELABEL_DATASETS), read at test time."""

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


@pytest.fixture(scope="session")
def tweets() -> tuple[list[str], list[str]]:
    rows = sample("disaster_tweets", "train.csv", 400)
    return [r["text"] for r in rows], [r["target"] for r in rows]


@pytest.fixture(scope="session")
def tweets_large() -> tuple[list[str], list[str]]:
    rows = sample("disaster_tweets", "train.csv", 2500, seed=1)
    return [r["text"] for r in rows], [r["target"] for r in rows]


@pytest.fixture(scope="session")
def bbc() -> tuple[list[str], list[str]]:
    rows = sample("bbc_news", "train.csv", 150)
    return [r["text"][:1500] for r in rows], [r["label"] for r in rows]


@pytest.fixture(scope="session")
def reuters() -> tuple[list[str], list[list[str]]]:
    rows = sample("reuters21578_top20", "train.jsonl", 300)
    return [r["text"][:1500] for r in rows], [list(r["labels"]) for r in rows]
