"""Torch datasets over the tile store. The LMDB environment is opened lazily, once per worker process."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import Dataset

from rnagan.errors import TileStoreError
from rnagan.slides.store import INDEX_COLUMNS, TileStore
from rnagan.workspace import PAIRING_FILE

__all__ = ["INDEX_COLUMNS", "TileDataset", "read_tile_index"]


def read_tile_index(path: str | Path, *, paired: bool = True) -> pd.DataFrame:
    """The tile index Parquet, checked for the columns every stage relies on.

    With ``paired``, slides listed in the ``pairing.csv`` beside it (written when ``gan train`` pairs
    slides with expression samples: GTEx rules or a mapping file) carry their paired ``sample_id``, so
    every stage reading the index agrees on which sample a tile belongs to.
    """
    path = Path(path)
    if not path.is_file():
        raise TileStoreError(f"no tile index at {path} (run `rnagan tile` or `rnagan tiles import` first)")
    index = pd.read_parquet(path)
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise TileStoreError(f"tile index {path} lacks the columns {missing}")
    pairing_file = path.parent / PAIRING_FILE
    if paired and pairing_file.is_file():
        pairing = pd.read_csv(pairing_file, dtype=str).set_index("slide_id")["sample_id"]
        listed = index["slide_id"].astype(str).isin(pairing.index)
        index.loc[listed, "sample_id"] = index.loc[listed, "slide_id"].astype(str).map(pairing)
    return index


class TileDataset(Dataset):
    """Tiles listed in ``index`` (a DataFrame with a ``key`` column), as uint8 tensors (3, H, W).

    ``augment``, then ``transform``, are optional callables applied to each tile (training loops
    augment whole batches on the device instead: :mod:`rnagan.slides.augment`). Safe with any
    number of DataLoader workers: each opens its own read-only LMDB handle on first use.
    """

    def __init__(
        self,
        store_path: str | Path,
        index: pd.DataFrame,
        *,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if "key" not in index.columns:
            raise TileStoreError("the tile index passed to TileDataset has no 'key' column")
        self.store_path = Path(store_path)
        self.keys = index["key"].astype(str).tolist()
        self.augment = augment
        self.transform = transform
        self._store: TileStore | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def _open(self) -> TileStore:
        # LMDB handles must not cross fork(): reopen in each new process.
        if self._store is None or self._pid != os.getpid():
            self._store = TileStore(self.store_path, readonly=True)
            self._pid = os.getpid()
        return self._store

    def __getitem__(self, i: int) -> torch.Tensor:
        tile = self._open().get(self.keys[i])
        if not tile.flags.writeable:  # raw tiles are views of LMDB's bytes: torch wants its own copy
            tile = tile.copy()
        # Contiguous (3, H, W): collating 64 permuted views costs ~10× more than copying each here.
        # An LZ4 tile's pixels are planar already, so for it the permuted view is contiguous: no copy.
        image = torch.from_numpy(tile).permute(2, 0, 1).contiguous()
        if self.augment is not None:
            image = self.augment(image)
        return self.transform(image) if self.transform is not None else image

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_store"] = None  # an open environment is not picklable (spawn-based workers)
        state["_pid"] = None
        return state
