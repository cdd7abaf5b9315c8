"""The tile store: one LMDB environment of encoded images, keyed ``slide_id/x_y``.

Values are LZ4-compressed pixels (lossless and fast to decode, the default), PNG, JPEG, or raw
pixels; the pixel formats sit behind a small explicit header (``LZ4_MAGIC``, ``RAW_MAGIC``) —
never pickles — so any tool can read them. Each value says its own format, so a store written in
any of them, or in several, reads the same way. A ``__meta__`` record holds the format version.
Reading is safe from many processes at once; :class:`~rnagan.slides.dataset.TileDataset` opens
the environment lazily in each DataLoader worker.
"""

from __future__ import annotations

import io
import json
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import lmdb
import lz4.block
import numpy as np
from PIL import Image

from rnagan.errors import TileStoreError

META_KEY = b"__meta__"
FORMAT_VERSION = 1
DEFAULT_MAP_SIZE = 1 << 36  # 64 GiB of address space to start; the file is sparse, the map doubles when full
# Columns of tiles/index.parquet (more may follow, e.g. ``label`` from an import). x, y: level-0 px
# of the tile's top-left corner; level: the pyramid level read; mpp: µm per pixel of the stored tile.
INDEX_COLUMNS = ("key", "slide_id", "sample_id", "x", "y", "level", "mpp", "tissue_fraction")


def tile_key(slide_id: str, x: int, y: int) -> str:
    """Stable key of the tile whose top-left corner is (x, y) in level-0 pixels of ``slide_id``."""
    if "/" in slide_id:
        raise TileStoreError(f"slide id {slide_id!r} must not contain '/'")
    return f"{slide_id}/{x}_{y}"


IMAGE_FORMATS = ("lz4", "png", "jpeg", "raw")
# Pixel values: a magic, then height, width, channels as little-endian uint16, then the uint8 pixels:
# raw, H×W×C in C order as they are; lz4, channel-planar C×H×W (torch's layout: a decoded tile
# becomes a (3, H, W) tensor without a transposing copy, which costs more than decoding) compressed
# as one LZ4 block (lz4_Block_format.md; its decoded size is the header's). Any language can read them.
LZ4_MAGIC = b"RNGLZ41\0"
RAW_MAGIC = b"RNGRAW1\0"
_PIXEL_HEADER = struct.Struct("<8sHHH")
_LZ4_MAX_RATIO = 255  # an LZ4 block decodes to at most 255 bytes per byte (a match length grows by 255 a byte)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"


def encode_tile(tile: np.ndarray, image_format: str = "lz4", quality: int = 90) -> bytes:
    """RGB uint8 array (H, W, 3) → LZ4 (header + compressed pixels), PNG, JPEG or raw bytes."""
    if tile.dtype != np.uint8 or tile.ndim != 3 or tile.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got {tile.shape} {tile.dtype}")
    if image_format == "lz4":
        planar = np.ascontiguousarray(tile.transpose(2, 0, 1)).tobytes()
        return _PIXEL_HEADER.pack(LZ4_MAGIC, *tile.shape) + lz4.block.compress(planar, store_size=False)
    if image_format == "raw":
        return _PIXEL_HEADER.pack(RAW_MAGIC, *tile.shape) + np.ascontiguousarray(tile).tobytes()
    buffer = io.BytesIO()
    if image_format == "png":
        Image.fromarray(tile).save(buffer, format="PNG", compress_level=1)
    elif image_format == "jpeg":
        Image.fromarray(tile).save(buffer, format="JPEG", quality=quality)
    else:
        raise ValueError(f"unknown image format {image_format!r}: use one of {', '.join(IMAGE_FORMATS)}")
    return buffer.getvalue()


def decode_tile(data: bytes) -> np.ndarray:
    """LZ4/PNG/JPEG/raw bytes → RGB uint8 array (H, W, 3). The one place tiles are decoded.

    An LZ4 tile comes back as an (H, W, 3) view of its planar pixels (not C-contiguous; numpy, PIL
    and torch take it as it is, and ``torch.from_numpy(t).permute(2, 0, 1)`` is then contiguous).
    A value that is none of these, or whose header does not match its pixels, raises
    :class:`TileStoreError` (one line) rather than returning a wrong tile.
    """
    magic = data[:8]
    if magic in (LZ4_MAGIC, RAW_MAGIC):
        return _decode_pixels(data)
    if not data.startswith((_PNG_SIGNATURE, _JPEG_SIGNATURE)):
        raise TileStoreError(f"corrupt tile value: starts with {bytes(magic)!r}, not an LZ4, raw, PNG or JPEG tile")
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as err:  # PIL's errors for truncated or broken images
        raise TileStoreError(f"corrupt tile value: {err}") from None


