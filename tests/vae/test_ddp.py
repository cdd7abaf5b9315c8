"""Two CPU processes under torchrun (gloo) train the β-VAE with DDP and end with the same weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from rnagan.checkpoint import fingerprint

pytestmark = pytest.mark.integration  # two training processes under torchrun


@pytest.mark.timeout(120)
def test_two_rank_ddp_training_keeps_ranks_in_sync(tmp_path: Path) -> None:
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(worker.parent)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(worker),
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world_size"] == ranks[1]["world_size"] == 2
    assert ranks[0]["last_weights_sha"] == ranks[1]["last_weights_sha"]
    saved = load_file(str(tmp_path / "vae" / "last" / "model.safetensors"))
    assert fingerprint(*(saved[k] for k in sorted(saved))) == ranks[0]["last_weights_sha"]
