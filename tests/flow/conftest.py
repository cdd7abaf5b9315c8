"""Fixtures of the flow tests: one thread (tiny networks on a busy machine) and a toy cohort per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from flow_toy import make_toy_cohort

from rnagan.workspace import Workspace


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("flow_toy") / "ws")
    make_toy_cohort(ws)
    return ws