def _decode_pixels(data: bytes) -> np.ndarray:
    """An LZ4 or raw value → (H, W, 3) uint8, its header checked against its bytes."""
    if len(data) < _PIXEL_HEADER.size:
        raise TileStoreError(f"corrupt tile value: {len(data)} bytes, shorter than a {_PIXEL_HEADER.size}-byte header")
    magic, height, width, channels = _PIXEL_HEADER.unpack_from(data)
    if channels != 3 or height == 0 or width == 0:
        raise TileStoreError(f"corrupt tile value: header says {height}×{width}×{channels}, not an RGB tile")
    size, body = height * width * channels, memoryview(data)[_PIXEL_HEADER.size :]
    shape = f"header says {height}×{width}×3"
    if magic == RAW_MAGIC:
        if len(body) != size:
            raise TileStoreError(f"corrupt tile value: {len(body)} pixel bytes, {shape}")
        return np.frombuffer(data, np.uint8, offset=_PIXEL_HEADER.size).reshape(height, width, channels)
    if size > _LZ4_MAX_RATIO * len(body):  # refused before the decoder allocates the header's size
        raise TileStoreError(f"corrupt tile value: {shape}, more than {len(body)} LZ4 bytes can hold")
    try:
        pixels = lz4.block.decompress(body, uncompressed_size=size, return_bytearray=True)
    except lz4.block.LZ4BlockError as err:
        raise TileStoreError(f"corrupt tile value: LZ4 block does not decode ({err})") from None
    if len(pixels) != size:
        raise TileStoreError(f"corrupt tile value: LZ4 block decodes to {len(pixels)} bytes, {shape}")
    return np.frombuffer(pixels, np.uint8).reshape(channels, height, width).transpose(1, 2, 0)


class TileStore:
    """An LMDB environment of tiles. Open read-only (default) or writable (``readonly=False``)."""

    def __init__(self, path: str | Path, *, readonly: bool = True, map_size: int = DEFAULT_MAP_SIZE) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly and not (self.path / "data.mdb").is_file():
            raise TileStoreError(f"no tile store at {self.path} (run `rnagan tile` or `rnagan tiles import` first)")
        self.env = _acquire(self.path, readonly=readonly, map_size=map_size)
        if not readonly:
            with self.env.begin(write=True) as txn:
                if txn.get(META_KEY) is None:
                    txn.put(META_KEY, json.dumps({"format_version": FORMAT_VERSION}).encode())

    def __enter__(self) -> TileStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        _release(self.path)

    def __len__(self) -> int:
        return self.env.stat()["entries"] - 1  # minus the meta record

    def put_many(self, items: Iterable[tuple[str, bytes]]) -> int:
        """Write (key, encoded image) pairs in one transaction: all of them land, or none.

        A full map is doubled and the transaction retried, so no cohort outgrows the store; another
        process's growth is adopted the same way.
        """
        batch = list(items)
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    for key, value in batch:
                        txn.put(key.encode(), value)
                return len(batch)
            except lmdb.MapFullError:
                self.env.set_mapsize(self.env.info()["map_size"] * 2)
            except lmdb.MapResizedError:
                self.env.set_mapsize(0)  # 0: take the size another process set

    def delete_prefix(self, prefix: str) -> int:
        """Remove every key starting with ``prefix`` (e.g. ``slide_id/`` to redo an interrupted slide)."""
        raw = prefix.encode()
        removed = 0
        with self.env.begin(write=True) as txn:
            cursor = txn.cursor()
            if cursor.set_range(raw):
                while cursor.key().startswith(raw):
                    if not cursor.delete():
                        break
                    removed += 1
        return removed

    def get_bytes(self, key: str) -> bytes:
        with self.env.begin(buffers=False) as txn:
            value = txn.get(key.encode())
        if value is None:
            raise TileStoreError(f"tile {key!r} is listed but not in the store {self.path}")
        return value

    def get(self, key: str) -> np.ndarray:
        data = self.get_bytes(key)
        try:
            return decode_tile(data)
        except TileStoreError as err:
            raise TileStoreError(f"tile {key!r} in {self.path}: {err}") from None

    def keys(self, prefix: str = "") -> Iterator[str]:
        raw = prefix.encode()
        with self.env.begin() as txn:
            cursor = txn.cursor()
            if not cursor.set_range(raw):
                return
            for key in cursor.iternext(keys=True, values=False):
                if not key.startswith(raw):
                    break
                if key != META_KEY:
                    yield key.decode()


@dataclass
class _OpenEnv:
    pid: int
    env: lmdb.Environment
    writable: bool
    refs: int


# py-lmdb allows one handle per path and process, so every TileStore on a path shares one
# environment (a writable one also serves readers). Handles inherited through fork() are closed
# and reopened: LMDB handles must not cross a fork.
_OPEN: dict[str, _OpenEnv] = {}


def _acquire(path: Path, *, readonly: bool, map_size: int) -> lmdb.Environment:
    key = str(path.resolve())
    entry = _OPEN.get(key)
    if entry is not None and entry.pid != os.getpid():
        entry.env.close()
        del _OPEN[key]
        entry = None
    if entry is not None:
        if not readonly and not entry.writable:
            raise TileStoreError(f"tile store {path} is open read-only in this process: close its readers first")
        entry.refs += 1
        return entry.env
    try:
        env = lmdb.open(
            str(path),
            readonly=readonly,
            lock=not readonly,
            readahead=False,
            meminit=False,
            map_size=map_size,
            max_readers=512,
            subdir=True,
        )
    except lmdb.Error as err:
        raise TileStoreError(f"cannot open tile store {path}: {err}") from None
    _OPEN[key] = _OpenEnv(pid=os.getpid(), env=env, writable=not readonly, refs=1)
    return env


def _release(path: Path) -> None:
    key = str(path.resolve())
    entry = _OPEN.get(key)
    if entry is None or entry.pid != os.getpid():
        return
    entry.refs -= 1
    if entry.refs == 0:
        entry.env.close()
        del _OPEN[key]
