"""Run ``train_gan`` in its own process (killed by the resume test, launched by torchrun in the DDP test).

python train_worker.py WORKSPACE RUN THREADS [--resume] [--overwrite] [section.field=value ...]
"""

from __future__ import annotations

import sys

import torch

from rnagan.config import load_config
from rnagan.gan.train import train_gan
from rnagan.workspace import Workspace

if __name__ == "__main__":
    workspace, run, threads, *args = sys.argv[1:]
    torch.set_num_threads(int(threads))
    overrides = [a for a in args if a not in ("--resume", "--overwrite")]
    train_gan(
        Workspace(workspace),
        load_config("tiny", overrides=overrides),
        run=run,
        resume="--resume" in args,
        overwrite="--overwrite" in args,
        device="cpu",
    )
