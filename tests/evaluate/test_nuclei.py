"""Nuclei statistics: known discs are counted and sized, and the distance follows shapes, not stain colour."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import disk

from rnagan.evaluate.nuclei import nuclei_features

PINK = (235, 180, 215)
PURPLE = (90, 40, 140)


def discs(size: int, radius: int, seed: int) -> tuple[np.ndarray, int]:
    """A pink tile with dark-purple discs on a grid, three of them with a touching partner, and JPEG-like noise."""
    tile = np.empty((size, size, 3), np.float64)
    tile[:] = PINK
    step = size // 4
    centres = [(step // 2 + step * i, step // 2 + step * j) for i in range(4) for j in range(4)]
    centres += [(step // 2 + step * i, step // 2 + step * j + 2 * radius - 1) for i, j in [(0, 0), (1, 2), (3, 1)]]
    for centre in centres:
        tile[disk(centre, radius, shape=(size, size))] = PURPLE
    noise = np.random.default_rng(seed).normal(0, 6, tile.shape)
    return np.clip(tile + noise, 0, 255).astype(np.uint8), len(centres)


@pytest.mark.parametrize(("size", "radius", "mpp"), [(256, 8, 0.5), (128, 4, 1.0)])
def test_known_discs_are_counted_and_sized(size: int, radius: int, mpp: float) -> None:
    """The same 4 µm-radius nuclei at two resolutions: touching pairs split, areas in µm² right."""
    tile, k = discs(size, radius, seed=0)
    row = nuclei_features(tile[None], mpp).iloc[0]
    assert abs(row["count"] - k) <= 0.1 * k
    drawn_um2 = np.pi * radius**2 * mpp**2
    assert row["area_mean"] == pytest.approx(drawn_um2, rel=0.15)
    assert row["eccentricity"] < 0.3 and row["solidity"] > 0.9


def test_tile_without_nuclei_has_none() -> None:
    tile = np.full((64, 64, 3), PINK, np.uint8)
    row = nuclei_features([tile], 0.5).iloc[0]
    assert row["count"] == 0 and np.isnan(row["area_mean"])
