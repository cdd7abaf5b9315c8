"""Run by test_ddp.py under torchrun: train the tiny β-VAE with DDP and report this rank's weights."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from vae_data import tiny_config, write_prepared

from rnagan.runtime import shutdown_distributed
from rnagan.vae.train import train_vae
from rnagan.workspace import Workspace

if __name__ == "__main__":
    torch.set_num_threads(1)
    root = Path(sys.argv[1])
    ws = Workspace(root).create()
    rank = int(os.environ["RANK"])
    if rank == 0:
        write_prepared(ws)
    torch.distributed.init_process_group("gloo")
    torch.distributed.barrier()  # rank 1 waits for the data
    metrics = train_vae(ws, tiny_config(epochs=1), device="cpu")
    (root / f"rank{rank}.json").write_text(
        json.dumps({k: metrics[k] for k in ("last_weights_sha", "world_size", "epochs_run")})
    )
    shutdown_distributed()
