"""The bundled LC25000 cohort: complete, 64 px, and with samples and donors that keep splits clean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rnagan.datasets.lc25000 import CLASSES, TILE_SIZE, lc25000_samples, load_lc25000


@pytest.fixture(scope="module")
def tiles():
    return load_lc25000()


def test_every_listed_tile_is_shipped_at_64px(tiles) -> None:
    assert len(tiles) == 1491
    assert all(Path(p).is_file() for p in tiles["path"])
    for path in tiles["path"].iloc[::150]:
        with Image.open(path) as image:
            assert image.mode == "RGB" and image.size == (TILE_SIZE, TILE_SIZE)
            assert np.asarray(image).std() > 5  # tissue, not a blank tile


def test_one_sample_per_source_image(tiles) -> None:
    unique = tiles[tiles["subset"] == "unique"]
    assert unique["sample_id"].is_unique
    assert unique.groupby("label").size().to_dict() == {"lung_aca": 243, "lung_n": 249, "lung_scc": 248}
    # Augmented copies join their original's sample, hence its split: no twin across train and test.
    extras = tiles[tiles["subset"] == "augmented_extra"]
    assert set(extras["label"]) == {"lung_n"}
    assert set(extras["sample_id"]) <= set(unique["sample_id"])


def test_donors_group_samples_within_one_class(tiles) -> None:
    per_donor = tiles.groupby("donor_id").agg(labels=("label", "nunique"), samples=("sample_id", "nunique"))
    assert (per_donor["labels"] == 1).all()
    assert per_donor["samples"].max() == 4
    assert (tiles.groupby("sample_id")["donor_id"].nunique() == 1).all()
    assert load_lc25000(samples_per_donor=1)["donor_id"].nunique() == 740


def test_samples_table_and_unique_only(tiles) -> None:
    samples = lc25000_samples(tiles)
    assert list(samples.columns) == ["sample_id", "donor_id", "tissue"]
    assert len(samples) == 740 and set(samples["tissue"]) == set(CLASSES)
    assert len(load_lc25000(include_augmented=False)) == 740


def test_rejects_empty_donors() -> None:
    with pytest.raises(ValueError, match="samples_per_donor"):
        load_lc25000(samples_per_donor=0)
