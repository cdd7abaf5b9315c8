"""Splits go by section: every patch carries its spot's sample id, and no spot or patch crosses a split."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from spatial_fixture import SPLITS, tiny_section

from rnagan.config import preset
from rnagan.slides.dataset import read_tile_index
from rnagan.spatial.importer import expression_file, import_sections
from rnagan.spatial.patches import PatchGeometry
from rnagan.spatial.prepare import prepare_spatial
from rnagan.workspace import Workspace, read_samples


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("split"))
    sections = [tiny_section(name) for name in SPLITS]
    import_sections(sections, ws, PatchGeometry(patches_per_spot=3, jitter_um=10), splits=SPLITS)
    cfg = preset("tiny")
    cfg.spatial.hvg_genes = 100
    prepare_spatial(ws, cfg)
    return ws


def test_no_patch_crosses_a_split(imported: Workspace) -> None:
    index = read_tile_index(imported.tile_index)
    samples = read_samples(imported)
    index["split"] = index["sample_id"].map(samples["split"])
    assert index["split"].notna().all()
    assert (index["split"] == index["slide_id"].map(SPLITS)).all()  # the split is the section's
    assert index.groupby("sample_id")["split"].nunique().max() == 1
    assert (index.groupby("sample_id").size() == 3).all()
    keys_by_split = index.groupby("split")["key"].apply(set)
    assert not (keys_by_split["train"] & keys_by_split["test"])
    assert all(key.startswith(f"{section}/") for key, section in zip(index["key"], index["slide_id"], strict=True))


def test_prepare_keeps_the_fixed_splits_patients_and_hvg_genes(imported: Workspace) -> None:
    samples = read_samples(imported)
    assert samples["split"].value_counts().to_dict() == {"train": 24, "val": 12, "test": 12}
    assert set(samples.loc[samples.index.str.startswith("B4_"), "donor_id"]) == {"B"}
    matrix = pd.read_parquet(imported.expression_matrix)
    assert matrix.shape == (48, 100)
    assert all(g.startswith("ENSG") for g in matrix.columns)
    assert expression_file(imported).is_file()


def test_the_import_refuses_nothing_it_later_needs(tmp_path: Path) -> None:
    # a val/test section whose spots have no counts would leave spots without a profile: every spot has both
    section = tiny_section("C5")
    assert section.counts.index.equals(section.spots.index)
