"""Reading slides: geometry, µm per pixel, chunked low-resolution reads, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnagan.config import TilingConfig
from rnagan.errors import SlideError
from rnagan.slides.reader import open_slide, read_downsampled, resolve_mpp
from rnagan.slides.tiler import tile_geometry


def test_real_slide_geometry_and_region(real_slide: Path) -> None:
    with open_slide(real_slide) as slide:
        assert slide.slide_id == "CMU-1-Small-Region"
        assert slide.dimensions == (2220, 2967)
        assert slide.mpp == pytest.approx(0.499)
        region = slide.read_region((1000, 1000), 0, (64, 32))
    assert region.shape == (32, 64, 3) and region.dtype == np.uint8


def test_synthetic_pyramid_levels_and_mpp(synthetic_slides: dict[str, Path]) -> None:
    with open_slide(synthetic_slides["pens"]) as slide:
        assert slide.level_dimensions == ((2048, 1536), (1024, 768), (512, 384))
        assert slide.level_downsamples == (1.0, 2.0, 4.0)
        assert slide.mpp == pytest.approx(0.5)


def test_missing_mpp_needs_assume_mpp(synthetic_slides: dict[str, Path]) -> None:
    with open_slide(synthetic_slides["no_mpp"]) as slide:
        with pytest.raises(SlideError, match="no µm-per-pixel or magnification metadata: pass --assume-mpp"):
            resolve_mpp(slide)
        assert resolve_mpp(slide, assume_mpp=0.25) == 0.25


@pytest.mark.parametrize(
    ("mpp", "level", "read_size", "size0"),
    [
        (0.25, 0, 256, 256),  # native resolution
        (0.5, 1, 256, 512),  # 40× → 20×: level 1 read as is, no resampling
        (1.0, 2, 256, 1024),
        (0.75, 1, 384, 768),  # between levels: read the finer one and shrink
        (0.507, 1, 256, 512),  # within the 3 % tolerance: no resampling
    ],
)
def test_tile_geometry_reads_best_level(synthetic_slides: dict[str, Path], mpp, level, read_size, size0) -> None:
    with open_slide(synthetic_slides["fine"]) as slide:
        geometry = tile_geometry(slide, TilingConfig(tile_size=256, mpp=mpp))
    assert (geometry.level, geometry.read_size, geometry.size0) == (level, read_size, size0)


def test_tile_geometry_refuses_upsampling(synthetic_slides: dict[str, Path]) -> None:
    with open_slide(synthetic_slides["pens"]) as slide, pytest.raises(SlideError, match="coarser than the requested"):
        tile_geometry(slide, TilingConfig(mpp=0.25))


def test_read_downsampled_matches_a_whole_read(synthetic_slides: dict[str, Path]) -> None:
    with open_slide(synthetic_slides["pens"]) as slide:
        chunked = read_downsampled(slide, 4.0, chunk=100)  # many chunks, ragged edges
        whole = slide.read_region((0, 0), 2, (512, 384))
    assert chunked.shape == (384, 512, 3)
    np.testing.assert_array_equal(chunked, whole)


@pytest.mark.parametrize("content", [b"", b"not a slide at all\n"])
def test_unreadable_file_is_a_slide_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.svs"
    path.write_bytes(content)
    with pytest.raises(SlideError, match="corrupt, truncated or not a whole-slide image"):
        open_slide(path)


def test_missing_file_is_a_slide_error(tmp_path: Path) -> None:
    with pytest.raises(SlideError, match="does not exist"):
        open_slide(tmp_path / "nope.svs")
