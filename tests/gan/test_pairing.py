"""Issue #14 item 1: ``gan train --pairing`` pairs any cohort by a mapping file, and the pairing it used
is what every later stage reads from the tile index."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from gan_toy import make_toy_cohort

from rnagan.config import preset
from rnagan.errors import InputFileError
from rnagan.pairing import pair_tiles, write_pairing
from rnagan.slides.dataset import read_tile_index
from rnagan.workspace import Workspace


def renamed_cohort(tmp_path: Path) -> Workspace:
    """A toy cohort whose expression names samples ``patient-…`` while the tiles say ``alpha-00``…"""
    ws = Workspace(tmp_path / "ws")
    make_toy_cohort(ws, train_per_tissue=2, held_out_per_tissue=1, tiles_per_sample=2)
    for path, reader in ((ws.latents, pd.read_parquet), (ws.samples_table, pd.read_csv)):
        table = reader(path)
        if "sample_id" in table.columns:
            table["sample_id"] = "patient-" + table["sample_id"]
            table.to_csv(path, index=False)
        else:
            table.index = "patient-" + table.index
            table.to_parquet(path)
    return ws


def test_a_mapping_file_pairs_slides_and_later_stages_read_the_pairing(tmp_path: Path) -> None:
    ws = renamed_cohort(tmp_path)
    with pytest.raises(InputFileError, match="none in all three"):
        pair_tiles(ws, preset("tiny").gan)
    index = read_tile_index(ws.tile_index)
    mapping = tmp_path / "pairing.csv"
    slides = index[["slide_id", "sample_id"]].drop_duplicates()
    slides.assign(sample_id="patient-" + slides["sample_id"]).to_csv(mapping, index=False)

    data = pair_tiles(ws, preset("tiny").gan, mapping=mapping)
    assert data.report["samples_paired"] == 4 and data.report["slides_paired_by_mapping_file"] == 6
    write_pairing(ws, data.pairing)
    paired = read_tile_index(ws.tile_index)
    assert (paired["sample_id"] == "patient-" + index["sample_id"]).all()
    assert (read_tile_index(ws.tile_index, paired=False)["sample_id"] == index["sample_id"]).all()


def test_a_missing_mapping_file_is_a_one_line_error(tmp_path: Path) -> None:
    ws = renamed_cohort(tmp_path)
    with pytest.raises(InputFileError, match=r"pairing file .* not found"):
        pair_tiles(ws, preset("tiny").gan, mapping=tmp_path / "nope.csv")
