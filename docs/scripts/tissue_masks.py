"""Draws docs/img/masks_*.png: the paper's tissue mask (left) against ours (right).

Run from the repository root: ``python docs/scripts/tissue_masks.py``. The synthetic slide is the
one the tests use (tests/slides/synthetic.py): dense tissue, faint tissue, blue/green/red pen.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from rnagan.slides.reader import open_slide, read_downsampled
from rnagan.slides.tissue import tissue_mask

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "slides"))
from synthetic import synthetic_he  # noqa: E402


def overlay(rgb: np.ndarray, mask: np.ndarray, title: str) -> Image.Image:
    image = rgb.astype(np.float32)
    image[mask] = 0.6 * image[mask] + 0.4 * np.array([0, 200, 0])
    canvas = Image.fromarray(image.astype(np.uint8))
    ImageDraw.Draw(canvas).text((6, 4), title, fill=(0, 0, 0))
    return canvas


def side_by_side(rgb: np.ndarray, mpp: float, path: Path) -> None:
    panels = [
        overlay(rgb, tissue_mask(rgb, mpp, m), f"{m} ({tissue_mask(rgb, mpp, m).mean():.0%} tissue)")
        for m in ("reference", "default")
    ]
    canvas = Image.new("RGB", (panels[0].width * 2 + 8, panels[0].height), "white")
    canvas.paste(panels[0], (0, 0))
    canvas.paste(panels[1], (panels[0].width + 8, 0))
    canvas.save(path)


def main() -> None:
    out = ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    slide_path = Path(str(resources.files("rnagan.datasets") / "data" / "CMU-1-Small-Region.svs"))
    with open_slide(slide_path) as slide:
        side_by_side(read_downsampled(slide, 6), slide.mpp * 6, out / "masks_real_slide.png")
    synthetic = Image.fromarray(synthetic_he())
    small = np.asarray(synthetic.resize((synthetic.width // 4, synthetic.height // 4), Image.Resampling.BOX))
    side_by_side(small, 0.5 * 4, out / "masks_synthetic_pen_faint.png")
    # A small slide that is nearly all tissue: Otsu on it splits tissue from tissue.
    with open_slide(slide_path) as slide:
        crop = slide.read_region((700, 1000), 0, (1000, 1400))
    crop = np.asarray(Image.fromarray(crop).resize((500, 700), Image.Resampling.BOX))
    side_by_side(crop, 0.499 * 2, out / "masks_small_all_tissue.png")


if __name__ == "__main__":
    main()
