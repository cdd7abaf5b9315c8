"""Nuclei statistics of H&E tiles: a morphology check that matching the stain colour cannot pass.

FID, KID and the colour probes can be fooled by tiles that have the right hues in the right
amounts; pathologists read nuclei. Each tile is segmented training-free:

1. colour deconvolution (Ruifrok & Johnston, ``skimage.color.rgb2hed``) → haematoxylin optical
   density, smoothed with a Gaussian of ``SMOOTH_UM`` (JPEG blocks and chromatin texture);
2. nuclei = pixels above the Otsu threshold of the tile's haematoxylin (its top 0.5 % clipped, so
   a few saturated pixels cannot drag it), never below ``MIN_NUCLEUS_OD``. Otsu per tile, not a
   fixed value, because it scales with the stain: a paler or darker haematoxylin moves the
   threshold with it (measured on LC25000: per-tile Otsu 0.04–0.09, ×0.6 and ×1.5 when the stain
   is rescaled so), so the shapes, not the stain strength, decide the nuclei;
3. holes below ``HOLE_UM2`` filled (vesicular nuclei have pale centres), a distance-transform
   watershed (``peak_local_max`` seeds at least ``SEED_UM`` apart) splits touching nuclei;
4. objects below ``MIN_AREA_UM2`` removed.

Every length is in µm and turned into pixels with the tile's µm/px, so one rule serves 64, 224 and
256 px tiles. Per tile: nucleus density (per 10,000 µm² of tile; no fixed optical density
separates LC25000's lavender background from pale tissue, so no tissue mask is attempted), mean and
median area (µm²), eccentricity, solidity, the nuclei's haematoxylin density, its contrast with the
rest of the tile (1 − elsewhere / nuclei), the edge sharpness (haematoxylin gradient on the nucleus outline over that
step, per µm) and the chromatin texture (haematoxylin sd / mean within each nucleus). The last
three are ratios, so a uniformly darker or paler stain leaves them unchanged, while blur does not.
:func:`nuclei_distance` compares two sets of tiles and scales the distance by the distance between
two disjoint halves of the real tiles at the same n, the yardstick of the FID ratio::

    real = nuclei_features(real_tiles, mpp=0.5)
    fake = nuclei_features(generated_tiles, mpp=0.5)
    nuclei_distance(real, fake, seed=0)["ratio"]   # ≈ 1: as close as real tiles are to each other
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError
from scipy.stats import wasserstein_distance
from skimage.color import rgb2hed
from skimage.feature import peak_local_max
from skimage.filters import threshold_otsu
from skimage.morphology import remove_small_holes
from skimage.segmentation import find_boundaries, watershed
from tqdm import tqdm

SMOOTH_UM = 1.0  # Gaussian σ on the haematoxylin channel
MIN_NUCLEUS_OD = 0.02  # haematoxylin floor: Otsu on an even, nucleus-free tile must not invent nuclei
HOLE_UM2 = 15.0  # pale nuclear centres up to this size are filled
SEED_UM = 4.0  # watershed seeds at least this far apart: closer seeds cut elongated nuclei in pieces
MIN_AREA_UM2 = 12.0  # smaller objects are debris or noise (a lymphocyte nucleus is ~30 µm²)
AREA_UNIT_UM2 = 10_000.0  # density is nuclei per this much tile

FEATURES: tuple[str, ...] = (
    "density",
    "area_mean",
    "area_median",
    "eccentricity",
    "solidity",
    "haematoxylin",
    "haematoxylin_contrast",
    "edge_sharpness",
    "chromatin_cv",
)
# The distance leaves out "haematoxylin", the absolute stain density in nuclei: it is a colour, and
# a stain that is merely darker or paler than the real tiles' must not count as wrong morphology.
DISTANCE_FEATURES: tuple[str, ...] = tuple(f for f in FEATURES if f != "haematoxylin")


def nuclei_features(tiles: np.ndarray | Iterable[np.ndarray], mpp: float) -> pd.DataFrame:
    """One row per tile: the nucleus count and the :data:`FEATURES` (NaN where a tile has no nuclei).

    ``tiles``: uint8 (N, H, W, 3), or any iterable of (H, W, 3) uint8 arrays (read lazily);
    ``mpp``: µm per pixel of the tiles as given.
    """
    if mpp <= 0:
        raise ValueError(f"mpp must be > 0, got {mpp}")
    total = len(tiles) if isinstance(tiles, Sequence | np.ndarray) else None
    rows = [
        _tile_row(np.asarray(tile), mpp)
        for tile in tqdm(tiles, total=total, desc="nuclei", unit="tile", leave=False, disable=None)
    ]
    return pd.DataFrame(rows, columns=["count", *FEATURES])


def segment_nuclei(tile: np.ndarray, mpp: float) -> np.ndarray:
    """Labelled nuclei of one (H, W, 3) uint8 tile: int (H, W), 0 where there is none."""
    return _segment(_haematoxylin(tile), mpp)[0]


def _haematoxylin(tile: np.ndarray) -> np.ndarray:
    """Haematoxylin optical density; RGB floored at 1/255 so saturated black pixels stay finite."""
    if tile.ndim != 3 or tile.shape[-1] != 3:
        raise ValueError(f"a tile must be (H, W, 3) RGB, got shape {tile.shape}")
    return rgb2hed(np.maximum(tile.astype(np.float64), 1.0) / 255.0)[..., 0]


def _segment(raw: np.ndarray, mpp: float) -> tuple[np.ndarray, np.ndarray]:
    """Labelled nuclei and the smoothed haematoxylin they were thresholded on."""
    haem = ndimage.gaussian_filter(raw, SMOOTH_UM / mpp)
    mask = haem > _threshold(haem)
    mask = remove_small_holes(mask, max_size=round(HOLE_UM2 / mpp**2))
    return _split(mask, mpp), haem


def _threshold(haem: np.ndarray) -> float:
    """Otsu of the tile's haematoxylin, outliers above the 99.5th percentile clipped, floored at ``MIN_NUCLEUS_OD``."""
    values = np.minimum(haem, np.percentile(haem, 99.5))
    if values.min() == values.max():
        return np.inf
    return max(float(threshold_otsu(values)), MIN_NUCLEUS_OD)


