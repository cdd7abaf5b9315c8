"""Training crops for the image stage: random high-resolution crops of real tiles and their low-resolution twins.

A batch is a pure function of (seed, step), as nanoGPT's ``get_batch`` draws from its seed: a resumed run
draws the batches the uninterrupted one would have, and no loader state needs saving. The low-resolution
twin is made as the conditional GAN's training tiles are (:func:`rnagan.slides.augment.resize_tiles`), so
the upsampler learns from inputs shaped like the GAN's outputs.
"""

from __future__ import annotations

import pandas as pd
import torch

from rnagan.errors import InputFileError
from rnagan.slides.augment import random_flips, resize_tiles
from rnagan.slides.dataset import TileDataset, read_tile_index
from rnagan.workspace import Workspace, read_samples


def training_tiles(workspace: Workspace, *, split: str | None = "train") -> pd.DataFrame:
    """The tile index rows the image stage may train on: those of ``split`` samples where the workspace has
    splits (no held-out tile is ever trained on), else every tile (an unpaired store)."""
    index = read_tile_index(workspace.tile_index)
    if split is None or not workspace.samples_table.is_file():
        return index
    splits = read_samples(workspace)["split"]
    chosen = index[index["sample_id"].astype(str).map(splits).eq(split)]
    if chosen.empty:
        raise InputFileError(f"no tile of {workspace.tile_index} belongs to a {split!r} sample of {workspace}")
    return chosen


class CropBatches:
    """``batch(step)`` → (low (B, 3, c/scale, c/scale), high (B, 3, c, c)), float in [-1, 1]."""

    def __init__(
        self, workspace: Workspace, tiles: pd.DataFrame, *, crop_size: int, scale: int, batch_size: int, seed: int
    ) -> None:
        self.tiles = TileDataset(workspace.tile_store, tiles)
        self.crop_size, self.scale, self.batch_size, self.seed = crop_size, scale, batch_size, seed
        side = min(self.tiles[0].shape[-2:])
        if side < crop_size:
            raise InputFileError(
                f"the tiles of {workspace.tile_store} are {side} px, smaller than image.crop_size {crop_size}: "
                "lower image.crop_size or train on larger tiles"
            )

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        picks = torch.randint(len(self.tiles), (self.batch_size,), generator=generator).tolist()
        high = torch.stack([self._crop(self.tiles[i], generator) for i in picks])
        high = random_flips(high, generator=generator)
        low = resize_tiles(high, self.crop_size // self.scale)
        return to_unit(low), to_unit(high)

    def _crop(self, tile: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        height, width = tile.shape[-2:]
        top = int(torch.randint(height - self.crop_size + 1, (1,), generator=generator))
        left = int(torch.randint(width - self.crop_size + 1, (1,), generator=generator))
        return tile[:, top : top + self.crop_size, left : left + self.crop_size]


def to_unit(tiles: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] → float [-1, 1], the networks' range."""
    return tiles.float() / 127.5 - 1.0


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] → uint8 [0, 255]."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
