"""``rnagan ssl experiment`` on a workspace made from the package's bundled demo: features or statistics?

The workspace needs no training: the real tiles are the bundled LC25000 lung tiles (one per source
image) under the bundled demo's splits, and the synthetic pool is drawn by the bundled ``rnagan``
generator (10,000 GAN steps on the train split) from the μ of the held-out test profiles. Then
:func:`rnagan.ssl.experiment.run_experiment` with the given preset and overrides, and its ``ssl.json``
with what was run and the machine's load goes to ``benchmarks/results/ssl_experiment.json``::

    python benchmarks/ssl_experiment.py                                 # the small preset as it ships
    python benchmarks/ssl_experiment.py --set ssl.backbone=tiny --set 'ssl.label_fractions=[0.1,1.0]'

Budgets are epochs, so the load changes the seconds and nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from rnagan.config import load_config
from rnagan.datasets.lc25000 import load_lc25000
from rnagan.demo.bundle import BUNDLE, SAMPLES, bundled_tiles
from rnagan.samples import MANIFEST, MANIFEST_COLUMNS
from rnagan.slides.store import TileStore, encode_tile
from rnagan.ssl.experiment import run_experiment
from rnagan.workspace import Workspace, read_samples

RESULTS = Path(__file__).parent / "results" / "ssl_experiment.json"


def real_tiles(ws: Workspace) -> None:
    """The bundled lung tiles, one per source image, in a tile store under the bundled demo's splits."""
    samples = read_samples(BUNDLE / SAMPLES)
    table = load_lc25000()
    table = table[(table["subset"] == "unique") & table["sample_id"].isin(samples.index)]
    keys = [f"{s}/0_0" for s in table["sample_id"]]
    with TileStore(ws.tile_store, readonly=False) as store:
        store.put_many(
            (key, encode_tile(np.asarray(Image.open(path).convert("RGB"))))
            for key, path in zip(keys, table["path"], strict=True)
        )
    index = pd.DataFrame({"key": keys, "slide_id": table["sample_id"].to_numpy()})
    index.assign(sample_id=index["slide_id"], x=0, y=0, level=0, mpp=0.5, tissue_fraction=1.0).to_parquet(ws.tile_index)
    samples.reset_index().to_csv(ws.samples_table, index=False)


def synthetic_tiles(ws: Workspace, per_profile: int) -> int:
    """``per_profile`` tiles of every test-split profile from the bundled generator, as ``samples/rnagan/``."""
    samples = read_samples(BUNDLE / SAMPLES)
    profiles = samples.index[samples["split"] == "test"].tolist()
    tiles, tissues = bundled_tiles("rnagan", split="test", n_per_profile=per_profile, seed=0)
    folder = ws.samples_run("rnagan")
    (folder / "tiles").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (tile, tissue) in enumerate(zip(tiles, tissues, strict=True)):
        profile, draw = profiles[i // per_profile], i % per_profile
        path = f"tiles/{profile}_{draw}.png"
        Image.fromarray(tile.permute(1, 2, 0).numpy()).save(folder / path)
        rows.append([profile, profile, "", "bundle", tissue, "test", 0, draw, path, ""])
    pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).to_csv(folder / MANIFEST, index=False)
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--per-profile", type=int, default=4, help="generated tiles per held-out profile")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.preset, overrides=args.overrides)
    load_before, started = os.getloadavg()[0], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws").create()
        real_tiles(ws)
        n_synthetic = synthetic_tiles(ws, args.per_profile)
        results = run_experiment(ws, config, out=Path(tmp) / "ssl", device="cpu")
    results |= {
        "workspace": "bundled demo (benchmarks/ssl_experiment.py)",
        "command": {"preset": args.preset, "overrides": args.overrides, "per_profile": args.per_profile},
        "n_synthetic": n_synthetic,
        "wall_seconds": time.perf_counter() - started,
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "shared_machine": True,
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
        "torch": torch.__version__,
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["headline"], indent=2))


if __name__ == "__main__":
    main()
