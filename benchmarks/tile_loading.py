"""Images per second through a DataLoader: our LMDB tile store, in each value format, against torchvision's ImageFolder.

The same tiles on every side: the folder is imported into a fresh store (``rnagan tiles import``)
in each format (lz4, the default; png; jpeg; raw), then every loader is read through
``DataLoader(batch_size=64)`` with each worker count. Every loader yields the same thing, a uint8
(3, H, W) tensor per tile (ImageFolder with ``PILToTensor``); ImageFolder with ``ToTensor`` (floats,
the usual recipe) is shown too. Passes are interleaved (one pass of each loader per round), so a
change in the machine's load falls on all loaders alike; the ratio is taken against the faster
ImageFolder. Bytes per tile: the mean value length of each store, its LMDB file size over the tile
count; and for the real slide's tiles (as `rnagan tile` keeps them), each format's mean value length and
encoding and decoding times (one thread).
Run::

    python benchmarks/tile_loading.py [--tiles FOLDER] [--rounds 3] [--workers 0 2]

Writes benchmarks/results/tile_loading.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from importlib import resources
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets, transforms

from rnagan.config import TilingConfig
from rnagan.slides.dataset import TileDataset, read_tile_index
from rnagan.slides.folder import import_tiles
from rnagan.slides.store import IMAGE_FORMATS, TileStore, decode_tile, encode_tile
from rnagan.slides.tiler import tile_slides
from rnagan.workspace import Workspace

SHARED_TILES = Path("/work/shared/data/he_tiles/lc25000_lung")
BATCH = 64
BAR, GOAL = 3.0, 5.0  # the default (lossless) store against ImageFolder+PILToTensor


def default_tiles() -> Path:
    bundled = Path(str(resources.files("rnagan.datasets") / "data" / "lc25000"))
    return bundled if bundled.is_dir() else SHARED_TILES


def one_pass(loader: DataLoader) -> float:
    start = time.perf_counter()
    count = sum(len(batch[0]) if isinstance(batch, list) else len(batch) for batch in loader)
    return count / (time.perf_counter() - start)


def interleaved_rates(loaders: dict[str, Dataset], workers: int, rounds: int) -> dict[str, float]:
    """Median images/s of each loader over ``rounds`` passes, one pass of every loader per round.

    Each loader makes one warm-up pass first (worker start, page cache).
    """
    built = {
        name: DataLoader(
            dataset,
            batch_size=BATCH,
            num_workers=workers,
            shuffle=True,
            generator=torch.Generator().manual_seed(0),
            persistent_workers=workers > 0,
        )
        for name, dataset in loaders.items()
    }
    for loader in built.values():
        one_pass(loader)
    rates: dict[str, list[float]] = {name: [] for name in built}
    for _ in range(rounds):
        for name, loader in built.items():
            rates[name].append(one_pass(loader))
    return {name: round(statistics.median(r), 1) for name, r in rates.items()}


def store_bytes(store_path: Path, keys: list[str]) -> dict[str, int]:
    with TileStore(store_path) as store:
        value_bytes = statistics.mean(len(store.get_bytes(key)) for key in keys)
    file_bytes = sum(p.stat().st_size for p in store_path.glob("*.mdb")) / len(keys)
    return {"value_bytes_per_tile": round(value_bytes), "file_bytes_per_tile": round(file_bytes)}


def real_slide_formats(tmp: Path) -> dict:
    """Mean value bytes, encoding and decoding ms per format of the bundled real slide's tiles (default tiling)."""
    slide = Path(str(resources.files("rnagan.datasets") / "data" / "CMU-1-Small-Region.svs"))
    workspace = Workspace(tmp / "real_slide")
    tile_slides([slide], workspace, TilingConfig(), workers=1)
    with TileStore(workspace.tile_store) as store:
        tiles = [store.get(key) for key in read_tile_index(workspace.tile_index)["key"]]
    value_bytes, encode_ms, decode_ms = {}, {}, {}
    for image_format in IMAGE_FORMATS:
        start = time.perf_counter()
        values = [encode_tile(tile, image_format) for tile in tiles]
        encode_ms[image_format] = round(1000 * (time.perf_counter() - start) / len(tiles), 3)
        start = time.perf_counter()
        for value in values:
            decode_tile(value)
        decode_ms[image_format] = round(1000 * (time.perf_counter() - start) / len(tiles), 3)
        value_bytes[image_format] = round(statistics.mean(map(len, values)))
    facts = {"slide": slide.name, "tiles": len(tiles), "tile_shape": list(tiles[0].shape)}
    return {**facts, "value_bytes": value_bytes, "encode_ms": encode_ms, "decode_ms": decode_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiles", type=Path, default=default_tiles(), help="ImageFolder of tiles (class sub-folders)")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes of each loader, after one warm-up pass")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts to measure")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "tile_loading.json")
    args = parser.parse_args()
    # One intra-op thread, as in DataLoader workers: on a busy 2-core machine, torch's thread pool
    # made collating a batch 10× slower for every loader, which measured the machine, not the loaders.
    torch.set_num_threads(1)
    load_at_start = os.getloadavg()

    loaders: dict[str, Dataset] = {
        "ImageFolder+ToTensor": datasets.ImageFolder(args.tiles, transform=transforms.ToTensor()),
        "ImageFolder+PILToTensor": datasets.ImageFolder(args.tiles, transform=transforms.PILToTensor()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for image_format in IMAGE_FORMATS:
            workspace = Workspace(Path(tmp) / image_format)
            import_tiles(args.tiles, workspace, image_format=image_format)
            index = read_tile_index(workspace.tile_index)
            loaders[f"TileStore ({image_format})"] = TileDataset(workspace.tile_store, index)
            sizes[image_format] = store_bytes(workspace.tile_store, index["key"].tolist())
        real_slide = real_slide_formats(Path(tmp))
        by_workers = {w: interleaved_rates(loaders, w, args.rounds) for w in args.workers}
    results = {name: {f"workers_{w}": by_workers[w][name] for w in args.workers} for name in loaders}

    baseline = {
        f"workers_{w}": max(by_workers[w][n] for n in loaders if n.startswith("ImageFolder")) for w in args.workers
    }
    ratios = {
        name: {w: round(results[name][w] / baseline[w], 2) for w in baseline} for name in results if "TileStore" in name
    }
    default = f"TileStore ({TilingConfig().image_format})"
    folder = loaders["ImageFolder+ToTensor"]
    report = {
        "tiles": len(folder),
        "folder": str(args.tiles),
        "batch_size": BATCH,
        "rounds": args.rounds,
        "default_format": TilingConfig().image_format,
        "images_per_second": results,
        "ratio_vs_best_imagefolder": ratios,
        "bytes_per_tile": sizes,
        "folder_bytes_per_tile": round(statistics.mean(Path(p).stat().st_size for p, _ in folder.samples)),
        "real_slide_tiles": real_slide,
        "bar": BAR,
        "goal": GOAL,
        "default_meets_bar": all(r >= BAR for r in ratios[default].values()),
        "default_meets_goal": all(r >= GOAL for r in ratios[default].values()),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "load_average_at_start": [round(x, 2) for x in load_at_start],
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
