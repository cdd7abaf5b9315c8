"""Lazy tile views for the SSL stages: tiles in memory, a subset and a concatenation of other sets.

They extend :mod:`rnagan.evaluate.tilesets` (tiles of a store by key, image files by path), so a cap,
a draw or a fold's share picks keys and paths, and only the tiles a step indexes are ever decoded::

    pool = Concat([FileTiles(paths, 64), StoreTiles(store, keys, 64)])
    capped = take(pool, np.arange(0, len(pool), 10))  # nothing decoded yet
    batch = capped[[0, 1, 2]]                          # three tiles decoded
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch

from rnagan.evaluate.tilesets import FileTiles, StoreTiles
from rnagan.evaluate.tilesets import TileSet as LazyTiles

__all__ = ["Concat", "FileTiles", "LazyTiles", "StoreTiles", "Subset", "TensorTiles", "take"]


class TensorTiles(LazyTiles):
    """Tiles already in memory, a uint8 (N, 3, S, S) tensor (tests, small generated sets)."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor, self.size = tensor, int(tensor.shape[-1])

    def __len__(self) -> int:
        return len(self.tensor)

    def _load(self, positions: Sequence[int]) -> list[torch.Tensor]:
        return [self.tensor[i] for i in positions]

    def identities(self, positions: Sequence[int]) -> list[str]:
        return [hashlib.sha1(self.tensor[i].numpy().tobytes()).hexdigest() for i in positions]


class Subset(LazyTiles):
    """The tiles of ``base`` at ``positions``, in that order."""

    def __init__(self, base: LazyTiles, positions: np.ndarray) -> None:
        self.base, self.index, self.size = base, np.asarray(positions, dtype=np.int64), base.size

    def __len__(self) -> int:
        return len(self.index)

    def _load(self, positions: Sequence[int]) -> list[torch.Tensor]:
        return self.base._load(self.index[list(positions)].tolist())

    def identities(self, positions: Sequence[int]) -> list[str]:
        return self.base.identities(self.index[list(positions)].tolist())


class Concat(LazyTiles):
    """Several sets of one tile size, end to end; each load goes to the sets that hold the positions."""

    def __init__(self, parts: Sequence[LazyTiles]) -> None:
        sizes = {p.size for p in parts}
        if len(sizes) != 1:
            raise ValueError(f"cannot pool tiles of sizes {sorted(sizes)}")
        self.parts, self.size = list(parts), sizes.pop()
        self.offsets = np.cumsum([0, *(len(p) for p in parts)])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _locate(self, positions: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        where = np.asarray(positions, dtype=np.int64)
        if len(where) and (where.min() < 0 or where.max() >= len(self)):
            raise IndexError(f"tile positions outside 0..{len(self) - 1}")
        part = np.searchsorted(self.offsets, where, side="right") - 1
        return part, where - self.offsets[part]

    def _load(self, positions: Sequence[int]) -> list[torch.Tensor]:
        part, local = self._locate(positions)
        out: list[torch.Tensor] = [torch.empty(0)] * len(part)
        for p in np.unique(part):
            mine = np.flatnonzero(part == p)
            for i, tile in zip(mine, self.parts[p]._load(local[mine].tolist()), strict=True):
                out[i] = tile
        return out

    def identities(self, positions: Sequence[int]) -> list[str]:
        part, local = self._locate(positions)
        return [name for p, i in zip(part, local, strict=True) for name in self.parts[p].identities([int(i)])]


def take(tiles: LazyTiles, positions: np.ndarray | Sequence[int]) -> LazyTiles:
    """A lazy subset; a subset of a subset indexes the base directly."""
    index = np.asarray(positions, dtype=np.int64)
    if isinstance(tiles, Subset):
        return Subset(tiles.base, tiles.index[index])
    return Subset(tiles, index)
