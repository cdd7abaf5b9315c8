"""Issue #14 item 11: the LMDB map grows when full instead of failing a long tiling job."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnagan.slides.store import TileStore, encode_tile


def test_a_full_map_grows_and_every_tile_lands(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tiles = {f"slide/{i}_0": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for i in range(300)}
    small = 64 * 1024  # 64 KiB: the 300 raw tiles (~900 KiB) overflow it many times over
    with TileStore(tmp_path / "store.lmdb", readonly=False, map_size=small) as store:
        for start in range(0, 300, 50):
            keys = list(tiles)[start : start + 50]
            assert store.put_many((k, encode_tile(tiles[k], "raw")) for k in keys) == 50
        assert store.env.info()["map_size"] > small
    with TileStore(tmp_path / "store.lmdb") as store:
        assert len(store) == 300
        assert all(np.array_equal(store.get(k), tile) for k, tile in tiles.items())
