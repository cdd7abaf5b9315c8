"""docs/img/image_stage_real.png and image_stage_generated.png: what the shipped image stage does, at full size.

- ``image_stage_real.png``: per tissue, held-out LC25000 tiles (the bundled run's test samples) at 224 px;
  each row is the real tile | it at 64 px (as the conditional GAN sees tiles, shown with nearest
  neighbours) | back to 224 px by bicubic | by the image stage (×4 to 256 px, then antialiased to 224).
- ``image_stage_generated.png``: per tissue, real held-out tiles at 224 px above tiles the bundled ``rnagan``
  generator draws from held-out profiles at 64 px, lifted by the image stage and resized to 224 px.

Run from the repo root::

    python docs/scripts/image_stage_figure.py
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.utils import make_grid, save_image

from rnagan.datasets.lc25000 import CLASSES, load_lc25000
from rnagan.demo.bundle import BUNDLE, SAMPLES, bundled_draws
from rnagan.evaluate.features import read_image
from rnagan.image.sample import BUNDLED, load_upsampler, upsample_tiles
from rnagan.slides.augment import resize_tiles
from rnagan.workspace import read_samples

PER_TISSUE = 2  # real tiles per tissue in the lifting figure
GENERATED_COLUMNS = 4  # real and generated tiles per tissue in the generated figure
IMG = Path(__file__).resolve().parents[1] / "img"


def _nearest(tiles: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(tiles.float(), size=(size, size), mode="nearest").to(torch.uint8)


def _held_out(tissue: str, n: int) -> torch.Tensor:
    test = read_samples(BUNDLE / SAMPLES).query("split == 'test' and tissue == @tissue")
    tiles = load_lc25000(include_augmented=False)
    chosen = tiles[tiles["sample_id"].isin(sorted(test.index)[:n])]
    return torch.stack([read_image(p) for p in chosen["path"]])


def real_figure(upsampler: torch.nn.Module) -> Path:
    rows = []
    for tissue in CLASSES:
        real = _held_out(tissue, PER_TISSUE)
        size = real.shape[-1]
        low = resize_tiles(real, 64)
        bicubic = F.interpolate(low.float(), size=(size, size), mode="bicubic", align_corners=False)
        lifted = resize_tiles(upsample_tiles(upsampler, low), size)
        for i in range(len(real)):
            rows += [real[i], _nearest(low[i : i + 1], size)[0], bicubic[i].round().clamp(0, 255).byte(), lifted[i]]
    return _save(rows, 4, IMG / "image_stage_real.png")


def generated_figure(upsampler: torch.nn.Module) -> Path:
    """Per tissue, a row of real held-out tiles at 224 px over a row of the bundled rnagan generator's tiles from
    held-out profiles, drawn at 64 px, lifted by the image stage and resized to 224 px: the lung demo's output."""
    test = read_samples(BUNDLE / SAMPLES).query("split == 'test'")
    rows = []
    for tissue in CLASSES:
        real = _held_out(tissue, GENERATED_COLUMNS)
        profiles = sorted(test.index[test["tissue"] == tissue])[:GENERATED_COLUMNS]
        lifted = resize_tiles(upsample_tiles(upsampler, bundled_draws("rnagan", profiles)), real.shape[-1])
        rows += [*real, *lifted]
    return _save(rows, GENERATED_COLUMNS, IMG / "image_stage_generated.png")


def _save(tiles: list[torch.Tensor], columns: int, out: Path) -> Path:
    grid = make_grid(torch.stack(tiles).float() / 255, nrow=columns, padding=4, pad_value=1.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, out)
    return out


def main() -> None:
    upsampler = load_upsampler(BUNDLED)
    print(real_figure(upsampler))
    print(generated_figure(upsampler))


if __name__ == "__main__":
    main()
