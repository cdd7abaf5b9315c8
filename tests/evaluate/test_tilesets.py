"""Lazy tile sets: every way of indexing gives what decoding the whole set would, and nothing is decoded twice."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from rnagan.datasets.lc25000 import lc25000_dir
from rnagan.evaluate.classify import train_classifier
from rnagan.evaluate.features import InceptionFeatures, list_images, read_image
from rnagan.evaluate.realism import mean_pairwise_distance
from rnagan.evaluate.streamed import FeatureCache, Features
from rnagan.slides.augment import resize_tiles
from rnagan.slides.store import TileStore, encode_tile
from rnagan.slides.tilesets import FileTiles, StoreTiles


@pytest.fixture(scope="module")
def paths() -> list[str]:
    """Ten real 64 px lung tiles, five of each class."""
    return [str(p) for label in ("lung_n", "lung_aca") for p in list_images(lc25000_dir() / label)[:5]]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, paths: list[str]) -> StoreTiles:
    folder = tmp_path_factory.mktemp("store")
    with TileStore(folder, readonly=False) as tiles:
        tiles.put_many((f"s/{i}", encode_tile(read_image(p).permute(1, 2, 0).numpy())) for i, p in enumerate(paths))
    return StoreTiles(folder, [f"s/{i}" for i in range(len(paths))], size=32)


def _decoded_whole(paths: Sequence[str], size: int) -> torch.Tensor:
    return torch.stack([resize_tiles(read_image(p), size) for p in paths])


@pytest.mark.parametrize("kind", ["store", "files"])
def test_every_index_gives_the_tiles_decoding_the_whole_set_would(kind: str, store: StoreTiles, paths) -> None:
    tiles = store if kind == "store" else FileTiles(paths, size=32)
    whole = _decoded_whole(paths, 32)
    mask = np.arange(len(paths)) % 3 == 0
    assert len(tiles) == len(paths)
    assert torch.equal(tiles[4], whole[4])
    assert torch.equal(tiles[2:7], whole[2:7])
    assert torch.equal(tiles[[7, 1]], whole[[7, 1]])
    assert torch.equal(tiles[torch.tensor([3, 0])], whole[[3, 0]])
    assert torch.equal(tiles[mask], whole[torch.from_numpy(mask)])
    chunks = list(tiles.chunks(4))
    assert [len(p) for p, _ in chunks] == [4, 4, 2]
    assert torch.equal(torch.cat([b for _, b in chunks]), whole)
    assert tiles[[]].shape == (0, 3, 32, 32)


class _CountingTiles(FileTiles):
    """Real files, counting how many tiles were decoded."""

    decoded = 0

    def _load(self, positions: Sequence[int]) -> list[torch.Tensor]:
        self.decoded += len(positions)
        return super()._load(positions)


@pytest.mark.integration  # Inception over the tile set
def test_cached_features_are_read_without_decoding_a_tile(tmp_path: Path, paths, inception: InceptionFeatures) -> None:
    tiles = _CountingTiles(paths, size=64)
    cache = FeatureCache(tmp_path, inception, chunk=4)
    first = cache(tiles)
    assert tiles.decoded == len(paths)
    second = cache(tiles)
    assert tiles.decoded == len(paths)  # three chunk files, all hit
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, inception.extract(_decoded_whole(paths, 64)), rtol=1e-5, atol=1e-6)


def test_pairwise_distance_in_blocks_equals_all_pairs_at_once() -> None:
    feats = np.random.default_rng(0).normal(size=(23, 5))
    pairs = np.sqrt(((feats[:, None] - feats[None]) ** 2).sum(-1))
    expected = pairs.sum() / (23 * 22)
    assert mean_pairwise_distance(feats, block=4) == pytest.approx(expected, rel=1e-9)
    assert mean_pairwise_distance(feats, block=1024) == pytest.approx(expected, rel=1e-9)


def test_a_classifier_trained_batch_by_batch_equals_one_trained_on_decoded_tiles(store: StoreTiles, paths) -> None:
    labels = ["normal"] * 5 + ["aca"] * 5
    settings = {"epochs": 2, "lr": 1e-3, "batch_size": 4, "image_size": 32, "seed": 3}
    lazy = train_classifier(store, labels, store, labels, **settings)
    whole = _decoded_whole(paths, 32)
    eager = train_classifier(whole, labels, whole, labels, **settings)
    np.testing.assert_allclose(lazy.predict_proba(store), eager.predict_proba(whole), rtol=1e-4, atol=1e-5)


@pytest.mark.integration  # Inception over every tile of the set
def test_features_keep_a_draw_of_rows_but_stream_every_tile_into_fid(tmp_path: Path, paths, inception) -> None:
    tiles = FileTiles(paths, size=64)
    cache = FeatureCache(tmp_path, inception, chunk=3)
    every = cache(tiles)
    drawn = Features.of(tiles, cache, cap=4, seed=0)
    assert drawn.stats.n == len(paths) and len(drawn.kept) == 4 and list(drawn.kept) == sorted(drawn.kept)
    np.testing.assert_array_equal(drawn.rows, every[drawn.kept])
    np.testing.assert_allclose(drawn.stats.mu, every.mean(0), rtol=1e-9, atol=1e-12)
    assert len(Features.of(tiles, cache, cap=None, seed=0).rows) == len(paths)
