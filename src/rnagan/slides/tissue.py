"""Tissue masks on a low-resolution RGB image of a slide, and the per-tile contrast test.

Two methods, chosen by ``tiling.tissue_method``:

``reference``
    The paper's (``patch_gen_grid.get_mask_image``): background is where R, G and B are all above
    their own Otsu threshold; tissue is not-background **and** HSV saturation above its Otsu
    threshold **and** R, G, B > 50; then 3 dilations and 3 erosions (cross element). Pen ink is
    saturated and dark, so it passes as tissue; on a slide that is mostly tissue the Otsu
    thresholds split the tissue itself and drop its paler half.

``default`` (ours)
    1. Background colour: the median of the brightest pixels (tinted glass and scanner white
       balance are measured, not assumed), white when the slide holds no bright glass.
    2. Tissue score: optical density relative to that background (the stain amount, which the
       Beer–Lambert law makes additive), max over R, G, B. The threshold is Otsu's, clipped to
       ``[OD_FLOOR, OD_CEILING]`` = ``[0.02, 0.05]``: the ceiling keeps faint tissue when Otsu lands
       between pale and dense tissue, the floor keeps glass noise out when the whole image is tissue
       (small slides).
    3. Ink removed: H&E absorbs green at least as much as red (eosin and haematoxylin both do),
       so pixels that absorb clearly more red than green are blue or green pen; red pen has
       as much blue as green absorption; black pen is dark and grey. Only ink objects of at least
       :data:`INK_MIN_UM2` count: a pen stroke is large, a dark nucleus seen at high resolution is not.
    4. Sizes in µm, not pixels: closing, hole filling and the smallest kept object are set in
       micrometres through the mask's µm per pixel, so a small slide and a big one are cleaned
       alike.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi
from skimage.color import rgb2hsv
from skimage.exposure import is_low_contrast as _skimage_is_low_contrast
from skimage.filters import threshold_otsu
from skimage.morphology import disk, remove_small_holes, remove_small_objects

OD_FLOOR, OD_CEILING = 0.02, 0.05  # bounds of the optical-density threshold (log10 units)
CLOSING_UM = 16.0  # bridge gaps in tissue narrower than this
MIN_OBJECT_UM2 = 5_000.0  # drop specks smaller than ~70 × 70 µm (dust, debris)
MAX_HOLE_UM2 = 20_000.0  # fill lumens and tears smaller than ~140 × 140 µm
INK_MIN_UM2 = 10_000.0  # pen strokes are wide and long; smaller "ink" is a dark nucleus or dense eosin
INK_DILATION_UM = 24.0  # ink has a halo of lighter ink around each stroke


def reference_tissue_mask(rgb: np.ndarray) -> np.ndarray:
    """The paper's tissue mask of an RGB uint8 image (True = tissue); see the module docstring."""
    background = np.ones(rgb.shape[:2], dtype=bool)
    for channel in range(3):
        values = rgb[..., channel]
        background &= values > _otsu(values)
    saturation = rgb2hsv(rgb)[..., 1]
    mask = ~background & (saturation > _otsu(saturation)) & np.all(rgb > 50, axis=-1)
    mask = ndi.binary_dilation(mask, iterations=3)
    return ndi.binary_erosion(mask, iterations=3)


def default_tissue_mask(rgb: np.ndarray, mpp: float) -> np.ndarray:
    """Our tissue mask of an RGB uint8 image at ``mpp`` µm per pixel (True = tissue)."""
    density = optical_density(rgb, background_colour(rgb))
    score = density.max(axis=-1)
    threshold = float(np.clip(_otsu(score), OD_FLOOR, OD_CEILING))
    mask = score > threshold
    ink = _remove_small_objects(ink_mask(rgb, density), INK_MIN_UM2 / mpp**2)
    if ink.any():
        ink = ndi.binary_dilation(ink, structure=_disk(INK_DILATION_UM / mpp))
        mask &= ~ink
    mask = _closing(mask, _disk(CLOSING_UM / mpp))
    mask = _fill_small_holes(mask, MAX_HOLE_UM2 / mpp**2)
    return _remove_small_objects(mask, MIN_OBJECT_UM2 / mpp**2)


