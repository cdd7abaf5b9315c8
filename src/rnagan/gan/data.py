"""The GAN's paired data: every tile of a training sample, carrying that sample's VAE latent μ.

What differs from the published code, and why:

- batches are drawn from one **seeded permutation** per epoch (of all tiles, or of one tile per
  sample with ``gan.balance: sample``), so every batch mixes slides and tissues; the
  published loader was unshuffled and slide-ordered, so a batch held one slide, which (with its
  per-batch standardisation) erased the expression signal;
- the cap on tiles per sample is drawn **with the run's seed** and recorded (published: unseeded;
  :mod:`rnagan.pairing`);
- the order is a pure function of (seed, epoch, position), so ``--resume`` continues the same order;
- augmentation (:func:`rnagan.slides.augment.augment`: flips, 90° rotations, mild colour jitter)
  runs on the batch in the training process, on the training device, with the global RNG that the
  checkpoint saves.

Tiles are stored uint8 at ``image_size`` (resized with antialiasing once when read); small cohorts
are held in memory whole, which on two CPU cores saves a PNG/JPEG decode per tile per step.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import Dataset

from rnagan.slides.augment import resize_tiles
from rnagan.slides.dataset import TileDataset

log = logging.getLogger(__name__)


class PairedTileDataset(Dataset):
    """Item i → (tile uint8 (3, S, S), latent row index). μ itself is looked up on the device."""

    def __init__(self, store_path: Path, tiles: pd.DataFrame, image_size: int, *, cache_mb: float = 0) -> None:
        self.tiles = TileDataset(store_path, tiles)
        self.rows = torch.as_tensor(tiles["row"].to_numpy())
        self.image_size = image_size
        self.cache: torch.Tensor | None = None
        if len(tiles) * 3 * image_size**2 <= cache_mb * 2**20:
            self.cache = torch.stack([self._load(i) for i in range(len(tiles))])  # (N, 3, S, S) uint8

    def _load(self, i: int) -> torch.Tensor:
        return resize_tiles(self.tiles[i], self.image_size)  # (3, S, S) uint8

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        tile = self.cache[i] if self.cache is not None else self._load(i)
        return tile, self.rows[i]
