"""The flow's training data: each training sample's tiles (capped with the seed) beside its raw μ.

The same join as the GAN's (tile index, latents.parquet, the samples table's train split; slides
renamed by ``tiles/pairing.csv`` when the GAN or a mapping wrote one), read on the layers below so the
two generator families stay independent. Tiles are resized once and held in memory as uint8.
Batches come from one seeded permutation per epoch, a pure function of (seed, position), so a resume
continues the very same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from rnagan.config import FlowConfig
from rnagan.errors import InputFileError
from rnagan.slides.augment import resize_tiles
from rnagan.slides.dataset import TileDataset, read_tile_index
from rnagan.workspace import Workspace, read_samples


@dataclass
class FlowData:
    """``tiles`` (key, sample_id, tissue, row) kept for training; ``latents`` (n_samples, d) raw μ they index."""

    tiles: pd.DataFrame
    sample_ids: list[str]
    latents: torch.Tensor

    @property
    def latent_dim(self) -> int:
        return int(self.latents.shape[1])


def read_mu(workspace: Workspace) -> pd.DataFrame:
    """latents.parquet's ``mu_0..mu_{d-1}`` columns, in order, indexed by sample_id."""
    if not workspace.latents.is_file():
        raise InputFileError(f"no latent table at {workspace.latents} (run `rnagan vae encode` first)")
    table = pd.read_parquet(workspace.latents)
    if "sample_id" in table.columns:
        table = table.set_index("sample_id")
    columns = sorted((c for c in table.columns if str(c).startswith("mu_")), key=lambda c: int(str(c)[3:]))
    if not columns:
        raise InputFileError(f"latent table {workspace.latents} has no mu_* columns")
    mu = table[columns].astype("float32")
    mu.index = mu.index.astype(str)
    return mu


def pair_tiles(workspace: Workspace, config: FlowConfig) -> FlowData:
    """Tiles of training samples that have a latent, at most ``tiles_per_sample`` each (drawn with the seed)."""
    index = read_tile_index(workspace.tile_index)
    index = index.assign(sample_id=index["sample_id"].astype(str))
    mu, samples = read_mu(workspace), read_samples(workspace)
    train = set(samples.index[samples["split"] == "train"])
    paired = sorted(set(index["sample_id"]) & set(mu.index) & train)
    if not paired:
        raise InputFileError(
            f"no training sample has both tiles ({workspace.tile_index}) and a latent ({workspace.latents}): "
            "are the sample IDs spelled the same way?"
        )
    rng = np.random.default_rng(config.seed)
    kept = []
    for _sid, group in index[index["sample_id"].isin(paired)].groupby("sample_id", sort=True):
        if len(group) > config.tiles_per_sample:
            group = group.iloc[np.sort(rng.choice(len(group), config.tiles_per_sample, replace=False))]
        kept.append(group)
    tiles = pd.concat(kept, ignore_index=True)[["key", "sample_id"]]
    tiles["row"] = tiles["sample_id"].map({sid: i for i, sid in enumerate(paired)}).astype("int64")
    tiles["tissue"] = tiles["sample_id"].map(samples["tissue"]).astype(str)
    return FlowData(tiles, paired, torch.from_numpy(mu.loc[paired].to_numpy(copy=True)))


def load_tiles(workspace: Workspace, tiles: pd.DataFrame, size: int) -> torch.Tensor:
    """Every listed tile, resized with antialiasing: uint8 (N, 3, size, size)."""
    store = TileDataset(workspace.tile_store, tiles)
    return torch.stack([resize_tiles(store[i], size) for i in range(len(store))])
