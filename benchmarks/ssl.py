"""SimCLR tiles/s through ``rnagan.ssl.simclr.pretrain`` against a plain PyTorch loop of the same model and batch.

Our loop pays for what a real run needs: lightly's per-tile SimCLR views (crop, jitter, grey, blur, made
on the CPU), the data loader, the progress bar and a resumable checkpoint after every epoch. The plain
loop trains the same SimCLR model (backbone + lightly head, SGD, NT-Xent) for the same steps on two fixed
flipped copies of the tiles, so the ratio is the cost of all of that. Both count tiles (2 views each)::

    python benchmarks/ssl.py                                  # small preset: ResNet-18, 64 px, batch 64
    python benchmarks/ssl.py --preset tiny --tiles 64

Results go to ``benchmarks/results/ssl.json`` (with the load average: on a shared machine it matters).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named ssl.py, and Python puts its folder first on sys.path: take it off before anything
# imports the standard library's ssl (torch does, through its hub module).
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from lightly.loss import NTXentLoss  # noqa: E402

from rnagan.config import preset  # noqa: E402
from rnagan.ssl.backbone import normalize  # noqa: E402
from rnagan.ssl.simclr import SimCLR, pretrain  # noqa: E402
from rnagan.ssl.sources import read_lc25000  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "ssl.json"


def plain_loop(tiles: torch.Tensor, config, steps: int) -> float:
    """Tiles/s of a bare SimCLR loop over fixed views: no augmentation, no loader, no checkpoints."""
    cfg = config.ssl
    torch.manual_seed(cfg.seed)
    model = SimCLR(cfg.backbone, cfg.projection_dim)
    optimiser = torch.optim.SGD(model.parameters(), lr=cfg.pretrain_lr, momentum=cfg.momentum)
    criterion = NTXentLoss(temperature=cfg.temperature)
    view0, view1 = normalize(tiles), normalize(tiles.flip(-1))
    batch = cfg.pretrain_batch_size
    started = time.perf_counter()
    for step in range(steps):
        i = (step * batch) % (len(tiles) - batch + 1)
        loss = criterion(model(view0[i : i + batch]), model(view1[i : i + batch]))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return steps * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--tiles", type=int, default=256, help="LC25000 tiles pretrained on")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    config = preset(args.preset)
    config.ssl.pretrain_epochs, config.ssl.pretrain_max_tiles = args.epochs, args.tiles
    tiles = read_lc25000(config.ssl.image_size).draw(args.tiles, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        meta = pretrain(tiles, config, tmp, progress=False)
        seconds = time.perf_counter() - started
    steps = len(meta["step_losses"])
    ours = steps * config.ssl.pretrain_batch_size / seconds
    plain = plain_loop(tiles.tiles[:], config, steps)
    result = {
        "backbone": config.ssl.backbone,
        "image_size": config.ssl.image_size,
        "batch_size": config.ssl.pretrain_batch_size,
        "steps": steps,
        "num_workers": config.ssl.num_workers,
        "rnagan_tiles_per_s": ours,
        "plain_tiles_per_s": plain,
        "ratio": ours / plain,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
