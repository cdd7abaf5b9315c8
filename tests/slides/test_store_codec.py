"""The store's value codecs: LZ4 pixels by default, bit-exact; PNG/JPEG stores still read; corrupt values refused."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import lz4.block
import numpy as np
import pytest
import torch
from PIL import Image

from rnagan.config import TilingConfig
from rnagan.errors import TileStoreError
from rnagan.slides.dataset import read_tile_index
from rnagan.slides.folder import import_tiles
from rnagan.slides.store import LZ4_MAGIC, TileStore, decode_tile, encode_tile
from rnagan.slides.tiler import tile_slides
from rnagan.workspace import Workspace


def _noise(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_default_format_is_lz4_everywhere(tmp_path: Path) -> None:
    assert TilingConfig().image_format == "lz4"
    assert encode_tile(_noise((8, 8, 3), 0)).startswith(LZ4_MAGIC)
    (tmp_path / "files" / "a").mkdir(parents=True)
    tile = _noise((24, 24, 3), 4)
    Image.fromarray(tile).save(tmp_path / "files" / "a" / "0.png")
    workspace = Workspace(tmp_path / "ws")
    key = import_tiles(tmp_path / "files", workspace)["key"].item()  # `rnagan tiles import` without --format
    with TileStore(workspace.tile_store) as store:
        assert store.get_bytes(key).startswith(LZ4_MAGIC) and np.array_equal(store.get(key), tile)


@pytest.mark.parametrize("shape", [(256, 256, 3), (224, 224, 3), (17, 5, 3), (1, 1, 3)])
def test_lz4_round_trip_is_bit_exact_on_random_and_flat_tiles(shape: tuple[int, int, int]) -> None:
    for tile in (_noise(shape, 1), np.full(shape, 237, np.uint8)):
        data = encode_tile(tile, "lz4")
        decoded = decode_tile(data)
        assert decoded.dtype == np.uint8 and decoded.shape == shape and np.array_equal(decoded, tile)
        assert decoded.flags.writeable  # decoded into its own buffer: no copy needed before torch.from_numpy
        assert torch.from_numpy(decoded).permute(2, 0, 1).is_contiguous()  # planar: torch's (3, H, W) as it is
    flat = np.full((256, 256, 3), 237, np.uint8)
    assert len(encode_tile(flat, "lz4")) < flat.nbytes // 100  # it does compress


def test_lz4_round_trip_is_bit_exact_on_the_real_slide(real_workspace: Workspace) -> None:
    """The tiler's tiles of the real slide (stored as lz4 by default) decode to the pixels read from the slide."""
    index = read_tile_index(real_workspace.tile_index)
    stored = pixels = 0
    with TileStore(real_workspace.tile_store) as store:
        for key in index["key"]:
            data = store.get_bytes(key)
            tile = store.get(key)
            assert data.startswith(LZ4_MAGIC) and np.array_equal(decode_tile(encode_tile(tile, "lz4")), tile)
            assert np.array_equal(decode_tile(encode_tile(tile, "png")), tile)  # the same pixels PNG would keep
            stored, pixels = stored + len(data), pixels + tile.nbytes
    assert stored < 0.95 * pixels  # the cohort compresses, though a tile of dense tissue may not (LZ4 adds < 0.5 %)


def test_an_old_png_store_reads_unchanged(tmp_path: Path, real_slide: Path, real_workspace: Workspace) -> None:
    """A PNG store, as `rnagan tile` wrote by default before lz4, reads to the very pixels of the lz4 store."""
    old = Workspace(tmp_path / "png")
    tile_slides([real_slide], old, TilingConfig(image_format="png"), workers=1)
    index = read_tile_index(old.tile_index)
    assert index["key"].tolist() == read_tile_index(real_workspace.tile_index)["key"].tolist()
    with TileStore(old.tile_store) as png, TileStore(real_workspace.tile_store) as lz4:
        assert all(png.get_bytes(k).startswith(b"\x89PNG") for k in index["key"])
        assert all(np.array_equal(png.get(k), lz4.get(k)) for k in index["key"])


def test_jpeg_values_and_mixed_stores_read(tmp_path: Path) -> None:
    """JPEG values (imported JPEG files keep their bytes) read as PIL decodes them, beside lz4 values."""
    ramp = np.add.outer(np.arange(64), np.arange(64)).astype(np.uint8)
    tile = np.stack([ramp, ramp.T, np.full_like(ramp, 180)], axis=2)
    buffer = io.BytesIO()
    Image.fromarray(tile).save(buffer, format="JPEG", quality=95)
    with TileStore(tmp_path / "mixed.lmdb", readonly=False) as store:
        store.put_many([("s/0_0", buffer.getvalue()), ("s/1_0", encode_tile(tile))])
        jpeg = store.get("s/0_0")
        assert np.array_equal(jpeg, np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")))
        assert np.abs(jpeg.astype(int) - tile).mean() < 2 and np.array_equal(store.get("s/1_0"), tile)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda v: v[:10], "shorter than a 14-byte header"),
        (lambda v: v[:8] + (9).to_bytes(2, "little") + v[10:], "LZ4 block"),  # height 9, pixels of 32 rows
        (lambda v: v[:12] + (4).to_bytes(2, "little") + v[14:], "not an RGB tile"),
        (lambda v: v[:8] + b"\xff\xff" * 2 + v[12:], "header says 65535×65535×3, more than"),  # no 12 GB buffer
        (lambda v: v[: len(v) // 2], "LZ4 block"),
        (lambda v: b"\x00" * len(v), "not an LZ4, raw, PNG or JPEG tile"),
        (lambda v: encode_tile(_noise((32, 32, 3), 2), "raw")[:-1], "3071 pixel bytes, header says 32×32×3"),
        (lambda v: encode_tile(_noise((32, 32, 3), 2), "png")[:60], "corrupt tile value"),
    ],
)
def test_a_corrupt_value_is_refused_in_one_line(tmp_path: Path, corrupt, message: str) -> None:
    value = encode_tile(_noise((32, 32, 3), 3), "lz4")
    with TileStore(tmp_path / "bad.lmdb", readonly=False) as store:
        store.put_many([("s/0_0", corrupt(value))])
        with pytest.raises(TileStoreError, match=message) as raised:
            store.get("s/0_0")
    assert "'s/0_0'" in str(raised.value) and "\n" not in str(raised.value)


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="use one of lz4, png, jpeg, raw"):
        encode_tile(_noise((4, 4, 3), 0), "webp")


def test_an_lz4_value_is_what_docs_tiling_md_says() -> None:
    """Read by hand from the documented layout, without decode_tile: header, then an LZ4 block of planar pixels."""
    tile = _noise((6, 10, 3), 5)
    value = encode_tile(tile, "lz4")
    magic, height, width, channels = struct.unpack_from("<8sHHH", value)
    assert (magic, height, width, channels) == (b"RNGLZ41\0", 6, 10, 3)
    planar = np.frombuffer(lz4.block.decompress(value[14:], uncompressed_size=6 * 10 * 3), np.uint8)
    assert np.array_equal(planar.reshape(3, 6, 10), tile.transpose(2, 0, 1))
