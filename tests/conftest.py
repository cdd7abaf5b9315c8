"""Shared fixtures: paths to bundled real data, the tiny preset, a fresh workspace, a two-node torchrun launcher."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest
import torch

from rnagan.config import Config, preset
from rnagan.workspace import Workspace

TEST_DATA = Path(__file__).parent / "data"

# One torch thread for every test: the networks here are tiny, and on a busy 2-core machine OpenMP's hand-offs
# make two threads many times slower than one (150 toy GAN steps: 110 s against 12 s; the unit tier: 16 min against 6).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def test_data() -> Path:
    return TEST_DATA


@pytest.fixture(scope="session")
def bundled_data() -> Path:
    return Path(str(resources.files("rnagan.datasets") / "data"))


@pytest.fixture(scope="session")
def real_slide(bundled_data: Path) -> Path:
    """The real CC0 H&E slide CMU-1-Small-Region.svs (Aperio, 0.499 µm/px)."""
    return bundled_data / "CMU-1-Small-Region.svs"


@pytest.fixture(scope="session")
def gtex_lung_counts(test_data: Path) -> Path:
    """Real GTEx v8 lung read counts: 30 samples × 818 chr21 genes (227 in the gene space)."""
    return test_data / "gtex_lung.first30.chr21.csv.gz"


@pytest.fixture(scope="session")
def gencode_chr21_gtf(test_data: Path) -> Path:
    return test_data / "gencode.v26.annotation.chr21.gtf.gz"


@pytest.fixture
def tiny() -> Config:
    return preset("tiny")


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws").create()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(agent: subprocess.Popen) -> None:
    """End an agent that is still running and its workers (its own session): SIGTERM, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if agent.poll() is not None:
            return
        os.killpg(agent.pid, sig)
        try:
            agent.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def two_node_torchrun(tmp_path: Path) -> Callable[..., None]:
    """Run a script as two torchrun nodes of one process each: two separate local agents that meet through c10d
    rendezvous on 127.0.0.1 (node 0 hosts the store), as two machines would; fails with the agents' logs.

    c10d hands out node ranks in the order agents join (``--node-rank`` is for static rendezvous only), so a
    script reads its rank from ``RANK``, as on a cluster.
    """

    def launch(script: Path, *args: str, env: dict[str, str], timeout: float) -> None:
        port = _free_port()
        logs = [tmp_path / f"agent{node}.log" for node in (0, 1)]
        agents = []
        for node, log in enumerate(logs):
            command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1"]
            command += ["--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=two-nodes"]
            command += [f"--rdzv-conf=is_host={node == 0}", "--local-addr=127.0.0.1", "--max-restarts=0"]
            with log.open("w") as out:
                agent = subprocess.Popen(
                    [*command, str(script), *args], env=env, stdout=out, stderr=out, start_new_session=True
                )
            agents.append(agent)
        deadline = time.monotonic() + timeout
        try:  # until both succeed, one fails (the other would wait out its exit barrier), or time is up
            codes = [a.poll() for a in agents]
            while codes != [0, 0] and all(c in (None, 0) for c in codes) and time.monotonic() < deadline:
                time.sleep(0.2)
                codes = [a.poll() for a in agents]
        finally:
            for agent in agents:
                _stop(agent)
        assert codes == [0, 0], f"exit codes {codes} (None: still running)\n" + "\n".join(
            f"{log.name}: {log.read_text()[-2000:]}" for log in logs
        )

    return launch