def _split(mask: np.ndarray, mpp: float) -> np.ndarray:
    """Distance-transform watershed: one seed per local maximum of the distance to the background.

    Peaks are found over the whole tile at once (per component, skimage loops in Python); a
    component whose peaks all lost to a neighbour's gets one seed at its own maximum.
    """
    distance = ndimage.distance_transform_edt(mask)
    components, n_components = ndimage.label(mask)
    seeds = peak_local_max(
        distance, min_distance=max(1, round(SEED_UM / mpp)), labels=mask.astype(np.uint8), exclude_border=False
    )
    seeded = np.zeros(n_components + 1, dtype=bool)
    seeded[components[tuple(seeds.T)]] = True
    unseeded = np.flatnonzero(~seeded[1:]) + 1
    if len(unseeded):
        extra = np.array(ndimage.maximum_position(distance, components, unseeded), dtype=np.intp).reshape(-1, 2)
        seeds = np.concatenate([seeds.reshape(-1, 2), extra])
    markers = np.zeros(mask.shape, dtype=np.int32)
    markers[tuple(seeds.T)] = np.arange(1, len(seeds) + 1)
    labels = watershed(-distance, markers, mask=mask)
    small = np.bincount(labels.ravel()) < MIN_AREA_UM2 / mpp**2
    small[0] = False
    labels[small[labels]] = 0
    return labels


def _tile_row(tile: np.ndarray, mpp: float) -> dict[str, float]:
    """The per-tile statistics of one tile's segmentation."""
    raw = _haematoxylin(tile)
    labels, haem = _segment(raw, mpp)
    area_px, eccentricity, chromatin = _region_stats(labels, raw)
    row = {"count": float(len(area_px)), "density": len(area_px) / (labels.size * mpp**2) * AREA_UNIT_UM2}
    if len(area_px) == 0:
        return row | {f: np.nan for f in FEATURES if f != "density"}
    area = area_px * mpp**2
    nuclear = float(haem[labels > 0].mean())
    around = labels == 0
    background = float(haem[around].mean()) if around.any() else 0.0
    edge = find_boundaries(labels, mode="inner")
    gradient = np.hypot(*np.gradient(haem)) / mpp
    return row | {
        "area_mean": float(area.mean()),
        "area_median": float(np.median(area)),
        "eccentricity": float(eccentricity.mean()),
        "solidity": float(_solidity(labels, area_px).mean()),
        "haematoxylin": nuclear,
        "haematoxylin_contrast": 1.0 - background / nuclear,
        "edge_sharpness": float(gradient[edge].mean()) / max(nuclear - background, 1e-6),
        "chromatin_cv": float(chromatin.mean()),
    }


