"""Fixtures of the GAN tests: a toy cohort (see gan_toy.py) built once per module."""

from __future__ import annotations

import pytest
from gan_toy import make_toy_cohort

from rnagan.workspace import Workspace


@pytest.fixture(scope="module")
def toy_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("toy") / "ws")
    make_toy_cohort(ws)
    return ws
