"""Fixtures of the slide tests: synthetic pyramidal TIFFs and the real slide tiled once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthetic import GLASS, synthetic_he, write_pyramid

from rnagan.config import TilingConfig
from rnagan.slides.tiler import tile_slides
from rnagan.workspace import Workspace


@pytest.fixture(scope="session")
def synthetic_slides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``pens`` (0.5 µm/px), ``no_mpp`` (no resolution tags), ``blank`` (glass only), ``fine`` (0.25 µm/px)."""
    folder = tmp_path_factory.mktemp("slides")
    image = synthetic_he()
    blank = np.empty_like(image)
    blank[:] = GLASS
    return {
        "pens": write_pyramid(folder / "pens.tiff", image, mpp=0.5),
        "no_mpp": write_pyramid(folder / "no_mpp.tiff", image, mpp=None),
        "blank": write_pyramid(folder / "blank.tiff", blank, mpp=0.5),
        "fine": write_pyramid(folder / "fine.tiff", image, mpp=0.25),
    }


@pytest.fixture(scope="session")
def real_workspace(tmp_path_factory: pytest.TempPathFactory, real_slide: Path) -> Workspace:
    """The real slide tiled once at 256 px, 0.5 µm/px (the defaults), shared by read-only tests."""
    workspace = Workspace(tmp_path_factory.mktemp("real") / "ws")
    tile_slides([real_slide], workspace, TilingConfig(), workers=1)
    return workspace
