"""CPU processes under torchrun (gloo) train the β-VAE with DDP: the ranks end with the same weights, and two
nodes of one process each train exactly as one node of two processes (the same global batch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnagan.checkpoint import fingerprint

pytestmark = pytest.mark.integration  # training processes under torchrun

WORKER = Path(__file__).with_name("ddp_worker.py")


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(WORKER.parent), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


def _one_node(root: Path) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER)]
    proc = subprocess.run([*command, str(root)], env=_env(), capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _ranks_in_sync(root: Path) -> dict[str, torch.Tensor]:
    """Both ranks' weights agree and are what rank 0 saved; the saved weights."""
    ranks = [json.loads((root / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world_size"] == ranks[1]["world_size"] == 2
    assert ranks[0]["epochs_run"] == ranks[1]["epochs_run"] == 1
    assert ranks[0]["last_weights_sha"] == ranks[1]["last_weights_sha"]
    saved = load_file(str(root / "vae" / "last" / "model.safetensors"))
    assert fingerprint(*(saved[k] for k in sorted(saved))) == ranks[0]["last_weights_sha"]
    return saved


@pytest.mark.timeout(120)
def test_two_rank_ddp_training_keeps_ranks_in_sync(tmp_path: Path) -> None:
    _one_node(tmp_path)
    _ranks_in_sync(tmp_path)


@pytest.mark.timeout(240)
def test_two_nodes_train_as_one_node_of_two_processes(tmp_path: Path, two_node_torchrun: Callable[..., None]) -> None:
    two_node_torchrun(WORKER, str(tmp_path / "two_nodes"), env=_env(), timeout=110)
    _one_node(tmp_path / "one_node")
    two_nodes, one_node = _ranks_in_sync(tmp_path / "two_nodes"), _ranks_in_sync(tmp_path / "one_node")
    assert two_nodes.keys() == one_node.keys()
    for name, weights in two_nodes.items():
        torch.testing.assert_close(weights, one_node[name], rtol=1e-6, atol=1e-7, msg=name)
