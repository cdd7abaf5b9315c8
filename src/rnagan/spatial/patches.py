"""Patches around spot centres: a field of view in µm, cut at a chosen µm per pixel, optionally jittered.

The first patch of a spot is centred on it; the others are shifted by up to ``jitter_um`` in x and y
(seeded), so a spot yields several views of its own tissue and nothing of a neighbour's (spots of legacy
ST arrays are 200 µm apart, Visium spots 100 µm). Every patch carries its spot's sample id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from rnagan.config import SpatialConfig
from rnagan.spatial.section import Section, check_on_image


@dataclass(frozen=True)
class PatchGeometry:
    """How patches are cut around each spot: resolution, field of view, copies and their jitter.

    ``PatchGeometry.from_config(cfg.spatial)`` takes them from the ``spatial`` config section.
    """

    mpp: float = 1.0  # µm per pixel of the stored patch
    fov_um: float = 100.0  # side of the patch in µm (a legacy ST spot is 100 µm across)
    patches_per_spot: int = 1
    jitter_um: float = 15.0  # largest shift of the extra patches from the spot centre, in x and in y
    seed: int = 0

    @classmethod
    def from_config(cls, spatial: SpatialConfig) -> PatchGeometry:
        return cls(spatial.mpp, spatial.fov_um, spatial.patches_per_spot, spatial.jitter_um, spatial.seed)

    @property
    def size(self) -> int:
        """Side of the stored patch in pixels."""
        return max(1, round(self.fov_um / self.mpp))

    def reach_px(self, image_mpp: float) -> float:
        """Half the largest extent a patch may need around its spot centre, in image pixels."""
        extra = self.jitter_um if self.patches_per_spot > 1 else 0.0
        return (self.fov_um / 2 + extra) / image_mpp + 1


@dataclass(frozen=True)
class Patch:
    spot: str
    index: int  # 0: centred; 1..: jittered
    x: int  # image px of the top-left corner (makes the tile key)
    y: int
    pixels: np.ndarray  # (size, size, 3) uint8


def spot_offsets(geometry: PatchGeometry, n_spots: int) -> np.ndarray:
    """(n_spots, patches_per_spot, 2) shifts in µm: zero for the first patch, uniform ±jitter for the rest."""
    rng = np.random.default_rng(geometry.seed)
    offsets = rng.uniform(-geometry.jitter_um, geometry.jitter_um, size=(n_spots, geometry.patches_per_spot, 2))
    offsets[:, 0] = 0.0
    return offsets


def cut_patches(section: Section, geometry: PatchGeometry) -> Iterator[Patch]:
    """Every patch of every spot, in spot order; refuses spots whose patches would leave the image."""
    check_on_image(section, geometry.reach_px(section.mpp))
    side = geometry.fov_um / section.mpp  # image px covered by one patch
    pixels = max(1, round(side))
    offsets = spot_offsets(geometry, len(section.spots)) / section.mpp
    centres = section.spots[["pixel_x", "pixel_y"]].to_numpy(float)
    for s, spot in enumerate(section.spots.index):
        corners: set[tuple[int, int]] = set()
        for k in range(geometry.patches_per_spot):
            cx, cy = centres[s] + offsets[s, k]
            x, y = round(cx - side / 2), round(cy - side / 2)
            while (x, y) in corners:  # two draws rounded to one corner: move the copy a pixel (keys stay unique)
                x += 1 if cx >= centres[s, 0] else -1
            corners.add((x, y))
            region = section.image.read(x, y, pixels, pixels)
            yield Patch(str(spot), k, x, y, resize(region, geometry.size))


def resize(region: np.ndarray, size: int) -> np.ndarray:
    """Square RGB array resampled to ``size`` px (Lanczos: antialiased when shrinking)."""
    if region.shape[0] == size and region.shape[1] == size:
        return np.ascontiguousarray(region)
    return np.asarray(Image.fromarray(np.ascontiguousarray(region)).resize((size, size), Image.Resampling.LANCZOS))
