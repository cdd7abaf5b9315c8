"""Tiles as lazy sets: decoded a batch at a time, so memory does not grow with the cohort.

A set answers what evaluation asks of a uint8 (N, 3, S, S) tensor (``len``, indexing by a position,
a slice or a list of positions, each answer decoded on demand) while holding only keys or paths.
``chunks`` walks it in order; ``identities`` names each tile's content for the feature cache::

    test = StoreTiles(workspace.tile_store, keys, size=64)
    for positions, batch in test.chunks(512):
        ...

Subsets and concatenations stay lazy too (SSL pools, caps and folds), so a cap, a draw or a fold's share
picks keys and paths, and only the tiles a step indexes are ever decoded::

    pool = Concat([FileTiles(paths, 64), StoreTiles(store, keys, 64)])
    capped = take(pool, np.arange(0, len(pool), 10))  # nothing decoded yet
    batch = capped[[0, 1, 2]]                          # three tiles decoded
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rnagan.slides.augment import resize_tiles
from rnagan.slides.store import TileStore

Index = int | slice | Sequence[int] | np.ndarray | torch.Tensor
DECODE_BLOCK = 64  # tiles held at their stored size at once: a 512-tile batch of 256 px tiles read at 64 px
# would otherwise hold 100 MB of pixels it is about to shrink


def read_image(path: str | os.PathLike[str]) -> torch.Tensor:
    """An image file as a uint8 (3, H, W) RGB tensor."""
    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)


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
        blocks = (positions[start : start + DECODE_BLOCK] for start in range(0, len(positions), DECODE_BLOCK))
        return torch.stack([resize_tiles(tile, self.size) for block in blocks for tile in self._load(block)])

    def stored(self, position: int) -> torch.Tensor:
        """The tile at ``position`` as stored, before any resizing: uint8 (3, H, W)."""
        return self._load([position])[0]

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


class TensorTiles(TileSet):
    """Tiles already in memory, a uint8 (N, 3, S, S) tensor (tests, small generated sets)."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor, self.size = tensor, int(tensor.shape[-1])

    def __len__(self) -> int:
        return len(self.tensor)

    def _load(self, positions: Sequence[int]) -> list[torch.Tensor]:
        return [self.tensor[i] for i in positions]

    def identities(self, positions: Sequence[int]) -> list[str]:
        return [hashlib.sha1(self.tensor[i].numpy().tobytes()).hexdigest() for i in positions]


class Subset(TileSet):
    """The tiles of ``base`` at ``positions``, in that order."""

    def __init__(self, base: TileSet, positions: np.ndarray) -> None:
        self.base, self.index, self.size = base, np.asarray(positions, dtype=np.int64), base.size

    def __len__(self) -> int:
        return len(self.index)

    def _load(self, positions: Sequence[int]) -> list[torch.Tensor]:
        return self.base._load(self.index[list(positions)].tolist())

    def identities(self, positions: Sequence[int]) -> list[str]:
        return self.base.identities(self.index[list(positions)].tolist())


class Concat(TileSet):
    """Several sets of one tile size, end to end; each load goes to the sets that hold the positions."""

    def __init__(self, parts: Sequence[TileSet]) -> None:
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


def take(tiles: TileSet, positions: np.ndarray | Sequence[int]) -> TileSet:
    """A lazy subset; a subset of a subset indexes the base directly."""
    index = np.asarray(positions, dtype=np.int64)
    if isinstance(tiles, Subset):
        return Subset(tiles.base, tiles.index[index])
    return Subset(tiles, index)
