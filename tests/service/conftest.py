"""Fixtures for the service tests (real databases: see tests/conftest.py)."""

from __future__ import annotations

import pytest
from service_helpers import Team, make_team

from prelabel.store.engine import Store


@pytest.fixture
def team(store: Store) -> Team:
    """Users alice (admin), rita (reviewer), leo (labeler), otto (no member) and alice's project "Tweets"."""
    return make_team(store)
