"""A toy cohort for the GAN: two tissues with distinct expression latents and distinct tiles.

``alpha`` tiles are pink with small dark dots; ``beta`` tiles are blue-purple with broad stripes.
Each sample's μ sits around its tissue's centroid (+1.5 or -1.5 on the first half of the dimensions).
Tiles are stored at 48 px so the GAN's resize to 32 px runs too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnagan.slides.store import TileStore, encode_tile, tile_key
from rnagan.workspace import Workspace

TISSUES = ("alpha", "beta")


def toy_tile(tissue: str, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if tissue == "alpha":
        base = np.array([235, 160, 190], np.float32) + rng.normal(0, 8, 3)
        image = np.broadcast_to(base, (size, size, 3)).copy()
        for _ in range(12):  # nuclei-like dots
            cy, cx = rng.uniform(0, size, 2)
            dot = (yy - cy) ** 2 + (xx - cx) ** 2 < rng.uniform(2, 6)
            image[dot] = [90, 40, 120]
    else:
        base = np.array([110, 90, 185], np.float32) + rng.normal(0, 8, 3)
        phase, period = rng.uniform(0, 2 * np.pi), rng.uniform(10, 16)
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * yy / period + phase)
        image = base * (0.6 + 0.4 * stripes[..., None])
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_toy_cohort(
    ws: Workspace,
    *,
    train_per_tissue: int = 6,
    held_out_per_tissue: int = 3,
    tiles_per_sample: int = 8,
    latent_dim: int = 8,
    seed: int = 0,
) -> pd.DataFrame:
    """Write tiles/store.lmdb, tiles/index.parquet, vae/latents.parquet, expression/samples.csv."""
    rng = np.random.default_rng(seed)
    ws.create()
    samples, index, latents = [], [], []
    for t, tissue in enumerate(TISSUES):
        centroid = np.zeros(latent_dim, np.float32)
        centroid[: latent_dim // 2] = 1.5 if t == 0 else -1.5
        for i in range(train_per_tissue + held_out_per_tissue):
            sid = f"{tissue}-{i:02d}"
            split = "train" if i < train_per_tissue else "val"
            samples.append({"sample_id": sid, "donor_id": f"d-{sid}", "tissue": tissue, "split": split})
            latents.append([sid, *(centroid + rng.normal(0, 0.5, latent_dim))])
            for j in range(tiles_per_sample):
                index.append(
                    {
                        "key": tile_key(f"slide-{sid}", j * 48, 0),
                        "slide_id": f"slide-{sid}",
                        "sample_id": sid,
                        "x": j * 48,
                        "y": 0,
                        "level": 0,
                        "mpp": 0.5,
                        "tissue_fraction": 1.0,
                        "label": tissue,
                        "_tile": toy_tile(tissue, rng),
                    }
                )
    with TileStore(ws.tile_store, readonly=False) as store:
        store.put_many((row["key"], encode_tile(row.pop("_tile"))) for row in index)
    pd.DataFrame(index).to_parquet(ws.tile_index)
    table = pd.DataFrame(latents, columns=["sample_id", *[f"mu_{k}" for k in range(latent_dim)]])
    for k in range(latent_dim):
        table[f"logvar_{k}"] = -2.0
    ws.vae.mkdir(parents=True, exist_ok=True)
    table.set_index("sample_id").to_parquet(ws.latents)
    samples_df = pd.DataFrame(samples)
    samples_df.to_csv(ws.samples_table, index=False)
    return samples_df
