"""Tissue masks: the paper's and ours, on the real slide and on synthetic pen marks and faint tissue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from synthetic import FAINT_BOX, PEN_BOXES, TISSUE_BOX, synthetic_he

from rnagan.slides.reader import open_slide, read_downsampled
from rnagan.slides.tissue import is_low_contrast, tissue_mask

DOWNSAMPLE = 8  # 4 µm per mask pixel at 0.5 µm/px


@pytest.fixture(scope="module")
def synthetic_small() -> np.ndarray:
    image = Image.fromarray(synthetic_he())
    return np.asarray(image.resize((image.width // DOWNSAMPLE, image.height // DOWNSAMPLE), Image.Resampling.BOX))


def _fraction(mask: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = (v // DOWNSAMPLE for v in box)
    return float(mask[y0:y1, x0:x1].mean())


def test_default_mask_drops_pen_keeps_faint_tissue(synthetic_small: np.ndarray) -> None:
    mask = tissue_mask(synthetic_small, 0.5 * DOWNSAMPLE, "default")
    assert _fraction(mask, TISSUE_BOX) > 0.99
    assert _fraction(mask, FAINT_BOX) > 0.8
    for colour, box in PEN_BOXES.items():
        assert _fraction(mask, box) == 0.0, colour


def test_reference_mask_takes_pen_for_tissue_and_misses_faint(synthetic_small: np.ndarray) -> None:
    """The paper's method, documented as a weakness: saturated ink passes, faint tissue does not."""
    mask = tissue_mask(synthetic_small, 0.5 * DOWNSAMPLE, "reference")
    assert _fraction(mask, TISSUE_BOX) > 0.99
    assert _fraction(mask, FAINT_BOX) < 0.2
    assert all(_fraction(mask, box) > 0.9 for box in PEN_BOXES.values())


def test_blank_glass_has_no_tissue() -> None:
    rng = np.random.default_rng(0)
    glass = np.clip(rng.normal(241, 2, (200, 300, 3)), 0, 255).astype(np.uint8)
    assert not tissue_mask(glass, 8.0, "default").any()


def test_masks_agree_on_the_real_slide(real_slide: Path) -> None:
    with open_slide(real_slide) as slide:
        small = read_downsampled(slide, 16)
    ours, reference = tissue_mask(small, 0.499 * 16, "default"), tissue_mask(small, 0.499 * 16, "reference")
    assert 0.25 < ours.mean() < 0.6
    overlap = (ours & reference).sum() / reference.sum()
    assert overlap > 0.9  # ours covers what the paper's covers (and the faint strands it misses)


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match="unknown tissue method 'otsu'"):
        tissue_mask(np.zeros((4, 4, 3), np.uint8), 8.0, "otsu")


def test_low_contrast(real_slide: Path) -> None:
    flat = np.full((64, 64, 3), 230, np.uint8)
    assert is_low_contrast(flat)
    with open_slide(real_slide) as slide:
        assert not is_low_contrast(slide.read_region((1000, 1500), 0, (256, 256)))
