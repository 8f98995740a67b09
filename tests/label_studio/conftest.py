"""A real Label Studio 1.23.2 (from .venv-ls, made by `./run test`, or $PRELABEL_TEST_LABEL_STUDIO) and a real
`prelabel serve` with its trainer, both on 127.0.0.1 over SQLite files in a temporary directory, started once per
session (`prelabel.bench.label_studio` starts them, for `prelabel bench label-studio` too).

Without a Label Studio executable the tests are skipped, except in CI (``CI`` set), where that is a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prelabel.bench.label_studio import (
    LS_ENV,
    LabelStudio,
    Prelabel,
    find_label_studio,
    start_label_studio,
    start_prelabel,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def label_studio_exe() -> Path:
    exe = find_label_studio(REPO)
    if exe is None:
        message = (f"Label Studio is not installed: run ./run test (it installs label-studio==1.23.2 into .venv-ls) "
                   f"or set {LS_ENV} to a label-studio executable")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return exe


@pytest.fixture(scope="session")
def label_studio(label_studio_exe: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    server = start_label_studio(label_studio_exe, tmp_path_factory.mktemp("label-studio"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def prelabel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prelabel]:
    server = start_prelabel(tmp_path_factory.mktemp("prelabel"))
    yield server
    server.stop()


@pytest.fixture
def ls(label_studio: LabelStudio) -> Iterator[httpx.Client]:
    """A client of Label Studio's REST API as its admin."""
    with label_studio.client() as client:
        yield client


@pytest.fixture
def pl(prelabel: Prelabel) -> Iterator[httpx.Client]:
    """A client of prelabel's REST API as the user whose token Label Studio's ML backend URL carries."""
    with httpx.Client(base_url=prelabel.url + "/api/v1", headers={"Authorization": f"Bearer {prelabel.token}"},
                      timeout=60) as client:
        yield client
