"""Small labelled tile sets whose classes differ in colour and texture, and a workspace built from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from rnagan.samples import MANIFEST, MANIFEST_COLUMNS
from rnagan.slides.store import TileStore, encode_tile
from rnagan.slides.tilesets import TensorTiles
from rnagan.ssl.sources import TileSet
from rnagan.workspace import Workspace


def _tile(label: str, size: int, rng: np.random.Generator) -> torch.Tensor:
    """A pink striped tile (class a) or a purple blob (class b), with noise."""
    yy, xx = np.mgrid[:size, :size]
    if label == "a":
        pattern, base = np.sin(xx / rng.uniform(1.5, 3.0) + rng.uniform(0, 6)) > 0, (220, 120, 160)
    else:
        cy, cx = rng.uniform(0, size, 2)
        pattern, base = (yy - cy) ** 2 + (xx - cx) ** 2 < rng.uniform(20, 80), (120, 80, 170)
    image = np.asarray(base)[:, None, None] * (0.7 + 0.3 * pattern) + rng.normal(0, 12, (3, size, size))
    return torch.from_numpy(image.clip(0, 255).astype(np.uint8))


def make_tiles(groups_per_class: int = 8, size: int = 32, seed: int = 0) -> TileSet:
    """Two classes (pink stripes, purple blobs); every group is a tile and its flipped copy."""
    rng = np.random.default_rng(seed)
    tiles, labels, groups = [], [], []
    for label in ("a", "b"):
        for g in range(groups_per_class):
            tile = _tile(label, size, rng)
            tiles += [tile, tile.flip(-1)]
            labels += [label, label]
            groups += [f"{label}{g}", f"{label}{g}"]
    n = len(tiles)
    return TileSet(TensorTiles(torch.stack(tiles)), np.asarray(labels), np.asarray(groups), np.full(n, "real"))


def make_workspace(root: Path, samples_per_split: int = 6, tiles_per_sample: int = 2, size: int = 32) -> Workspace:
    """A workspace as ``rnagan generate`` leaves one: a tile store of train/val/test samples and samples/rnagan."""
    rng = np.random.default_rng(0)
    ws = Workspace(root).create()
    rows, samples, items = [], [], []
    for split in ("train", "val", "test"):
        for label in ("a", "b"):
            for s in range(samples_per_split):
                sample = f"{split}_{label}{s}"
                samples.append((sample, label, split))
                for t in range(tiles_per_sample):
                    key = f"{sample}/0_{t}"
                    items.append((key, encode_tile(_tile(label, size, rng).permute(1, 2, 0).numpy())))
                    rows.append((key, sample, sample, 0, t, 0, 0.5, 1.0))
    with TileStore(ws.tile_store, readonly=False) as store:
        store.put_many(items)
    columns = ["key", "slide_id", "sample_id", "x", "y", "level", "mpp", "tissue_fraction"]
    pd.DataFrame(rows, columns=columns).to_parquet(ws.tile_index)
    pd.DataFrame(samples, columns=["sample_id", "tissue", "split"]).to_csv(ws.samples_table, index=False)
    _generated(ws.samples_run("rnagan"), size, rng)
    return ws


def _generated(folder: Path, size: int, rng: np.random.Generator, profiles_per_class: int = 8) -> None:
    """``samples/<run>/``: PNG tiles of held-out profiles and their manifest."""
    rows = []
    for label in ("a", "b"):
        for p in range(profiles_per_class):
            path = Path("tiles") / f"{label}{p}.png"
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(_tile(label, size, rng).permute(1, 2, 0).numpy()).save(folder / path)
            rows.append([f"g{label}{p}", f"g{label}{p}", "", "cohort", label, "test", 0, 0, path.as_posix(), ""])
    pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).to_csv(folder / MANIFEST, index=False)
