"""docs/img/perturbation_bundled.png (and perturbation_her2st.png): held-out profiles moved along learned directions.

Rows: the directions toward each lung tissue (learned from the bundled generators' training μ, as
``rnagan generate --direction lung_aca=-2,-1,0,1,2`` learns them) and the seeded random control;
columns: doses -2, -1, 0, +1, +2 spreads; every tile of a row block shares one noise draw, so what
changes along a row is the edit alone. Two blocks: a benign (lung_n) and an adenocarcinoma (lung_aca)
held-out profile. With ``--workspace WS`` (a spatial workspace with an ``rnagan`` run): one held-out spot
moved along the immune, tumour, stroma and adipose directions and the random one, through
``generate_tiles(directions=...)``, into docs/img/perturbation_her2st.png. Run from the repo root::

    python docs/scripts/perturbation_figure.py [--workspace WS]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid, save_image

from rnagan.config import load_config
from rnagan.datasets.her2st import MARKERS
from rnagan.datasets.lc25000 import CLASSES
from rnagan.demo.bundle import BUNDLE, LATENTS, SAMPLES, bundle_directions, bundled_generator
from rnagan.directions import RANDOM
from rnagan.generate import generate_tiles
from rnagan.pairing import read_latents
from rnagan.samples import read_manifest
from rnagan.workspace import Workspace, read_samples

DOSES = (-2.0, -1.0, 0.0, 1.0, 2.0)
PROFILE_TISSUES = ("lung_n", "lung_aca")
IMG = Path(__file__).resolve().parents[1] / "img"


def workspace_rows(ws: Workspace, n_spots: int = 2) -> list[torch.Tensor]:
    """Per held-out spot (the first ``n_spots`` by ID), one row of tiles per direction along the doses, same noise."""
    samples = read_samples(ws)
    spots = sorted(samples.index[samples["split"] == "test"])[:n_spots]
    cfg = load_config(path=ws.config_file)
    cfg.generate.tiles_per_profile = 1
    series = ",".join(f"{d:+g}" for d in DOSES)
    with tempfile.TemporaryDirectory() as tmp:
        edits = [f"{m}={series}" for m in [*MARKERS, RANDOM]]
        generate_tiles(ws, cfg, samples=spots, directions=edits, out=Path(tmp) / "tiles")
        manifest = read_manifest(Path(tmp) / "tiles")
        by_label = manifest.set_index(["base_profile", "perturbation"])["path"]
        return [
            torch.stack([_tile(by_label[(spot, f"{m}={d:+g}sd")]) for d in DOSES])
            for spot in spots
            for m in [*MARKERS, RANDOM]
        ]


def _tile(path: str) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).permute(2, 0, 1)


def bundle_rows() -> list[torch.Tensor]:
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
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=None, help="a spatial workspace with an rnagan run")
    args = parser.parse_args()
    rows = workspace_rows(Workspace(args.workspace)) if args.workspace else bundle_rows()
    out = IMG / ("perturbation_her2st.png" if args.workspace else "perturbation_bundled.png")
    grid = make_grid(torch.cat(rows).float() / 255, nrow=len(DOSES), padding=2, pad_value=1.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.nn.functional.interpolate(grid[None], scale_factor=2, mode="nearest")[0], out)
    print(out)


if __name__ == "__main__":
    main()
