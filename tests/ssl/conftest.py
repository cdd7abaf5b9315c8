"""Fixtures of the SSL tests: the small tile set of ssl_tiles.py and the tiny preset.

No ``__init__.py`` here on purpose: a ``tests/ssl`` package would shadow the standard library's ``ssl``.
"""

from __future__ import annotations

import pytest
import torch
from ssl_tiles import make_tiles

from rnagan.config import Config, preset
from rnagan.ssl.sources import TileSet

torch.set_num_threads(1)  # the tests share a small machine; one thread is also the fastest there


@pytest.fixture(scope="session")
def tiles() -> TileSet:
    return make_tiles()


@pytest.fixture
def tiny() -> Config:
    return preset("tiny")
