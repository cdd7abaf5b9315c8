"""Images per second through a DataLoader: our LMDB tile store against torchvision's ImageFolder.

The same tiles on both sides: the folder is imported into a fresh store (``rnagan tiles import``)
in each format, then both are read through ``DataLoader(batch_size=64)`` with 0 and 2 workers.
Every loader yields the same thing, a uint8 (3, H, W) tensor per tile (ImageFolder with
``PILToTensor``); ImageFolder with ``ToTensor`` (floats, the usual recipe) is shown too. The ratio
is taken against the faster ImageFolder. Run::

    python benchmarks/tile_loading.py [--tiles FOLDER] [--epochs 3]

Writes benchmarks/results/tile_loading.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from importlib import resources
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from rnagan.slides.dataset import TileDataset, read_tile_index
from rnagan.slides.folder import import_tiles
from rnagan.workspace import Workspace

SHARED_TILES = Path("/work/shared/data/he_tiles/lc25000_lung")


def default_tiles() -> Path:
    bundled = Path(str(resources.files("rnagan.datasets") / "data" / "lc25000"))
    return bundled if bundled.is_dir() else SHARED_TILES


def images_per_second(dataset, workers: int, epochs: int) -> float:
    """Median over ``epochs`` full passes (the first pass also warms the page cache)."""
    loader = DataLoader(dataset, batch_size=64, num_workers=workers, shuffle=True, persistent_workers=workers > 0)
    rates = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        count = sum(len(batch[0]) if isinstance(batch, list) else len(batch) for batch in loader)
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiles", type=Path, default=default_tiles(), help="ImageFolder of tiles (class sub-folders)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "tile_loading.json")
    args = parser.parse_args()
    # One intra-op thread, as in DataLoader workers: on a busy 2-core machine, torch's thread pool
    # made collating a batch 10× slower for every loader, which measured the machine, not the loaders.
    torch.set_num_threads(1)

    loaders = {
        "ImageFolder+ToTensor": datasets.ImageFolder(args.tiles, transform=transforms.ToTensor()),
        "ImageFolder+PILToTensor": datasets.ImageFolder(args.tiles, transform=transforms.PILToTensor()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for image_format in ("jpeg", "png", "raw"):
            workspace = Workspace(Path(tmp) / image_format)
            import_tiles(args.tiles, workspace, image_format=image_format)
            index = read_tile_index(workspace.tile_index)
            loaders[f"TileStore ({image_format})"] = TileDataset(workspace.tile_store, index)
        n_tiles = len(loaders["ImageFolder+ToTensor"])
        results = {
            name: {f"workers_{w}": round(images_per_second(ds, w, args.epochs), 1) for w in (0, 2)}
            for name, ds in loaders.items()
        }
        store_bytes = {f: sum(p.stat().st_size for p in (Path(tmp) / f).rglob("*.mdb")) for f in ("jpeg", "png", "raw")}

    baseline = {
        w: max(results[n][w] for n in results if n.startswith("ImageFolder")) for w in ("workers_0", "workers_2")
    }
    ratios = {
        name: {w: round(results[name][w] / baseline[w], 2) for w in baseline} for name in results if "TileStore" in name
    }
    report = {
        "tiles": n_tiles,
        "folder": str(args.tiles),
        "batch_size": 64,
        "images_per_second": results,
        "ratio_vs_best_imagefolder": ratios,
        "store_bytes": store_bytes,
        "goal": ">= 2x ImageFolder",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
