"""Tiles as lazy sets: decoded a batch at a time, so evaluation memory does not grow with the cohort.

A set answers what evaluation asks of a uint8 (N, 3, S, S) tensor (``len``, indexing by a position,
a slice or a list of positions, each answer decoded on demand) while holding only keys or paths.
``chunks`` walks it in order; ``identities`` names each tile's content for the feature cache::

    test = StoreTiles(workspace.tile_store, keys, size=64)
    for positions, batch in test.chunks(512):
        ...
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnagan.evaluate.features import read_image
from rnagan.slides.augment import resize_tiles
from rnagan.slides.store import TileStore

Index = int | slice | Sequence[int] | np.ndarray | torch.Tensor


class TileSet(ABC):
    """Tiles resized to ``size`` (as the GAN resized its training tiles), decoded only when indexed."""

    size: int

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def _load(self, positions: Sequence[int]) -> list[torch.Tensor]:
        """uint8 (3, H, W) tiles at ``positions``, in that order, before resizing."""

    @abstractmethod
    def identities(self, positions: Sequence[int]) -> list[str]:
        """What names the content of each tile: a cached feature is reused only when these match."""

    def __getitem__(self, index: Index) -> torch.Tensor:
        if isinstance(index, int | np.integer):
            return resize_tiles(self._load([int(index)])[0], self.size)
        positions = self.positions(index)
        if not positions:
            return torch.empty(0, 3, self.size, self.size, dtype=torch.uint8)
        return torch.stack([resize_tiles(tile, self.size) for tile in self._load(positions)])

    def positions(self, index: slice | Sequence[int] | np.ndarray | torch.Tensor) -> list[int]:
        """Integer positions of a slice, a boolean mask or a list of positions."""
        if isinstance(index, slice):
            return list(range(len(self))[index])
        array = np.asarray(index.cpu() if isinstance(index, torch.Tensor) else index)
        return np.flatnonzero(array).tolist() if array.dtype == bool else array.astype(int).tolist()

    def spans(self, chunk: int) -> Iterator[list[int]]:
        """Consecutive positions, at most ``chunk`` at a time, in order."""
        for start in range(0, len(self), chunk):
            yield list(range(start, min(start + chunk, len(self))))

    def chunks(self, chunk: int) -> Iterator[tuple[list[int], torch.Tensor]]:
        """(positions, uint8 batch) of at most ``chunk`` tiles, in order."""
        for positions in self.spans(chunk):
            yield positions, self[positions]


@dataclass
class StoreTiles(TileSet):
    """Tiles of the LMDB tile store, by key."""

    store_path: Path
    keys: list[str]
    size: int

    def __len__(self) -> int:
        return len(self.keys)

    def _load(self, positions: Sequence[int]) -> list[torch.Tensor]:
        with TileStore(self.store_path) as store:
            return [torch.from_numpy(np.array(store.get(self.keys[i]))).permute(2, 0, 1) for i in positions]

    def identities(self, positions: Sequence[int]) -> list[str]:
        stat = (self.store_path / "data.mdb").stat()
        return [f"store:{stat.st_size}:{stat.st_mtime_ns}:{self.size}px", *(self.keys[i] for i in positions)]


@dataclass
class FileTiles(TileSet):
    """Image files (a run's generated tiles), by path."""

    paths: list[str]
    size: int

    def __len__(self) -> int:
        return len(self.paths)

    def _load(self, positions: Sequence[int]) -> list[torch.Tensor]:
        return [read_image(self.paths[i]) for i in positions]

    def identities(self, positions: Sequence[int]) -> list[str]:
        return [f"{self.paths[i]}:{Path(self.paths[i]).stat().st_mtime_ns}:{self.size}px" for i in positions]
