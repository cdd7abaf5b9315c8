"""Nuclei-statistics distance ratio on real LC25000 tiles at 224 px, and on tiles that only look right in colour.

The real tiles are split once (seeded) into two disjoint halves: the *reference* half, and the half that
each condition turns into a stand-in for generated tiles. Every condition is scored by
:func:`rnagan.evaluate.nuclei.nuclei_distance` (generated vs reference, over reference half vs
reference half at the same n) on the nuclei statistics, and, beside it, the same ratio on colour
statistics (per-tile mean and sd of R, G, B), to show which of the two each change moves:

- ``real``: the other half as it is (the ratio should be ≈ 1; ``real_ratio_other_splits`` gives it
  for 20 further random splits of the same tiles, the spread a ratio of 1 carries at this n);
- ``upsampled_64px``: those tiles taken down to 64 px (Lanczos) and bicubic back up to 224 px;
- ``blur_2px``: Gaussian blur, σ = 2 px;
- ``stain_noise``: each tile's own pixels shuffled: the same colours, no shapes;
- ``paler_haematoxylin`` / ``darker_haematoxylin``: the stains rescaled in colour-deconvolution
  space (haematoxylin ×0.6 and eosin ×1.5, or ×1.5 and ×0.7) and recomposed: new colours, same shapes.

µm/px: LC25000 states no magnification. Red blood cells (7–8 µm across) measure ~7 px in the 224 px
tiles, so the tiles are taken as 1.0 µm/px (a 224 µm field)::

    python benchmarks/nuclei.py                       # all 740 unique tiles
    python benchmarks/nuclei.py --tiles DIR --n 200   # any folder of class sub-folders

Results go to ``benchmarks/results/nuclei.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from skimage.color import hed2rgb, rgb2hed
from skimage.filters import gaussian

from rnagan.datasets.lc25000 import lc25000_dir
from rnagan.evaluate.nuclei import nuclei_distance, nuclei_features

TILES = lc25000_dir()  # the bundled 224 px copy
MPP = 1.0  # µm per pixel of the 224 px LC25000 tiles (see above)
SEED = 0
SPLITS = 20  # further random reference/stand-in splits of the real tiles, for the spread of the real ratio
RESULTS = Path(__file__).parent / "results" / "nuclei.json"
COLOUR = ("r_mean", "g_mean", "b_mean", "r_sd", "g_sd", "b_sd")


def unique_tiles(root: Path) -> list[Path]:
    """The one-per-source-image tiles listed in ``labels.csv`` (augmented copies left out)."""
    table = pd.read_csv(root / "labels.csv")
    column = "file" if "file" in table else "path"  # the bundled copy's labels.csv, or the source copy's
    return [root / p for p in table.loc[table["subset"] == "unique", column]]


def load(paths: list[Path]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def upsampled_64px(paths: list[Path], size: int) -> np.ndarray:
    """Each tile taken down to 64 px (Lanczos) and bicubic back up to ``size``: what a 64 px generator could show."""
    small = [Image.open(p).convert("RGB").resize((64, 64), Image.Resampling.LANCZOS, reducing_gap=3.0) for p in paths]
    return np.stack([np.asarray(s.resize((size, size), Image.Resampling.BICUBIC)) for s in small])


def blur(tiles: np.ndarray) -> np.ndarray:
    return (
        np.stack([gaussian(t, sigma=2, channel_axis=-1, preserve_range=True) for t in tiles]).round().astype(np.uint8)
    )


def stain_noise(tiles: np.ndarray, seed: int) -> np.ndarray:
    """Each tile's pixels in a random order: its colour histogram exactly, none of its shapes."""
    rng = np.random.default_rng(seed)
    flat = tiles.reshape(len(tiles), -1, 3)
    return np.stack([f[rng.permutation(len(f))] for f in flat]).reshape(tiles.shape)


