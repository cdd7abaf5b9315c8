"""Peak memory of the SSL data paths as the tile store grows, against decoding every tile as they once did.

For each store size (default 1k, 10k, 50k tiles) a workspace is built of synthetic 64 px PNG tiles (a
pool of random textures, each stored tile a distinct roll of one; 50 tiles per sample, two tissues,
every sample in the train split). Then, each in a fresh process:

- **pretrain**: ``rnagan ssl pretrain --source WORKSPACE`` as a call: :func:`open_source` on the
  workspace, then one SimCLR epoch (tiny backbone, 64 px, batch 64) on the ``ssl.pretrain_max_tiles``
  (512) drawn before any tile is decoded;
- **pretrain-eager**: what that command held before: every tile of the store decoded and stacked, then
  the 512 drawn (no training: the stack is the peak);
- **tstr**: the TSTR training split with no cap (``evaluate.classifier_max_tiles`` None, the paper
  preset's), held as keys and decoded 32 tiles at a time once through, as an epoch of the classifier
  decodes it (the ResNet itself is a constant the store size does not change; training it on 50k tiles
  is hours on a shared CPU);
- **tstr-eager**: the same split decoded and stacked at once, as ``ssl tstr`` did.

Peak RSS (``ru_maxrss``) of each process goes to ``benchmarks/results/ssl_memory.json`` with the load
average before and after: the machine is shared, which changes the seconds, not the memory. Run::

    python benchmarks/ssl_memory.py                   # 1k, 10k, 50k
    python benchmarks/ssl_memory.py --sizes 1000      # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

RESULTS = Path(__file__).parent / "results" / "ssl_memory.json"
SIZE, PER_SAMPLE, CHUNK = 64, 50, 2000
MODES = ("pretrain", "pretrain-eager", "tstr", "tstr-eager")


def build_workspace(root: Path, n_tiles: int) -> None:
    """A workspace of ``n_tiles`` distinct 64 px PNG tiles in one store, all in the train split."""
    from rnagan.slides.store import TileStore, encode_tile
    from rnagan.workspace import Workspace

    ws = Workspace(root).create()
    pool = np.random.default_rng(0).integers(0, 256, (64, SIZE, SIZE, 3), dtype=np.uint8)
    keys = [f"s{i // PER_SAMPLE:05d}/{i % PER_SAMPLE}_0" for i in range(n_tiles)]
    with TileStore(ws.tile_store, readonly=False) as store:
        for start in range(0, n_tiles, CHUNK):  # one transaction per chunk keeps the encoded bytes bounded
            chunk = range(start, min(start + CHUNK, n_tiles))
            store.put_many((keys[i], encode_tile(np.roll(pool[i % 64], i // 64, axis=1))) for i in chunk)
    samples = sorted({k.split("/")[0] for k in keys})
    index = pd.DataFrame({"key": keys, "slide_id": [k.split("/")[0] for k in keys]})
    index = index.assign(sample_id=index["slide_id"], x=0, y=0, level=0, mpp=0.5, tissue_fraction=1.0)
    index.to_parquet(ws.tile_index)
    tissue = ["a" if i % 2 else "b" for i in range(len(samples))]
    pd.DataFrame({"sample_id": samples, "tissue": tissue, "split": "train"}).to_csv(ws.samples_table, index=False)


def child(mode: str, root: Path) -> dict[str, Any]:
    """One measurement in this process; peak RSS after it."""
    from rnagan.config import preset
    from rnagan.evaluate.tstr import _store_tiles
    from rnagan.ssl.simclr import pretrain
    from rnagan.ssl.sources import open_source
    from rnagan.workspace import Workspace

    torch.set_num_threads(1)
    config = preset("tiny")
    config.ssl.image_size, config.ssl.pretrain_max_tiles, config.ssl.pretrain_batch_size = SIZE, 512, 64
    config.ssl.pretrain_epochs = 1
    config.evaluate.classifier_image_size, config.evaluate.classifier_max_tiles = SIZE, None
    started = time.perf_counter()
    if mode.startswith("pretrain"):
        tiles = open_source(root, SIZE)
        if mode == "pretrain":
            with tempfile.TemporaryDirectory() as out:
                pretrain(tiles, config, out, progress=False, device="cpu")
        else:
            every = tiles.tiles[:]  # the store decoded and stacked before the cap
            every[torch.from_numpy(np.sort(np.random.default_rng(0).choice(len(every), 512, replace=False)))]
    else:
        train = _store_tiles(Workspace(root), "train", config.evaluate, None)
        if mode == "tstr":
            for _ in train.tiles.chunks(32):
                pass
        else:
            train.tiles[:]  # stacked at once
    return {"seconds": time.perf_counter() - started, "n_tiles": len(tiles) if mode.startswith("pre") else len(train),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip


def measure(mode: str, root: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--workspace", str(root)],
        check=True, capture_output=True, text=True, env=os.environ | {"OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 50_000])
    parser.add_argument("--child", choices=MODES)
    parser.add_argument("--workspace", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.workspace)))
        return
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            root = Path(tmp) / f"ws{n}"
            build_workspace(root, n)
            for mode in MODES:
                rows.append({"store_tiles": n, "mode": mode, **measure(mode, root)})
                print(json.dumps(rows[-1]), flush=True)
    result = {
        "tile_size": SIZE,
        "pretrain_max_tiles": 512,
        "rows": rows,
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "shared_machine": True,
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
        "torch": torch.__version__,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
