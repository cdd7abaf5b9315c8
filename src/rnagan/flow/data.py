"""The flow's training tiles: the GAN's pairing (:func:`rnagan.pairing.pair_tiles`), resized once and held
in memory as uint8. Batches come from :class:`rnagan.batches.EpochBatchSampler`, as the GAN's do."""

from __future__ import annotations

import pandas as pd
import torch

from rnagan.slides.augment import resize_tiles
from rnagan.slides.dataset import TileDataset
from rnagan.workspace import Workspace


def load_tiles(workspace: Workspace, tiles: pd.DataFrame, size: int) -> torch.Tensor:
    """Every listed tile, resized with antialiasing: uint8 (N, 3, size, size)."""
    store = TileDataset(workspace.tile_store, tiles)
    return torch.stack([resize_tiles(store[i], size) for i in range(len(store))])
