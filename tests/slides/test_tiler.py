"""Tiling: the real slide, synthetic slides, filters, cap, bad slides, resuming an interrupted run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic import PEN_BOXES

from rnagan.config import TilingConfig
from rnagan.slides.dataset import INDEX_COLUMNS, read_tile_index
from rnagan.slides.store import TileStore
from rnagan.slides.tiler import SUMMARY_COLUMNS, tile_slides
from rnagan.workspace import Workspace


def test_real_slide_tiles(real_workspace: Workspace) -> None:
    index = read_tile_index(real_workspace.tile_index)
    summary = pd.read_csv(real_workspace.tiling_summary)
    assert list(index.columns[: len(INDEX_COLUMNS)]) == list(INDEX_COLUMNS)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    row = summary.iloc[0]
    assert row.status == "done" and row.kept == len(index) >= 30
    assert row.grid == row.background + row.low_contrast + row.capped + row.kept
    assert (index["tissue_fraction"] >= 0.4).all() and index["key"].is_unique
    assert index["mpp"].to_numpy() == pytest.approx(0.499)
    # The grid reaches the last whole tile at the right and bottom edges: 2220 // 256 = 8 columns.
    assert ((index["x"] % 256 == 0) & (index["x"] + 256 <= 2220) & (index["y"] + 256 <= 2967)).all()
    with TileStore(real_workspace.tile_store) as store:
        assert sorted(store.keys()) == sorted(index["key"])
        tile = store.get(index["key"].iloc[0])
    assert tile.shape == (256, 256, 3)
    assert (real_workspace.thumbnails / "CMU-1-Small-Region.png").stat().st_size > 10_000


def test_pen_marks_and_blank_slide(tmp_path: Path, synthetic_slides: dict[str, Path]) -> None:
    config = TilingConfig(tile_size=128)
    summary = tile_slides([synthetic_slides["pens"], synthetic_slides["blank"]], Workspace(tmp_path), config, workers=1)
    assert summary.set_index("slide_id")["kept"].to_dict()["blank"] == 0
    index = read_tile_index(Workspace(tmp_path).tile_index)
    for x0, y0, x1, y1 in PEN_BOXES.values():
        overlaps = (index["x"] < x1) & (index["x"] + 128 > x0) & (index["y"] < y1) & (index["y"] + 128 > y0)
        assert not overlaps.any()
    assert (index["x"] >= 1280).any()  # the faint tissue is tiled


def test_cap_and_seed_are_deterministic(tmp_path: Path, synthetic_slides: dict[str, Path]) -> None:
    def keys(name: str, seed: int) -> list[str]:
        workspace = Workspace(tmp_path / name)
        tile_slides(
            [synthetic_slides["pens"]], workspace, TilingConfig(tile_size=128, max_tiles_per_slide=7, seed=seed)
        )
        return read_tile_index(workspace.tile_index)["key"].tolist()

    first = keys("a", 5)
    assert len(first) == 7
    assert keys("b", 5) == first
    assert keys("c", 6) != first


def test_missing_mpp_fails_unless_assumed(tmp_path: Path, synthetic_slides: dict[str, Path]) -> None:
    slide = synthetic_slides["no_mpp"]
    failed = tile_slides([slide], Workspace(tmp_path / "a"), TilingConfig(tile_size=128)).iloc[0]
    assert failed.status == "failed" and "--assume-mpp" in failed.error
    done = tile_slides([slide], Workspace(tmp_path / "b"), TilingConfig(tile_size=128, assume_mpp=0.5)).iloc[0]
    assert done.status == "done" and done.kept > 0


@pytest.mark.integration  # a real two-process pool
def test_bad_slides_are_reported_and_the_rest_finish(tmp_path: Path, real_slide: Path) -> None:
    truncated = tmp_path / "truncated.svs"
    truncated.write_bytes(real_slide.read_bytes()[:900_000])
    junk = tmp_path / "junk.svs"
    junk.write_text("not a slide")
    workspace = Workspace(tmp_path / "ws")
    summary = tile_slides([truncated, real_slide, junk], workspace, TilingConfig(), workers=2)  # a real pool
    status = summary.set_index("slide_id")["status"].to_dict()
    assert status == {"truncated": "failed", "CMU-1-Small-Region": "done", "junk": "failed"}
    assert summary.set_index("slide_id").loc["truncated", "error"].startswith("SlideError")
    index = read_tile_index(workspace.tile_index)
    assert set(index["slide_id"]) == {"CMU-1-Small-Region"}
    assert set(pd.read_csv(workspace.tiling_summary)["status"]) == {"done", "failed"}


def test_interrupted_run_is_resumed(tmp_path: Path, real_slide: Path, real_workspace: Workspace) -> None:
    """A killed run leaves a slide's tiles in the store but no done marker: the rerun redoes it."""
    workspace = Workspace(tmp_path / "ws")
    shutil.copytree(real_workspace.tiles, workspace.tiles)
    other = tmp_path / "other.svs"
    shutil.copy(real_slide, other)
    marker = workspace.tiles / "parts" / "CMU-1-Small-Region.json"
    stamp = marker.stat().st_mtime_ns
    with TileStore(workspace.tile_store, readonly=False) as store:  # half of "other", then the kill
        store.put_many([("other/0_0", b"partial"), ("other/999999_0", b"partial")])

    summary = tile_slides([real_slide, other], workspace, TilingConfig())

    assert summary["status"].tolist() == ["skipped", "done"]
    assert marker.stat().st_mtime_ns == stamp
    index = read_tile_index(workspace.tile_index)
    counts = index["slide_id"].value_counts().to_dict()
    assert counts["other"] == counts["CMU-1-Small-Region"] == summary["kept"].iloc[1]
    with TileStore(workspace.tile_store) as store:
        assert sorted(store.keys()) == sorted(index["key"])  # no leftovers, nothing missing
        assert store.get_bytes(index.loc[index.slide_id == "other", "key"].iloc[0]) != b"partial"
    # The same tiles as the uninterrupted run, under the new slide id.
    reference = read_tile_index(real_workspace.tile_index)
    np.testing.assert_array_equal(index.loc[index.slide_id == "other", ["x", "y"]].to_numpy(), reference[["x", "y"]])
