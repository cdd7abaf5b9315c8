"""Importing tile folders into the store and exporting the store as PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rnagan.errors import InputFileError
from rnagan.slides.dataset import read_tile_index
from rnagan.slides.folder import export_tiles, import_tiles
from rnagan.slides.reader import open_slide
from rnagan.slides.store import TileStore, decode_tile
from rnagan.workspace import Workspace


@pytest.fixture(scope="module")
def tile_folder(tmp_path_factory: pytest.TempPathFactory, real_slide: Path) -> Path:
    """An ImageFolder of real tissue: lung_n/ (JPEG) and lung_aca/ (PNG), 3 tiles each, 96 px."""
    folder = tmp_path_factory.mktemp("tiles")
    with open_slide(real_slide) as slide:
        for label, suffix in (("lung_n", "jpeg"), ("lung_aca", "png")):
            (folder / label).mkdir()
            for i in range(3):
                region = slide.read_region((800 + 96 * i, 1200 if suffix == "png" else 1600), 0, (96, 96))
                Image.fromarray(region).save(folder / label / f"{label}{i}.{suffix}")
    return folder


def test_import_folder_as_image_folder(tmp_path: Path, tile_folder: Path) -> None:
    workspace = Workspace(tmp_path)
    rows = import_tiles(tile_folder, workspace, image_format="jpeg")
    index = read_tile_index(workspace.tile_index)
    pd.testing.assert_frame_equal(rows, index)
    assert index["key"].tolist() == [f"{s}/{i}_0" for s in ("lung_aca", "lung_n") for i in range(3)]
    assert (index["label"] == index["slide_id"]).all() and (index["y"] == 0).all()
    with TileStore(workspace.tile_store) as store:
        jpeg = index.loc[index.slide_id == "lung_n", ["key", "source"]].iloc[0]
        assert store.get_bytes(jpeg.key) == (tile_folder / jpeg.source).read_bytes()  # not recompressed
        assert store.get(index["key"].iloc[0]).shape == (96, 96, 3)
    import_tiles(tile_folder, workspace, image_format="jpeg")  # again: replaced, not duplicated
    assert len(read_tile_index(workspace.tile_index)) == 6


def test_import_table_keeps_extra_columns_and_resizes(tmp_path: Path, tile_folder: Path) -> None:
    table = pd.DataFrame(
        {
            "path": ["lung_n/lung_n0.jpeg", "lung_n/lung_n1.jpeg", "lung_aca/lung_aca0.png"],
            "sample_id": ["S1", "S1", "S2"],
            "label": [0, 0, 1],
        }
    )
    workspace = Workspace(tmp_path)
    index = import_tiles(tile_folder, workspace, table=table, tile_size=64)
    assert index[["key", "sample_id", "label"]].values.tolist() == [
        ["S1/0_0", "S1", 0],
        ["S1/1_0", "S1", 0],
        ["S2/0_0", "S2", 1],
    ]
    with TileStore(workspace.tile_store) as store:
        assert store.get("S2/0_0").shape == (64, 64, 3)


def test_import_table_needs_sample_id(tmp_path: Path, tile_folder: Path) -> None:
    with pytest.raises(InputFileError, match=r"lacks the column\(s\) \['sample_id'\]"):
        import_tiles(tile_folder, Workspace(tmp_path), table=pd.DataFrame({"path": ["lung_n/lung_n0.jpeg"]}))


def test_export_writes_pngs_equal_to_the_store(tmp_path: Path, real_workspace: Workspace) -> None:
    index = read_tile_index(real_workspace.tile_index).head(4)
    files = export_tiles(real_workspace, tmp_path / "out", index=index)
    assert [f.relative_to(tmp_path / "out").as_posix() for f in files] == [f"{k}.png" for k in index["key"]]
    with TileStore(real_workspace.tile_store) as store:
        np.testing.assert_array_equal(np.asarray(Image.open(files[0])), store.get(index["key"].iloc[0]))
        assert decode_tile(files[1].read_bytes()).shape == (256, 256, 3)
