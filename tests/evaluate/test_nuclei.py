"""Nuclei statistics: known discs are counted and sized, and the distance follows shapes, not stain colour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage.color import hed2rgb, rgb2hed
from skimage.draw import disk
from skimage.filters import gaussian

from rnagan.evaluate.nuclei import nuclei_distance, nuclei_features

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


HE224 = Path(__file__).parents[1] / "data" / "he224"
MPP = 1.0  # µm per pixel of the 224 px LC25000 tiles (measured on red blood cells: benchmarks/nuclei.py)


@pytest.fixture(scope="module")
def he224() -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint sets of real tiles, two source images per class each, cut into 112 px quarters (24 a set).

    Quarters give the distance more tiles to compare than 12 files would; the two sets never share
    a source image, so their distance is a real-vs-real one.
    """
    paths = sorted(HE224.glob("*.jpeg"))  # four per class, in class order
    tiles = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
    first = np.arange(len(paths)) % 4 < 2
    return quarters(tiles[first]), quarters(tiles[~first])


def quarters(tiles: np.ndarray) -> np.ndarray:
    half = tiles.shape[1] // 2
    return np.concatenate([tiles[:, r : r + half, c : c + half] for r in (0, half) for c in (0, half)])


def restain(tiles: np.ndarray, haematoxylin: float, eosin: float) -> np.ndarray:
    """New stain amounts in colour-deconvolution space, recomposed to RGB: other colours, the same shapes."""
    hed = rgb2hed(tiles) * np.array([haematoxylin, eosin, 1.0])
    return (hed2rgb(hed) * 255).round().astype(np.uint8)


def blurred(tiles: np.ndarray) -> np.ndarray:
    out = np.stack([gaussian(t, sigma=2, channel_axis=-1, preserve_range=True) for t in tiles])
    return out.round().astype(np.uint8)


def stain_noise(tiles: np.ndarray) -> np.ndarray:
    """Each tile's own pixels in random order: exactly its colours, none of its shapes."""
    rng = np.random.default_rng(0)
    flat = tiles.reshape(len(tiles), -1, 3)
    return np.stack([f[rng.permutation(len(f))] for f in flat]).reshape(tiles.shape)


def colour(tiles: np.ndarray) -> pd.DataFrame:
    x = tiles.reshape(len(tiles), -1, 3).astype(np.float64)
    return pd.DataFrame(np.concatenate([x.mean(1), x.std(1)], 1), columns=COLOUR)


COLOUR = ["r_mean", "g_mean", "b_mean", "r_sd", "g_sd", "b_sd"]


@pytest.fixture(scope="module")
def measured(he224: tuple[np.ndarray, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nuclei and colour statistics of the reference tiles, computed once."""
    return nuclei_features(he224[0], MPP), colour(he224[0])


@pytest.fixture(scope="module")
def changed(
    he224: tuple[np.ndarray, np.ndarray], measured: tuple[pd.DataFrame, pd.DataFrame]
) -> dict[str, tuple[float, float]]:
    """(nuclei, colour) distance ratio against the reference tiles of those tiles unchanged and changed one way each."""
    reference = he224[0]
    changes = {
        "none": reference,
        "darker_stain": restain(reference, 1.5, 0.7),
        "paler_stain": restain(reference, 0.6, 1.5),
        "blur": blurred(reference),
        "stain_noise": stain_noise(reference),
    }
    real_nuclei, real_colour = measured
    return {
        name: (
            nuclei_distance(real_nuclei, nuclei_features(tiles, MPP), seed=0)["ratio"],
            nuclei_distance(real_colour, colour(tiles), seed=0, features=COLOUR)["ratio"],
        )
        for name, tiles in changes.items()
    }


@pytest.mark.parametrize("change", ["darker_stain", "paler_stain"])
def test_restaining_moves_colour_not_nuclei(changed: dict[str, tuple[float, float]], change: str) -> None:
    """Measured: nuclei 0.71 → 0.73 / 0.78, colour 0.71 → 2.96 / 1.69 (12 quarters a side)."""
    (nuclei, colours), (nuclei_0, colours_0) = changed[change], changed["none"]
    assert nuclei - nuclei_0 < 0.25
    assert colours > 2 * colours_0


def test_blur_and_stain_noise_move_nuclei(changed: dict[str, tuple[float, float]]) -> None:
    """Measured: nuclei 0.71 → 2.56 (blur σ = 2 px) and 9.85 (shuffled pixels, whose colours are unchanged)."""
    nuclei_0, colours_0 = changed["none"]
    assert changed["blur"][0] > 3 * nuclei_0
    assert changed["stain_noise"][0] > 10 * nuclei_0
    assert changed["stain_noise"][1] == pytest.approx(colours_0)


def test_real_halves_near_one_and_noise_far(
    he224: tuple[np.ndarray, np.ndarray], measured: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """Other source images of the same classes score ≈ 1 (measured 1.23); their pixels shuffled ≫ 3 (10.2)."""
    other, real = he224[1], measured[0]
    assert 0.5 < nuclei_distance(real, nuclei_features(other, MPP), seed=0)["ratio"] < 2.0
    assert nuclei_distance(real, nuclei_features(stain_noise(other), MPP), seed=0)["ratio"] > 5.0


def test_distance_reports_n_and_is_seeded(measured: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    real, fake = measured[0], measured[0].iloc[::-1]
    result = nuclei_distance(real, fake.iloc[:10], seed=3)
    assert (result["n_real"], result["n_generated"], result["n_per_side"]) == (24, 10, 10)
    assert result == nuclei_distance(real, fake.iloc[:10], seed=3)
