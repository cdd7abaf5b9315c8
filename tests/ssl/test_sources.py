from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from rnagan.config import Config
from rnagan.datasets.lc25000 import load_lc25000
from rnagan.errors import InputFileError
from rnagan.samples import MANIFEST, MANIFEST_COLUMNS
from rnagan.slides import tilesets
from rnagan.slides.store import TileStore, encode_tile
from rnagan.ssl.simclr import pretrain
from rnagan.ssl.sources import concat, open_source, read_lc25000
from rnagan.workspace import Workspace


def _png(path: Path, colour: tuple[int, int, int], size: int = 48) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)


def test_a_samples_folder_gives_labelled_synthetic_tiles_without_perturbed_twins(tmp_path: Path) -> None:
    rows = []
    for i, (tissue, perturbation) in enumerate([("lung", ""), ("lung", ""), ("brain", ""), ("brain", "TP53+2")]):
        _png(tmp_path / f"tiles/p{i}/0.png", (10 * i, 0, 0))
        rows.append([f"p{i}", f"p{i}", perturbation, "cohort", tissue, "test", 0, 0, f"tiles/p{i}/0.png", ""])
    pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).to_csv(tmp_path / MANIFEST, index=False)
    tiles = open_source(tmp_path, 32)
    assert tiles.tiles[:].shape == (3, 3, 32, 32) and tiles.tiles[:].dtype == torch.uint8
    assert tiles.labels.tolist() == ["lung", "lung", "brain"] and tiles.groups.tolist() == ["p0", "p1", "p2"]
    assert set(tiles.origin) == {"synthetic"}


def test_a_workspace_store_is_labelled_by_the_samples_tissue(tmp_path: Path) -> None:
    ws = Workspace(tmp_path).create()
    keys = ["s1/0_0", "s1/0_64", "s2/0_0"]
    with TileStore(ws.tile_store, readonly=False) as store:
        store.put_many((k, encode_tile(np.full((64, 64, 3), 50 * i, np.uint8))) for i, k in enumerate(keys))
    index = pd.DataFrame(
        {
            "key": keys,
            "slide_id": ["s1", "s1", "s2"],
            "sample_id": ["s1", "s1", "s2"],
            "x": 0,
            "y": [0, 64, 0],
            "level": 0,
            "mpp": 0.5,
            "tissue_fraction": 1.0,
        }
    )
    index.to_parquet(ws.tile_index)
    pd.DataFrame({"sample_id": ["s1", "s2"], "tissue": ["lung", "brain"], "split": ["train", "test"]}).to_csv(
        ws.samples_table, index=False
    )
    tiles = open_source(ws.tiles, 32)  # the tiles/ folder names its workspace
    assert tiles.labels.tolist() == ["lung", "lung", "brain"] and tiles.groups.tolist() == ["s1", "s1", "s2"]
    assert int(tiles.tiles[2][0, 0, 0]) == 100


def test_class_folders_name_the_label_and_pool_with_other_sources(tmp_path: Path) -> None:
    _png(tmp_path / "tumour/a.png", (200, 0, 0))
    _png(tmp_path / "normal/b.jpg", (0, 200, 0))
    tiles = open_source(tmp_path, 16)
    assert tiles.classes == ["normal", "tumour"]
    both = concat(tiles, tiles)
    assert len(both) == 4 and both.tiles[:].shape[1:] == (3, 16, 16)


def test_bundled_lung_tiles_group_augmented_copies_with_their_source_image() -> None:
    tiles = read_lc25000(16, classes=["lung_n"])
    groups, counts = np.unique(tiles.groups, return_counts=True)
    assert len(tiles) > len(groups) and counts.max() > 1  # copies share their original's group


def _folders(root: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        _png(root / name, (20 * i, 100, 0), 16)


def test_class_folders_take_their_groups_from_a_csv(tmp_path: Path) -> None:
    _folders(tmp_path / "data", ["a/x.png", "a/x_flip.png", "b/y.png", "b/z.png"])
    table = pd.DataFrame({"file": ["a/x.png", "a/x_flip.png", "b/y.png", "b/z.png"], "group": ["x", "x", "y", "z"]})
    table.to_csv(tmp_path / "groups.csv", index=False)
    tiles = open_source(tmp_path / "data", 16, groups=tmp_path / "groups.csv")
    assert tiles.groups.tolist() == ["x", "x", "y", "z"] and tiles.labels.tolist() == ["a", "a", "b", "b"]
    table.iloc[:3].to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InputFileError, match=r"gives no group for 1 files, e.g. \['b/z.png'\]"):
        open_source(tmp_path / "data", 16, groups=tmp_path / "short.csv")


def test_without_a_csv_each_file_is_its_own_group(tmp_path: Path) -> None:
    _folders(tmp_path, ["a/x.png", "a/x_flip.png"])
    assert open_source(tmp_path, 16).groups.tolist() == ["a/x.png", "a/x_flip.png"]


def test_a_groups_csv_for_a_source_that_names_its_own_groups_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="a groups CSV applies to class folders"):
        open_source("lc25000", 16, groups=tmp_path / "groups.csv")


def test_lc25000_class_folders_keep_rotations_and_flips_with_their_source_image() -> None:
    table = load_lc25000()
    root = Path(table["path"].iloc[0]).parents[1]  # the bundled copy, read as plain class folders
    tiles = open_source(root, 16)
    assert tiles.classes == ["lung_aca", "lung_n", "lung_scc"]  # lung_n_extra/ holds lung_n copies
    by_file = dict(zip(table["path"], table["sample_id"], strict=True))
    sample = np.asarray([by_file[p] for p in tiles.tiles.paths])
    pairs = pd.DataFrame({"group": tiles.groups, "sample": sample}).drop_duplicates()
    assert len(pairs) == pairs["group"].nunique() == pairs["sample"].nunique() == 740  # one group per source image
    assert len(tiles) == 1491


@pytest.mark.integration
def test_a_cap_is_applied_before_any_tile_is_decoded(
    tmp_path: Path, tiny: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    _folders(tmp_path / "data", [f"c{i % 2}/t{i}.png" for i in range(40)])
    decoded: list[str] = []
    read = tilesets.read_image
    monkeypatch.setattr(tilesets, "read_image", lambda path: decoded.append(path) or read(path))
    source = open_source(tmp_path / "data", 32)
    assert not decoded  # opening reads names only
    tiny.ssl.pretrain_epochs, tiny.ssl.pretrain_max_tiles = 1, 8
    pretrain(source, tiny, tmp_path / "run", progress=False)
    capped = source.draw(8, tiny.ssl.seed).tiles  # the draw pretraining makes
    kept = {capped.base.paths[i] for i in capped.index}
    assert decoded and set(decoded) <= kept and len(kept) == 8
