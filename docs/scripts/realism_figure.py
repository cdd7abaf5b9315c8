"""docs/img/realism_bundled.png: real held-out tiles beside the bundled generators' tiles, per tissue.

Rows: for each tissue, real test-split tiles (64 px, resized as training resized them), then tiles the
bundled ``rnagan`` and ``reference`` runs draw from the same held-out profiles' μ, profile i with noise
draw i. Run from the repo root::

    python docs/scripts/realism_figure.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid, save_image

from rnagan.datasets.lc25000 import CLASSES, load_lc25000
from rnagan.demo.bundle import BUNDLE, SAMPLES, bundled_draws
from rnagan.slides.augment import resize_tiles
from rnagan.workspace import read_samples

PER_ROW = 10
OUT = Path(__file__).resolve().parents[1] / "img" / "realism_bundled.png"


def real_tiles(tissue: str, profiles: list[str]) -> torch.Tensor:
    table = load_lc25000(include_augmented=False).set_index("sample_id")
    paths = [table.loc[p, "path"] for p in profiles if p in table.index][:PER_ROW]
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    return resize_tiles(torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2), 64)


def main() -> None:
    samples = read_samples(BUNDLE / SAMPLES)
    test = samples[samples["split"] == "test"]
    rows = []
    for tissue in CLASSES:
        profiles = sorted(test.index[test["tissue"] == tissue])[:PER_ROW]
        rows.append(real_tiles(tissue, profiles))
        rows += [bundled_draws(run, profiles) for run in ("rnagan", "reference")]
    grid = make_grid(torch.cat(rows).float() / 255, nrow=PER_ROW, padding=2, pad_value=1.0)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, OUT)
    print(OUT)


if __name__ == "__main__":
    main()
