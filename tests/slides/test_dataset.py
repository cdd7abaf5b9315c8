"""TileDataset over the store (multi-worker DataLoaders) and slides.augment."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from rnagan.slides.augment import augment, random_flips
from rnagan.slides.dataset import TileDataset, read_tile_index
from rnagan.slides.store import TileStore
from rnagan.workspace import Workspace

# Four workers on purpose (each must reopen the store), however many cores run the tests: torch warns below four.
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create 4 worker processes:UserWarning")


def test_four_worker_dataloader_reads_every_tile(real_workspace: Workspace) -> None:
    index = read_tile_index(real_workspace.tile_index)
    dataset = TileDataset(real_workspace.tile_store, index)
    first = dataset[0]  # opened in this process first: forked workers must reopen, not reuse it
    loader = DataLoader(dataset, batch_size=8, num_workers=4, persistent_workers=False)
    batches = list(loader)
    tiles = torch.cat(batches)
    assert tiles.shape == (len(index), 3, 256, 256) and tiles.dtype == torch.uint8
    with TileStore(real_workspace.tile_store) as store:
        last = torch.from_numpy(store.get(index["key"].iloc[-1]).copy()).permute(2, 0, 1)
    assert torch.equal(tiles[-1], last) and torch.equal(tiles[0], first)


def test_augmentation_keeps_shape_and_flips_keep_pixels(real_workspace: Workspace) -> None:
    index = read_tile_index(real_workspace.tile_index).head(1)
    plain = TileDataset(real_workspace.tile_store, index)[0]
    torch.manual_seed(0)
    flipped = random_flips(plain[None].expand(8, -1, -1, -1))
    assert all(torch.equal(f.flatten().sort().values, plain.flatten().sort().values) for f in flipped)
    assert any(not torch.equal(f, plain) for f in flipped)
    batch = augment(plain[None].expand(4, -1, -1, -1), flips=True, jitter=0.05)
    assert batch.shape == (4, *plain.shape) and batch.dtype == torch.float32 and batch.abs().max() <= 1
    same = TileDataset(real_workspace.tile_store, index, augment=lambda t: t.flip(-1))[0]
    assert torch.equal(same, plain.flip(-1))