def restain(tiles: np.ndarray, haematoxylin: float, eosin: float) -> np.ndarray:
    """Stain amounts rescaled in colour-deconvolution space and recomposed to RGB: new colours, same shapes."""
    hed = rgb2hed(tiles) * np.array([haematoxylin, eosin, 1.0])
    return (hed2rgb(hed) * 255).round().astype(np.uint8)


def colour_features(tiles: np.ndarray) -> pd.DataFrame:
    """Per-tile mean and sd of R, G, B: the statistics a stain-matched generator gets right."""
    x = tiles.reshape(len(tiles), -1, 3).astype(np.float64)
    return pd.DataFrame(np.concatenate([x.mean(1), x.std(1)], 1), columns=list(COLOUR))


def split_spread(features: pd.DataFrame, splits: int) -> list[float]:
    """Real-vs-real ratio over other random reference/stand-in splits of the same tiles: the spread around 1."""
    ratios = []
    for seed in range(1, splits + 1):
        order = np.random.default_rng(seed).permutation(len(features))
        reference, other = features.iloc[order[: len(order) // 2]], features.iloc[order[len(order) // 2 :]]
        ratios.append(round(nuclei_distance(reference, other, seed=seed)["ratio"], 3))
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", type=Path, default=TILES, help="folder with labels.csv (file/path, subset)")
    parser.add_argument("--n", type=int, help="use only this many tiles (seeded draw) [default: all unique]")
    parser.add_argument("--mpp", type=float, default=MPP)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    paths = unique_tiles(args.tiles)
    paths = [paths[i] for i in rng.permutation(len(paths))[: args.n]]
    reference, other = paths[: len(paths) // 2], paths[len(paths) // 2 :]
    ref_tiles, other_tiles = load(reference), load(other)
    start = time.perf_counter()
    ref_nuclei = nuclei_features(ref_tiles, args.mpp)
    seconds_per_tile = (time.perf_counter() - start) / len(ref_tiles)
    ref_colour = colour_features(ref_tiles)
    conditions: dict[str, Callable[[], np.ndarray]] = {
        "real": lambda: other_tiles,
        "upsampled_64px": lambda: upsampled_64px(other, ref_tiles.shape[1]),
        "blur_2px": lambda: blur(other_tiles),
        "stain_noise": lambda: stain_noise(other_tiles, SEED),
        "paler_haematoxylin": lambda: restain(other_tiles, 0.6, 1.5),
        "darker_haematoxylin": lambda: restain(other_tiles, 1.5, 0.7),
    }
    results, found_by = {}, {}
    for name, make in conditions.items():
        tiles = make()
        found = found_by[name] = nuclei_features(tiles, args.mpp)
        nuclei = nuclei_distance(ref_nuclei, found, seed=SEED)
        colour = nuclei_distance(ref_colour, colour_features(tiles), seed=SEED, features=COLOUR)
        results[name] = {
            "nuclei": nuclei,
            "colour_ratio": colour["ratio"],
            "nuclei_per_tile_median": float(found["count"].median()),
        }
        print(
            f"{name:>20}  nuclei ratio {nuclei['ratio']:7.2f}  colour ratio {colour['ratio']:7.2f}"
            f"  n {nuclei['n_per_side']} a side"
        )
    spread = split_spread(pd.concat([ref_nuclei, found_by["real"]], ignore_index=True), SPLITS)
    print(f"real, {SPLITS} other splits: ratio {min(spread):.2f}–{max(spread):.2f}")
    record = {
        "tiles": str(args.tiles),
        "tile_px": int(ref_tiles.shape[1]),
        "mpp": args.mpp,
        "n_tiles": len(paths),
        "n_reference": len(reference),
        "n_generated": len(other),
        "seed": SEED,
        "reference_nuclei_per_tile_median": float(ref_nuclei["count"].median()),
        "seconds_per_tile": round(seconds_per_tile, 4),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "conditions": results,
        "real_ratio_other_splits": spread,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
