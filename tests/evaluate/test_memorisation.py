"""Memorisation: a planted copy of a training tile is flagged; novel tiles are not."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from rnagan.evaluate.features import read_image
from rnagan.evaluate.memorisation import memorisation_check, nearest_neighbours


def _jpeg_copy(tile: torch.Tensor) -> torch.Tensor:
    """The tile re-encoded as JPEG (quality 85): a copy that is not bit-identical."""
    buffer = io.BytesIO()
    Image.fromarray(tile.permute(1, 2, 0).numpy()).save(buffer, format="JPEG", quality=85)
    buffer.seek(0)
    return torch.from_numpy(np.asarray(Image.open(buffer).convert("RGB")).copy()).permute(2, 0, 1)


@pytest.mark.integration  # Inception features of 48 real tiles
def test_a_planted_copy_of_a_training_tile_is_flagged(inception, lung_tiles, lung_features) -> None:
    train, test = lung_features["lung_n"][:16], lung_features["lung_n"][16:]
    copy = inception.features_of_batch(_jpeg_copy(read_image(lung_tiles["lung_n"][5]))[None])
    generated = np.concatenate([lung_features["lung_aca"][:8], copy])  # 8 novel tiles, then the copy
    result = memorisation_check(generated, train, test, quantile=0.05)
    assert result.flagged.tolist() == [False] * 8 + [True]
    assert result.closest(1)[0][:2] == (8, 5)
    summary = result.summary(0.05)
    assert summary["n_flagged"] == 1 and summary["median_distance_generated"] > summary["threshold"]


def test_nearest_neighbours_finds_the_identical_row() -> None:
    refs = np.random.default_rng(0).normal(size=(50, 16))
    distances, index = nearest_neighbours(refs[[7, 3]] * 2.0, refs)  # cosine: scale does not matter
    assert index.tolist() == [7, 3]
    np.testing.assert_allclose(distances, 0.0, atol=1e-12)


def test_the_quantile_must_be_a_fraction() -> None:
    feats = np.ones((3, 4))
    with pytest.raises(ValueError, match="quantile"):
        memorisation_check(feats, feats, feats, quantile=1.0)


def test_streamed_chunks_find_the_same_neighbours_with_global_indices() -> None:
    rng = np.random.default_rng(1)
    refs, queries = rng.normal(size=(103, 8)), rng.normal(size=(20, 8))
    whole = nearest_neighbours(queries, refs)
    streamed = nearest_neighbours(queries, (refs[i : i + 10] for i in range(0, 103, 10)))
    np.testing.assert_array_equal(streamed[1], whole[1])
    np.testing.assert_allclose(streamed[0], whole[0])
    assert nearest_neighbours(refs[[101]], (refs[i : i + 10] for i in range(0, 103, 10)))[1].tolist() == [101]
    with pytest.raises(ValueError, match="no reference"):
        nearest_neighbours(queries, iter([]))


def test_query_blocks_find_the_same_neighbours_as_one_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    refs, queries = rng.normal(size=(60, 8)), rng.normal(size=(45, 8))
    unit = lambda rows: rows / np.linalg.norm(rows, axis=1, keepdims=True)  # noqa: E731
    similarity = unit(queries) @ unit(refs).T
    monkeypatch.setattr(sys.modules[nearest_neighbours.__module__], "QUERY_BLOCK", 7)  # 7 blocks, the last of 3 rows
    distances, index = nearest_neighbours(queries, (refs[i : i + 25] for i in range(0, 60, 25)))
    np.testing.assert_array_equal(index, similarity.argmax(axis=1))
    np.testing.assert_allclose(distances, 1.0 - similarity.max(axis=1), atol=1e-12)
