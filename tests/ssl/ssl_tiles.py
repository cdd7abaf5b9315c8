"""A small labelled tile set whose classes differ in colour and texture, each tile with a flipped twin."""

from __future__ import annotations

import numpy as np
import torch

from rnagan.ssl.sources import TileSet


def make_tiles(groups_per_class: int = 8, size: int = 32, seed: int = 0) -> TileSet:
    """Two classes (pink stripes, purple blobs); every group is a tile and its flipped copy."""
    rng = np.random.default_rng(seed)
    tiles, labels, groups = [], [], []
    yy, xx = np.mgrid[:size, :size]
    for label, base in (("a", (220, 120, 160)), ("b", (120, 80, 170))):
        for g in range(groups_per_class):
            if label == "a":
                pattern = np.sin(xx / rng.uniform(1.5, 3.0) + rng.uniform(0, 6)) > 0
            else:
                cy, cx = rng.uniform(0, size, 2)
                pattern = (yy - cy) ** 2 + (xx - cx) ** 2 < rng.uniform(20, 80)
            image = np.asarray(base)[:, None, None] * (0.7 + 0.3 * pattern) + rng.normal(0, 12, (3, size, size))
            tile = torch.from_numpy(image.clip(0, 255).astype(np.uint8))
            tiles += [tile, tile.flip(-1)]
            labels += [label, label]
            groups += [f"{label}{g}", f"{label}{g}"]
    n = len(tiles)
    return TileSet(torch.stack(tiles), np.asarray(labels), np.asarray(groups), np.full(n, "real"))
