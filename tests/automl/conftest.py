"""Fixtures: small real samples of the data sets the repository holds."""

from __future__ import annotations

import pytest
from automl_samples import sample


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
