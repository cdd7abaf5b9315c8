"""A toy cohort for the flow: two tissues with distinct latents and distinct tile colours (32 px).

``alpha`` tiles are pink with dark dots, ``beta`` tiles blue with stripes; each sample's μ sits at
+1.5 or -1.5 on the first half of its dimensions, plus N(0, 0.5²).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnagan.slides.store import TileStore, encode_tile, tile_key
from rnagan.workspace import Workspace

TISSUES = ("alpha", "beta")


def toy_tile(tissue: str, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if tissue == "alpha":
        image = np.broadcast_to(np.array([235, 160, 190], np.float32), (size, size, 3)).copy()
        for _ in range(8):
            cy, cx = rng.uniform(0, size, 2)
            image[(yy - cy) ** 2 + (xx - cx) ** 2 < 4] = [90, 40, 120]
    else:
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * yy / 10 + rng.uniform(0, 2 * np.pi))
        image = np.array([110, 90, 185], np.float32) * (0.6 + 0.4 * stripes[..., None])
    return np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)


def make_toy_cohort(ws: Workspace, *, per_tissue: int = 6, held_out: int = 2, tiles: int = 4, dim: int = 8) -> None:
    """Write tiles/store.lmdb, tiles/index.parquet, vae/latents.parquet, expression/samples.csv."""
    rng = np.random.default_rng(0)
    ws.create()
    samples, index, latents, pixels = [], [], [], []
    for t, tissue in enumerate(TISSUES):
        centroid = np.where(np.arange(dim) < dim // 2, 1.5 if t == 0 else -1.5, 0.0)
        for i in range(per_tissue + held_out):
            sid = f"{tissue}-{i:02d}"
            samples.append(
                {"sample_id": sid, "donor_id": sid, "tissue": tissue, "split": "train" if i < per_tissue else "val"}
            )
            latents.append([sid, *(centroid + rng.normal(0, 0.5, dim))])
            for j in range(tiles):
                key = tile_key(f"slide-{sid}", j * 32, 0)
                pixels.append((key, encode_tile(toy_tile(tissue, rng))))
                index.append(
                    {
                        "key": key,
                        "slide_id": f"slide-{sid}",
                        "sample_id": sid,
                        "x": j * 32,
                        "y": 0,
                        "level": 0,
                        "mpp": 0.5,
                        "tissue_fraction": 1.0,
                        "label": tissue,
                    }
                )
    with TileStore(ws.tile_store, readonly=False) as store:
        store.put_many(pixels)
    pd.DataFrame(index).to_parquet(ws.tile_index)
    ws.vae.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(latents, columns=["sample_id", *[f"mu_{k}" for k in range(dim)]]).set_index("sample_id")
    frame.astype("float32").to_parquet(ws.latents)
    pd.DataFrame(samples).to_csv(ws.samples_table, index=False)