def _solidity(labels: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per nucleus, in label order: pixels / pixels a convex hull of them would hold.

    The hull is qhull's over the pixel centres; by Pick's theorem a digitally convex region holds
    A + P/2 + 1 pixels for a hull of area A and perimeter P, so a disc or a square scores ≈ 1
    (a pixel-corner hull would put a disc of 8 px radius at 0.87). Regions of one or two pixels and
    straight lines count as convex. Much faster than ``regionprops``' hull images.
    """
    flat = labels.ravel()
    order = np.argsort(flat, kind="stable")
    order = order[flat[order] > 0]
    points = np.column_stack(np.unravel_index(order, labels.shape)).astype(np.float64)
    hull_pixels = count.copy()
    for i, region in enumerate(np.split(points, np.cumsum(count)[:-1].astype(int))):
        if len(region) < 3:
            continue
        try:
            hull = ConvexHull(region)
        except QhullError:  # collinear pixel centres: a straight line, convex
            continue
        hull_pixels[i] = hull.volume + hull.area / 2 + 1  # in 2-D: volume = area, area = perimeter
    return np.minimum(count / hull_pixels, 1.0)


def _region_stats(labels: np.ndarray, haem: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per nucleus, in label order: pixel count, eccentricity (second moments) and haematoxylin sd / mean.

    One ``bincount`` per moment instead of a Python loop over regions: a 224 px tile has ~100 nuclei.
    """
    flat = labels.ravel()
    size = int(flat.max()) + 1
    count = np.bincount(flat, minlength=size).astype(np.float64)
    keep = count > 0
    keep[0] = False
    n = count[keep]

    def mean(values: np.ndarray) -> np.ndarray:
        return np.bincount(flat, weights=values.ravel(), minlength=size)[keep] / n

    rows, cols = np.indices(labels.shape, dtype=np.float64)
    mr, mc = mean(rows), mean(cols)
    vrr, vcc, vrc = mean(rows**2) - mr**2, mean(cols**2) - mc**2, mean(rows * cols) - mr * mc
    half_trace, root = (vrr + vcc) / 2, np.sqrt(((vrr - vcc) / 2) ** 2 + vrc**2)
    major, minor = half_trace + root, half_trace - root
    eccentricity = np.sqrt(np.clip(1 - minor / np.where(major > 0, major, 1.0), 0.0, 1.0))
    h_mean = mean(haem)
    h_sd = np.sqrt(np.clip(mean(haem**2) - h_mean**2, 0.0, None))
    return n, eccentricity, h_sd / np.maximum(h_mean, 1e-6)


def nuclei_distance(
    real: pd.DataFrame,
    generated: pd.DataFrame,
    *,
    seed: int,
    repeats: int = 20,
    features: Sequence[str] = DISTANCE_FEATURES,
) -> dict[str, object]:
    """Generated-vs-real distance over the real-half-vs-real-half distance at the same n.

    Distance: per feature the 1-D Wasserstein distance between the per-tile values, divided by the
    real tiles' standard deviation, averaged over ``features``. A tile without nuclei scores 0 on
    every nucleus statistic, so a set that lacks nuclei is far rather than skipped. Each repeat
    draws two disjoint real halves A and B of n tiles each and n generated tiles; the ratio is
    mean d(A, generated) / mean d(A, B): ≈ 1 when the generated tiles are as close to real as real
    tiles are to each other, whatever the small-sample bias of n.
    """
    real_x, fake_x = (_matrix(t, features) for t in (real, generated))
    n = min(len(real_x) // 2, len(fake_x))
    if n < 2:
        raise ValueError(f"need >= 4 real and >= 2 generated tiles, got {len(real_x)} and {len(fake_x)}")
    scale = real_x.std(axis=0, ddof=1)
    scale[scale == 0] = 1.0
    rng = np.random.default_rng(seed)
    to_fake, to_real = np.zeros((repeats, len(features))), np.zeros((repeats, len(features)))
    for r in range(repeats):
        order = rng.permutation(len(real_x))
        half_a, half_b = real_x[order[:n]], real_x[order[n : 2 * n]]
        drawn = fake_x[rng.choice(len(fake_x), n, replace=False)]
        to_fake[r] = _wasserstein(half_a, drawn) / scale
        to_real[r] = _wasserstein(half_a, half_b) / scale
    distance, real_half = float(to_fake.mean()), float(to_real.mean())
    return {
        "distance": distance,
        "real_half_distance": real_half,
        "ratio": distance / real_half if real_half > 0 else float("inf"),
        "per_feature": dict(zip(features, (to_fake.mean(0) / to_real.mean(0)).round(3).tolist(), strict=True)),
        "n_real": len(real_x),
        "n_generated": len(fake_x),
        "n_per_side": n,
        "repeats": repeats,
    }


def _matrix(table: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """The features as a float (N, F) array, a missing statistic (no nuclei) as 0."""
    return table.loc[:, list(features)].to_numpy(dtype=np.float64, na_value=0.0)


def _wasserstein(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-column 1-D Wasserstein distance between two (n, F) samples."""
    return np.array([wasserstein_distance(a[:, j], b[:, j]) for j in range(a.shape[1])])
