"""docs/img/nuclei_overlay.png: real H&E tiles with the outlines of the nuclei the nuclei statistics measure.

Top row: tiles as they are; bottom row: the same tiles with each segmented nucleus outlined (yellow),
so a reader can judge the segmentation behind :mod:`rnagan.evaluate.nuclei`. Tiles: LC25000 lung at
224 px (the shared copy; the first two per class), at 1:1 (1.0 µm/px, see benchmarks/nuclei.py).
Run from the repo root::

    python docs/scripts/nuclei_figure.py [--tiles DIR] [--mpp 1.0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.segmentation import find_boundaries

from rnagan.datasets.lc25000 import lc25000_dir
from rnagan.evaluate.nuclei import segment_nuclei

TILES = lc25000_dir()  # the bundled 224 px copy
PER_CLASS = 2
OUT = Path(__file__).resolve().parents[1] / "img" / "nuclei_overlay.png"


def overlay(tile: np.ndarray, mpp: float) -> np.ndarray:
    """The tile with each nucleus outlined in yellow."""
    labels = segment_nuclei(tile, mpp)
    out = tile.astype(np.float64)
    out[find_boundaries(labels, mode="inner")] = (255, 230, 0)
    return out.astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", type=Path, default=TILES, help="folder with one sub-folder of tiles per class")
    parser.add_argument("--mpp", type=float, default=1.0, help="µm per pixel of the tiles")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    classes = sorted(p for p in args.tiles.iterdir() if p.is_dir() and not p.name.endswith("_extra"))
    paths = [p for c in classes for p in sorted(c.glob("*.jp*g"))[:PER_CLASS]]
    tiles = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    grid = np.concatenate([np.concatenate(tiles, 1), np.concatenate([overlay(t, args.mpp) for t in tiles], 1)], 0)
    image = Image.fromarray(grid)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out, optimize=True)
    print(args.out, ", ".join(p.name for p in paths))


if __name__ == "__main__":
    main()
