"""Fixtures of the spatial tests; the data and builders are in spatial_fixture.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from spatial_fixture import TINY


@pytest.fixture
def tiny_dir() -> Path:
    return TINY
