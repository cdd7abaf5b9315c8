"""Synthetic H&E slides with known regions, written as pyramidal TIFFs with tifffile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

GLASS = (242, 240, 244)
EOSIN = (226, 140, 192)
HAEMATOXYLIN = (110, 70, 160)
FAINT = (234, 214, 230)  # barely stained tissue: ~0.05 optical density in green
PENS = {"blue": (70, 95, 200), "green": (80, 165, 110), "red": (215, 70, 80)}

# Regions of the synthetic slide, in level-0 px (x0, y0, x1, y1) of a 2048 × 1536 image.
TISSUE_BOX = (128, 128, 1024, 1408)
FAINT_BOX = (1280, 128, 1920, 640)
PEN_BOXES = {"blue": (1216, 896, 1920, 960), "green": (1216, 1088, 1920, 1152), "red": (1216, 1280, 1920, 1344)}


def synthetic_he(width: int = 2048, height: int = 1536, *, pens: bool = True, seed: int = 0) -> np.ndarray:
    """An H&E-like RGB image: textured tissue with nuclei, a faint region, pen strokes, glass."""
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), dtype=np.float32)
    image[:] = GLASS
    image += rng.normal(0, 2, image.shape)

    def fill(box: tuple[int, int, int, int], colour: tuple[int, int, int], texture: float) -> None:
        x0, y0, x1, y1 = box
        shape = (y1 - y0, x1 - x0)
        coarse = rng.normal(0, 1, (shape[0] // 16 + 1, shape[1] // 16 + 1, 1))
        field = np.repeat(np.repeat(coarse, 16, 0), 16, 1)[: shape[0], : shape[1]]
        image[y0:y1, x0:x1] = np.asarray(colour, np.float32) + texture * field + rng.normal(0, 4, (*shape, 3))

    fill(TISSUE_BOX, EOSIN, 12)
    x0, y0, x1, y1 = TISSUE_BOX
    nuclei = rng.random(((y1 - y0) // 4, (x1 - x0) // 4)) < 0.08  # 4 × 4 px nuclei, 8 % of the area
    nuclei = np.repeat(np.repeat(nuclei, 4, 0), 4, 1)
    image[y0:y1, x0:x1][nuclei] = HAEMATOXYLIN
    fill(FAINT_BOX, FAINT, 6)
    if pens:
        for name, box in PEN_BOXES.items():
            fill(box, PENS[name], 6)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_pyramid(path: Path, image: np.ndarray, *, mpp: float | None, levels: int = 3) -> Path:
    """A tiled, uncompressed pyramidal TIFF (each level half the previous) OpenSlide reads as generic TIFF."""
    with tifffile.TiffWriter(path) as tif:
        level = image
        for i in range(levels):
            extra = {}
            if mpp is not None:
                pixels_per_cm = 1e4 / (mpp * 2**i)
                extra = {"resolution": (pixels_per_cm, pixels_per_cm), "resolutionunit": "CENTIMETER"}
            tif.write(level, tile=(128, 128), photometric="rgb", compression=None, subfiletype=1 if i else 0, **extra)
            h, w = level.shape[0] // 2 * 2, level.shape[1] // 2 * 2
            level = level[:h, :w].reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3)).astype(np.uint8)
    return path
