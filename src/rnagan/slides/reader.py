"""Whole-slide images behind one small interface: pyramid geometry, µm per pixel, region reads.

Coordinates: ``location`` arguments are always **level-0 pixels** (the scan's full resolution),
sizes are pixels **of the level read**, as in OpenSlide. Every read returns an RGB uint8 array
(H, W, 3); transparent pixels (outside the scanned area) become the slide's background colour.

OpenSlide (``openslide-python`` + ``openslide-bin``) reads SVS, NDPI, MRXS, SCN, generic tiled
TIFF and, since OpenSlide 4, DICOM. Where it refuses a DICOM folder or file, ``wsidicom`` opens it::

    with open_slide("GTEX-1117F-0126.svs") as slide:
        slide.mpp                       # 0.4942 µm/px at level 0
        slide.read_region((0, 0), 0, (256, 256))
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
from PIL import Image

from rnagan.errors import SlideError

SLIDE_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".mrxs", ".scn", ".vms", ".vmu", ".svslide", ".bif", ".dcm")

# Scanners report e.g. 0.499 or 0.2527 µm/px for a nominal 0.5 or 0.25: resampling a tile by less
# than this relative amount would only blur it, so such a level is read as if it were exact.
MPP_TOLERANCE = 0.03


class SlideReader(ABC):
    """A whole-slide image opened for reading. Subclasses wrap one library each."""

    path: Path
    level_dimensions: tuple[tuple[int, int], ...]  # (width, height) in pixels of each level
    level_downsamples: tuple[float, ...]  # level-0 pixels per pixel of each level
    mpp: float | None  # µm per level-0 pixel, None when the file does not say
    objective_power: float | None  # scanning magnification (20, 40), None when unknown
    background: tuple[int, int, int] = (255, 255, 255)

    @property
    def slide_id(self) -> str:
        """The file name without its extension: ``GTEX-1117F-0126.svs`` → ``GTEX-1117F-0126``."""
        return self.path.stem if self.path.suffix else self.path.name

    @property
    def dimensions(self) -> tuple[int, int]:
        """(width, height) of level 0 in pixels."""
        return self.level_dimensions[0]

    @abstractmethod
    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """RGB uint8 (h, w, 3) of ``size`` level pixels whose top-left is ``location`` (level-0 px)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> SlideReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def best_level_for_downsample(self, downsample: float) -> int:
        """The smallest level whose downsample is at most ``downsample`` (with the MPP tolerance).

        Reading there and shrinking never upsamples, so no detail is invented.
        """
        best = 0
        for level, level_downsample in enumerate(self.level_downsamples):
            if level_downsample <= downsample * (1 + MPP_TOLERANCE):
                best = level
        return best

    def _flatten(self, rgba: np.ndarray) -> np.ndarray:
        """RGBA (premultiplied, as OpenSlide returns it) → RGB on the background colour."""
        rgb = np.ascontiguousarray(rgba[..., :3])
        alpha = rgba[..., 3]
        if alpha.min() < 255:  # only at the scanned area's edge: keep the common case cheap
            rgb[alpha == 0] = self.background
        return rgb


