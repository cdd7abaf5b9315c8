"""Peak memory of ``rnagan evaluate`` as the cohort grows, against holding every tile as evaluation once did.

For each cohort size (default 1k, 10k, 50k, 100k tiles) a workspace is built from the bundled LC25000 lung
tiles (64 px, upsampled to the 256 px that ``rnagan tile`` stores, flipped and rotated so no two
tiles are alike): a tile store, a tile index, a samples table (50 tiles per sample, two tissues,
70 % train / 30 % test by sample) and one run whose generated tile store holds as many 64 px tiles as
the cohort (the test tiles, flipped and turned in turn), with its checkpoint's list of training tiles.
Then, each in a fresh process:

- **evaluate**: :func:`rnagan.evaluate.run.evaluate` at 64 px with every cap lifted (``fid_max_images``,
  ``fidelity_max_tiles`` None), so every tile is read; ``evaluate.feature_max_tiles`` at its default;
- **baseline**: what the evaluation held before it streamed: every test, train and generated tile
  decoded and resized at once, plus their features (read from the cache the evaluate step just wrote).

Peak RSS (``ru_maxrss``) and peak anonymous memory (``RssAnon``, sampled every 10 ms: RSS also counts the
store's memory-mapped pages, which the kernel reclaims at will) of each, their ratios, and the growth from
the smallest cohort to the largest go to ``benchmarks/results/evaluate_memory.json``.
Inception on 50,000 tiles takes hours on 2 CPU cores, so the feature network is a stand-in with the
FID network's interface (a TorchScript module whose ``layers`` map a 299 px batch to 2,048 pooled
features: average pooling, a fixed random 3×3 and 1×1 convolution, ReLU): it costs milliseconds a tile
and its weights a few MB, the real network's ~100 MB are a constant that does not grow with the
cohort. The ResNet fidelity classifier trains on at most ``--classifier-tiles`` tiles for time (it
decodes one batch at a time at any size: ``tests/evaluate/test_tilesets.py``). Run::

    python benchmarks/evaluate_memory.py                  # 1k, 10k, 50k, 100k (~45 min on 2 idle cores)
    python benchmarks/evaluate_memory.py --sizes 1000     # a quick look
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
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

from rnagan.config import load_config, preset
from rnagan.datasets.lc25000 import lc25000_dir
from rnagan.evaluate.features import FEATURE_DIM, list_images
from rnagan.evaluate.run import evaluate, real_tiles
from rnagan.samples import STORE, manifest_tiles, read_manifest
from rnagan.slides.store import TileStore, encode_tile, tile_key
from rnagan.slides.tilesets import StoreTiles
from rnagan.workspace import Workspace

RESULTS = Path(__file__).parent / "results" / "evaluate_memory.json"
STORED, EVALUATED, PER_SAMPLE, CHUNK = 256, 64, 50, 2000


class _StandInPool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(
            nn.AvgPool2d(37),
            nn.Conv2d(3, 64, 3),
            nn.ReLU(),
            nn.Conv2d(64, FEATURE_DIM, 1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _StandInNetwork(nn.Module):
    """The FID network's interface (``.layers``: normalised 299 px batch → (N, 2048, 1, 1))."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = _StandInPool()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _tiles(n: int) -> list[np.ndarray]:
    """``n`` distinct 256 px RGB tiles: each bundled tile in its 8 flips and rotations, upsampled."""
    sources = [
        np.asarray(Image.open(p).convert("RGB"))
        for label in ("lung_n", "lung_aca")
        for p in list_images(lc25000_dir() / label)
    ]
    variants = [np.rot90(np.flip(t, 1) if k >= 4 else t, k % 4) for k in range(8) for t in sources]
    big = [
        np.asarray(Image.fromarray(np.ascontiguousarray(v)).resize((STORED, STORED), Image.BICUBIC))
        for v in variants[:n]
    ]
    return (big * (n // len(big) + 1))[:n]


def build_workspace(root: Path, n: int) -> Workspace:
    ws = Workspace(root).create()
    samples = pd.DataFrame({"sample_id": [f"S{i:05d}" for i in range(-(-n // PER_SAMPLE))]})
    samples["tissue"] = np.where(np.arange(len(samples)) % 2 == 0, "lung_n", "lung_aca")
    samples["split"] = np.where(np.random.default_rng(0).random(len(samples)) < 0.7, "train", "test")
    samples.to_csv(ws.samples_table, index=False)
    index = pd.DataFrame({"sample_id": [samples["sample_id"][i // PER_SAMPLE] for i in range(n)]})
    index["slide_id"] = index["sample_id"]
    index["x"] = np.arange(n) % PER_SAMPLE * STORED
    index["y"], index["level"], index["mpp"], index["tissue_fraction"] = 0, 0, 0.5, 1.0
    index["key"] = [tile_key(s, x, 0) for s, x in zip(index["slide_id"], index["x"], strict=True)]
    tiles = _tiles(n)
    with TileStore(ws.tile_store, readonly=False) as store:
        for start in range(0, n, CHUNK):
            store.put_many(
                (index["key"][i], encode_tile(tiles[i], "jpeg")) for i in range(start, min(n, start + CHUNK))
            )
    index.to_parquet(ws.tile_index)
    table = real_tiles(ws)
    train, test = table[table["split"] == "train"], table[table["split"] == "test"]
    checkpoint = ws.gan_run("rnagan") / "checkpoint"
    checkpoint.mkdir(parents=True, exist_ok=True)
    train[["key"]].to_csv(checkpoint / "training_tiles.csv", index=False)
    run = ws.samples_run("rnagan")
    run.mkdir(parents=True, exist_ok=True)
    small = StoreTiles(ws.tile_store, test["key"].tolist(), EVALUATED)
    keys = [tile_key(f"t{i:06d}", 0, 0) for i in range(n)]
    source = np.arange(n) % len(test)  # generated tile i: test tile i mod len(test), in turn i // len(test)
    with TileStore(run / STORE, readonly=False) as generated:
        for turn in range(-(-n // len(test))):
            for positions, batch in small.chunks(CHUNK):
                turned = torch.rot90(batch.flip(-1) if turn % 8 >= 4 else batch, turn % 4, dims=(-2, -1))
                generated.put_many(
                    (keys[turn * len(test) + i], encode_tile(tile.permute(1, 2, 0).numpy()))
                    for i, tile in zip(positions, turned, strict=True)
                    if turn * len(test) + i < n
                )
    pd.DataFrame(
        {
            "profile": test["sample_id"].to_numpy()[source],
            "base_profile": test["sample_id"].to_numpy()[source],
            "perturbation": "",
            "source": "benchmark",
            "tissue": test["tissue"].to_numpy()[source],
            "split": "test",
            "seed": 0,
            "noise_index": 0,
            "path": "",
            "key": keys,
        }
    ).to_csv(run / "manifest.csv", index=False)
    return ws


def child_evaluate(workspace: Path, weights: Path, classifier_tiles: int) -> dict:
    config = load_config(
        "small",
        overrides=[
            "evaluate.fid_max_images=",
            "evaluate.fidelity_max_tiles=",
            f"evaluate.classifier_max_tiles={classifier_tiles}",
            "evaluate.classifier_epochs=1",
            "evaluate.classifier_image_size=32",
            "evaluate.embedding=pca",
            "evaluate.kid_subsets=10",
        ],
    )
    start = time.perf_counter()
    metrics = evaluate(Workspace(workspace), config, runs=("rnagan",), weights=weights)
    return {
        "seconds": time.perf_counter() - start,
        "n_test": metrics.real.n_test,
        "n_train": metrics.real.n_train,
        "n_generated": metrics.runs["rnagan"].n_tiles,
    }


def child_baseline(workspace: Path) -> dict:
    """Every test, train and generated tile decoded at 64 px at once, and their features, as evaluation held them."""
    ws = Workspace(workspace)
    table = real_tiles(ws)
    start = time.perf_counter()
    held = [
        StoreTiles(ws.tile_store, table.loc[table["split"] == s, "key"].tolist(), EVALUATED)[:]
        for s in ("test", "train")
    ]
    run = ws.samples_run("rnagan")
    held.append(manifest_tiles(run, read_manifest(run), EVALUATED)[:])
    features = np.concatenate([np.load(p) for p in sorted((ws.reports / "cache").glob("*.npy"))])
    return {"seconds": time.perf_counter() - start, "tiles": sum(len(h) for h in held), "features": len(features)}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


class AnonymousPeak:
    """The highest anonymous resident memory (``RssAnon``) seen every 10 ms. Peak RSS also counts the tile
    store's memory-mapped pages, which grow with the store and which the kernel drops whenever it needs
    the room; anonymous memory is what evaluation itself holds."""

    def __init__(self) -> None:
        self.peak_kb = 0
        threading.Thread(target=self._watch, daemon=True).start()

    @staticmethod
    def now_kb() -> int:
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("RssAnon:")))

    def _watch(self) -> None:
        while True:
            self.peak_kb = max(self.peak_kb, self.now_kb())
            time.sleep(0.01)

    @property
    def mb(self) -> float:
        return max(self.peak_kb, self.now_kb()) / 1024


def _run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 50_000, 100_000])
    parser.add_argument("--classifier-tiles", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, workspace, *rest = args.child
        anonymous = AnonymousPeak()
        result = (
            child_evaluate(Path(workspace), Path(rest[0]), int(rest[1]))
            if kind == "evaluate"
            else child_baseline(Path(workspace))
        )
        print(json.dumps({**result, "peak_rss_mb": _peak_rss_mb(), "peak_anonymous_mb": anonymous.mb}))
        return

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "stand_in_pool.pt"
        torch.jit.script(_StandInNetwork().eval()).save(str(weights))
        for n in args.sizes:
            started = time.perf_counter()
            root = Path(tmp) / f"ws{n}"
            build_workspace(root, n)
            built = time.perf_counter() - started
            ours = _run_child("evaluate", str(root), str(weights), str(args.classifier_tiles))
            baseline = _run_child("baseline", str(root))
            rows.append(
                {
                    "tiles": n,
                    "build_seconds": round(built, 1),
                    "evaluate": ours,
                    "baseline": baseline,
                    "ratio_evaluate_to_baseline": round(ours["peak_rss_mb"] / baseline["peak_rss_mb"], 3),
                    "ratio_anonymous_evaluate_to_baseline": round(
                        ours["peak_anonymous_mb"] / baseline["peak_anonymous_mb"], 3
                    ),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "peak RSS of rnagan evaluate (caps lifted) vs holding every tile and feature at once",
                "stored_px": STORED,
                "evaluated_px": EVALUATED,
                "feature_network": "stand-in with the FID interface",
                "generated_format": "store",
                "anonymous_sampling_ms": 10,
                "feature_max_tiles": preset("small").evaluate.feature_max_tiles,
                "cpu_count": os.cpu_count(),
                "platform": platform.platform(),
                "torch": torch.__version__,
                "results": rows,
                "growth_rss": round(rows[-1]["evaluate"]["peak_rss_mb"] / rows[0]["evaluate"]["peak_rss_mb"], 3),
                "growth_anonymous": round(
                    rows[-1]["evaluate"]["peak_anonymous_mb"] / rows[0]["evaluate"]["peak_anonymous_mb"], 3
                ),
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
