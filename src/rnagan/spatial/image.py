"""Regions of a section's image, read lazily: OpenSlide for slide formats, PIL (decoded once) otherwise.

A spatial image may be a pyramidal TIFF/SVS of several GB or a plain JPEG/PNG. Slide formats are read
region by region through :func:`rnagan.slides.reader.open_slide`; a plain image cannot be read in
parts, so PIL decodes it once, on the first region asked for, and every patch is cut from that one
array. ``file_mpp`` is the resolution the file itself states where it can be trusted (slide metadata),
else None: JPEG/PNG DPI fields are routinely wrong (her2st's say 72 dpi), so they are never used.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from rnagan.errors import InputFileError, SlideError

SLIDE_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".mrxs", ".scn", ".vms", ".vmu", ".bif", ".svslide")


class RegionReader(Protocol):
    size: tuple[int, int]  # (width, height) in pixels
    file_mpp: float | None  # µm per pixel stated by the file, when trustworthy

    def read(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        """RGB uint8 (height, width, 3) whose top-left corner is pixel (x, y)."""
        ...

    def close(self) -> None:
        """Free decoded pixels or file handles (a later read opens the image again)."""
        ...


class ArrayRegions:
    """An image already in memory (an AnnData ``uns['spatial']`` image)."""

    def __init__(self, pixels: np.ndarray, file_mpp: float | None = None) -> None:
        self.pixels = as_rgb_uint8(pixels)
        self.size = (self.pixels.shape[1], self.pixels.shape[0])
        self.file_mpp = file_mpp

    def read(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        return self.pixels[y : y + height, x : x + width]

    def close(self) -> None:
        pass  # the array belongs to the caller's AnnData


class PilRegions:
    """A plain image file (JPEG, PNG...): size from the header now, pixels decoded once on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file_mpp = None
        self._pixels: np.ndarray | None = None
        with _opened(path) as image:
            self.size = image.size

    def read(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        if self._pixels is None:
            with _opened(self.path) as image:
                self._pixels = np.asarray(image.convert("RGB"))
        return self._pixels[y : y + height, x : x + width]

    def close(self) -> None:
        self._pixels = None  # a full-resolution H&E is ~275 MB decoded


class SlideRegions:
    """A whole-slide format read region by region at level 0 (never decoded whole)."""

    def __init__(self, path: Path) -> None:
        from rnagan.slides.reader import open_slide

        self.slide = open_slide(path)
        self.size = self.slide.dimensions
        self.file_mpp = self.slide.mpp

    def read(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        return self.slide.read_region((x, y), 0, (width, height))

    def close(self) -> None:
        pass  # regions are read on demand: nothing decoded to free, and the handle serves later reads


def open_regions(path: str | Path) -> RegionReader:
    """The reader for ``path``: OpenSlide for slide formats it recognises, PIL for everything else."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"image {path} does not exist")
    if path.suffix.lower() in SLIDE_SUFFIXES:
        try:
            return SlideRegions(path)
        except SlideError:
            pass  # e.g. a flat TIFF OpenSlide does not take: PIL reads it
    return PilRegions(path)


def _opened(path: Path) -> Image.Image:
    """PIL image of ``path``; full-resolution H&E exceeds PIL's decompression-bomb guard, which is lifted here."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                return Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = previous
    except OSError as err:
        raise InputFileError(f"cannot read image {path}: {err}") from None


def as_rgb_uint8(pixels: np.ndarray) -> np.ndarray:
    """RGB uint8 from the float [0, 1] or uint8 arrays (gray, RGB, RGBA) that image readers return."""
    array = np.asarray(pixels)
    if array.dtype.kind == "f":
        array = np.clip(np.rint(array * (255.0 if array.max() <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return np.ascontiguousarray(array[..., :3].astype(np.uint8, copy=False))