class OpenSlideReader(SlideReader):
    """A slide read with OpenSlide."""

    def __init__(self, path: Path) -> None:
        import openslide

        self.path = path
        try:
            self._slide = openslide.OpenSlide(str(path))
        except openslide.OpenSlideUnsupportedFormatError:
            raise
        except (openslide.OpenSlideError, OSError) as err:
            raise SlideError(f"OpenSlide cannot open {path}: {err}") from None
        props = self._slide.properties
        self.level_dimensions = tuple(self._slide.level_dimensions)
        self.level_downsamples = tuple(float(d) for d in self._slide.level_downsamples)
        self.mpp = _positive_float(props.get(openslide.PROPERTY_NAME_MPP_X))
        self.objective_power = _positive_float(props.get(openslide.PROPERTY_NAME_OBJECTIVE_POWER))
        colour = props.get(openslide.PROPERTY_NAME_BACKGROUND_COLOR)
        if colour and len(colour) == 6:
            self.background = tuple(int(colour[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[assignment]

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        import openslide

        try:
            region = self._slide.read_region(location, level, size)
        except openslide.OpenSlideError as err:
            raise SlideError(f"cannot read {size} px at {location} level {level} of {self.path}: {err}") from None
        return self._flatten(np.asarray(region))

    def close(self) -> None:
        self._slide.close()


class DicomReader(SlideReader):
    """A DICOM WSI (a folder of instances or one file) read with wsidicom."""

    def __init__(self, path: Path) -> None:
        from wsidicom import WsiDicom

        self.path = path
        try:
            self._slide = WsiDicom.open(path)
        except Exception as err:  # wsidicom raises many unrelated types for a non-DICOM input
            raise SlideError(f"wsidicom cannot open {path}: {err}") from None
        levels = self._slide.pyramid.levels
        base_width = levels[0].size.width
        self._levels = [level.level for level in levels]  # wsidicom names levels by log2(downsample)
        self.level_dimensions = tuple((lv.size.width, lv.size.height) for lv in levels)
        self.level_downsamples = tuple(base_width / lv.size.width for lv in levels)
        try:
            self.mpp = float(self._slide.mpp.width)
        except Exception:  # no pixel spacing in the file
            self.mpp = None
        self.objective_power = None

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        downsample = self.level_downsamples[level]
        at_level = (int(location[0] / downsample), int(location[1] / downsample))
        try:
            region = self._slide.read_region(at_level, self._levels[level], size)
        except Exception as err:
            raise SlideError(f"cannot read {size} px at {location} level {level} of {self.path}: {err}") from None
        return np.asarray(region.convert("RGB"))

    def close(self) -> None:
        self._slide.close()


def open_slide(path: str | Path) -> SlideReader:
    """Open a whole-slide image with OpenSlide, or with wsidicom where OpenSlide refuses a DICOM."""
    import openslide

    path = Path(path)
    if not path.exists():
        raise SlideError(f"slide {path} does not exist")
    try:
        return OpenSlideReader(path)
    except openslide.OpenSlideUnsupportedFormatError:
        if not is_dicom(path):
            raise SlideError(
                f"OpenSlide does not recognise {path}: it is corrupt, truncated or not a whole-slide image "
                f"(supported: {', '.join(SLIDE_SUFFIXES)}; DICOM folders through wsidicom)"
            ) from None
    except SlideError:
        if not is_dicom(path):
            raise
    try:
        return DicomReader(path)
    except SlideError:
        raise SlideError(
            f"neither OpenSlide nor wsidicom can read the DICOM {path}: it is damaged, truncated or not a "
            "whole-slide image (VL Whole Slide Microscopy); convert the scan again, e.g. with wsidicomizer"
        ) from None


def is_dicom(path: Path) -> bool:
    """A DICOM folder, a ``.dcm`` file, or any file with the DICOM preamble (``DICM`` at byte 128)."""
    if path.is_dir() or path.suffix.lower() == ".dcm":
        return True
    with path.open("rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"


def resolve_mpp(slide: SlideReader, assume_mpp: float | None = None) -> float:
    """µm per level-0 pixel: the file's value, else ``assume_mpp``, else a :class:`SlideError`.

    A tile size in pixels means nothing without it: a 40× and a 20× scan would give tiles of
    different physical size, which a model trained on one would misread.
    """
    if slide.mpp is not None:
        return slide.mpp
    if slide.objective_power is not None:
        return 10.0 / slide.objective_power  # the usual convention: 20× ≈ 0.5 µm/px
    if assume_mpp is not None:
        return assume_mpp
    raise SlideError(
        f"{slide.path} has no µm-per-pixel or magnification metadata: pass --assume-mpp "
        "(e.g. 0.25 for a 40× scan, 0.5 for 20×), or set tiling.assume_mpp"
    )


def read_downsampled(slide: SlideReader, downsample: float, *, chunk: int = 512) -> np.ndarray:
    """The whole slide as RGB at ``downsample`` level-0 px per output pixel, read in chunks.

    Reads from the best pyramid level in pieces of ``chunk`` output pixels, so memory holds the
    output plus one piece, never a whole high-resolution level (a one-level 100k px scan is fine).
    """
    width0, height0 = slide.dimensions
    out_w, out_h = max(1, math.ceil(width0 / downsample)), max(1, math.ceil(height0 / downsample))
    level = slide.best_level_for_downsample(downsample)
    level_downsample = slide.level_downsamples[level]
    level_w, level_h = slide.level_dimensions[level]
    scale = downsample / level_downsample  # level pixels per output pixel
    out = np.empty((out_h, out_w, 3), dtype=np.uint8)
    for oy in range(0, out_h, chunk):
        for ox in range(0, out_w, chunk):
            ow, oh = min(chunk, out_w - ox), min(chunk, out_h - oy)
            lx, ly = int(ox * scale), int(oy * scale)
            lw = max(1, min(math.ceil(ow * scale), level_w - lx))
            lh = max(1, min(math.ceil(oh * scale), level_h - ly))
            region = slide.read_region((int(lx * level_downsample), int(ly * level_downsample)), level, (lw, lh))
            if (lw, lh) != (ow, oh):
                region = np.asarray(Image.fromarray(region).resize((ow, oh), Image.Resampling.BOX))
            out[oy : oy + oh, ox : ox + ow] = region
    return out


def _positive_float(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number > 0 else None
