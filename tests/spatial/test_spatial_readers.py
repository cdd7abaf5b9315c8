"""Every supported layout of one section gives the same (expression, patch) pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from spatial_fixture import SPOT_UM, tiny_section, write_h5ad, write_visium

from rnagan.spatial.patches import PatchGeometry, cut_patches
from rnagan.spatial.readers import read_anndata_section, read_visium_section
from rnagan.spatial.section import Section

GEOMETRY = PatchGeometry(mpp=1.0, fov_um=100, patches_per_spot=2, jitter_um=10, seed=3)


def _pairs(section: Section) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    patches = {(p.spot, p.index): p.pixels for p in cut_patches(section, GEOMETRY)}
    return {
        spot: (section.counts.loc[spot].to_numpy(), np.stack([patches[spot, k] for k in range(2)]))
        for spot in section.spots.index
    }


def _assert_same(a: Section, b: Section) -> None:
    pairs_a, pairs_b = _pairs(a), _pairs(b)
    assert sorted(pairs_a) == sorted(pairs_b)
    assert list(a.counts.columns) == list(b.counts.columns[: len(a.counts.columns)]) or set(b.counts.columns) <= set(
        a.counts.columns
    )
    for spot, (counts, patches) in pairs_a.items():
        other_counts = b.counts.loc[spot].reindex(a.counts.columns, fill_value=0).to_numpy()
        np.testing.assert_array_equal(counts, other_counts)
        np.testing.assert_array_equal(patches, pairs_b[spot][1])
    np.testing.assert_allclose(a.spots[["pixel_x", "pixel_y"]], b.spots.loc[a.spots.index, ["pixel_x", "pixel_y"]])
    assert a.mpp == b.mpp


def test_h5ad_in_the_scanpy_convention_gives_the_same_pairs(tmp_path: Path) -> None:
    table = tiny_section("C5")
    stored = read_anndata_section(write_h5ad("C5", tmp_path / "c5.h5ad"), spot_um=SPOT_UM, section_id="C5")
    assert stored.section_id == "C5" and len(stored.spots) == 12
    _assert_same(table, stored)


def test_visium_folder_read_with_scanpy_gives_the_same_pairs(tmp_path: Path) -> None:
    table = tiny_section("C5")
    visium = read_visium_section(write_visium("C5", tmp_path / "C5"), spot_um=SPOT_UM)
    assert visium.section_id == "C5"
    assert {"x", "y"} <= set(visium.spots.columns)  # array_col/array_row kept for the layout figure
    _assert_same(table, visium)


def test_jittered_patches_stay_within_their_spot_and_differ() -> None:
    section = tiny_section("C2")
    patches = list(cut_patches(section, GEOMETRY))
    assert len(patches) == 2 * len(section.spots)
    centre = section.spots[["pixel_x", "pixel_y"]]
    for patch in patches:
        cx, cy = centre.loc[patch.spot]
        assert abs(patch.x + 50 - cx) <= 11 and abs(patch.y + 50 - cy) <= 11
        assert patch.pixels.shape == (100, 100, 3)
    first, second = patches[0], patches[1]
    assert first.spot == second.spot and (first.x, first.y) != (second.x, second.y)