def tissue_mask(rgb: np.ndarray, mpp: float, method: str = "default") -> np.ndarray:
    """The tissue mask of ``method`` (``default`` or ``reference``) of an image at ``mpp`` µm/px."""
    if method == "default":
        return default_tissue_mask(rgb, mpp)
    if method == "reference":
        return reference_tissue_mask(rgb)
    raise ValueError(f"unknown tissue method {method!r}: use 'default' or 'reference'")


def background_colour(rgb: np.ndarray) -> np.ndarray:
    """Glass colour: median RGB of the brightest 5 % of pixels, if they are bright enough to be glass."""
    brightness = rgb.sum(axis=-1, dtype=np.int32)
    cutoff = np.percentile(brightness, 95)
    colour = np.median(rgb[brightness >= cutoff], axis=0)
    if colour.min() < 200:  # no glass in view (a small region of solid tissue): assume white
        return np.array([240.0, 240.0, 240.0])
    return colour.astype(np.float64)


def optical_density(rgb: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Per-channel optical density log10(I0 / I), clipped at 0 (brighter than glass is glass)."""
    transmitted = np.maximum(rgb.astype(np.float32), 1.0) / background.astype(np.float32)
    return np.maximum(-np.log10(transmitted), 0.0)


def ink_mask(rgb: np.ndarray, density: np.ndarray) -> np.ndarray:
    """Pen ink: blue/green (absorbs more red than green), red (no blue left over), black (dark, grey)."""
    od_r, od_g, od_b = density[..., 0], density[..., 1], density[..., 2]
    blue_or_green = (od_r > od_g + 0.12) & (od_r > 0.2)
    red = (od_g > 0.35) & (od_b > 0.7 * od_g) & (od_r < 0.4 * od_g)
    value = rgb.max(axis=-1).astype(np.int16)
    spread = value - rgb.min(axis=-1)
    black = (value < 60) & (spread < 30)
    return blue_or_green | red | black


def is_low_contrast(tile: np.ndarray, fraction_threshold: float = 0.05) -> bool:
    """skimage's test, as the paper (1st–99th percentile grey range below 5 % of the full range)."""
    return bool(_skimage_is_low_contrast(tile, fraction_threshold=fraction_threshold))


def _otsu(values: np.ndarray) -> float:
    if values.size == 0 or values.min() == values.max():  # Otsu is undefined on a flat image
        return float(values.flat[0]) if values.size else 0.0
    return float(threshold_otsu(values))


def _disk(radius_px: float) -> np.ndarray:
    """A disk footprint of ``radius_px`` rounded to whole pixels, at least 1."""
    return disk(max(1, round(radius_px)), dtype=bool)


def _closing(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Binary closing that leaves the image border alone (tissue cut by the slide's edge stays)."""
    radius = structure.shape[0] // 2
    padded = np.pad(mask, radius, mode="edge")
    return ndi.binary_closing(padded, structure=structure)[radius:-radius, radius:-radius]


def _remove_small_objects(mask: np.ndarray, min_area_px: float) -> np.ndarray:
    """Objects (4-connected) of at least ``min_area_px`` pixels kept, smaller ones dropped."""
    return remove_small_objects(mask, max_size=math.ceil(min_area_px) - 1)


def _fill_small_holes(mask: np.ndarray, max_area_px: float) -> np.ndarray:
    """Holes of at most ``max_area_px`` pixels filled; background touching the image edge is no hole."""
    filled = remove_small_holes(mask, max_size=math.floor(max_area_px))
    return mask | (filled & ndi.binary_fill_holes(mask))
