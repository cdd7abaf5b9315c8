"""docs/img/perturbation_bundled.png: one held-out profile moved along each learned direction, same noise.

Rows: the directions toward each lung tissue (learned from the bundled generators' training μ, as
``rnagan generate --direction lung_aca=-2,-1,0,1,2`` learns them) and the seeded random control;
columns: doses -2, -1, 0, +1, +2 spreads; every tile of a row block shares one noise draw, so what
changes along a row is the edit alone. Two blocks: a benign (lung_n) and an adenocarcinoma (lung_aca)
held-out profile. Run from the repo root::

    python docs/scripts/perturbation_figure.py
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from rnagan.datasets.lc25000 import CLASSES
from rnagan.demo.bundle import BUNDLE, LATENTS, SAMPLES, bundle_directions, bundled_generator
from rnagan.directions import RANDOM
from rnagan.pairing import read_latents
from rnagan.workspace import read_samples

DOSES = (-2.0, -1.0, 0.0, 1.0, 2.0)
PROFILE_TISSUES = ("lung_n", "lung_aca")
OUT = Path(__file__).resolve().parents[1] / "img" / "perturbation_bundled.png"


def main() -> None:
    samples = read_samples(BUNDLE / SAMPLES)
    test = samples[samples["split"] == "test"]
    latents = read_latents(BUNDLE / LATENTS)
    directions = bundle_directions([*CLASSES, RANDOM])
    generator = bundled_generator("rnagan")
    noise = generator.sample_noise(1, 0).repeat(len(DOSES), 1)
    rows = []
    for tissue in PROFILE_TISSUES:
        profile = sorted(test.index[test["tissue"] == tissue])[0]
        mu = latents.loc[[profile]].to_numpy()
        for direction in directions.values():
            moved = torch.cat([torch.from_numpy(direction.shift(mu, dose)) for dose in DOSES])
            rows.append(generator.generate_from_noise(moved, noise))
    grid = make_grid(torch.cat(rows).float() / 255, nrow=len(DOSES), padding=2, pad_value=1.0)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.nn.functional.interpolate(grid[None], scale_factor=2, mode="nearest")[0], OUT)
    print(OUT)


if __name__ == "__main__":
    main()
