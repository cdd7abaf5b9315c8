"""Fixtures of the GAN tests: a toy cohort (see gan_toy.py) built once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from gan_toy import make_toy_cohort

from rnagan.workspace import Workspace


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """The tiny networks gain nothing from a second thread, and on a busy 2-core machine OpenMP's
    barriers make two threads ~9x slower than one (150 toy steps: 110 s against 12 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("toy") / "ws")
    make_toy_cohort(ws)
    return ws
