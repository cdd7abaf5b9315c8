"""DICOM whole-slide images (issue #14 item 15): the DICOM branch of the reader, and its one-line error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnagan.config import preset
from rnagan.errors import SlideError
from rnagan.slides.reader import DicomReader, open_slide
from rnagan.slides.store import TileStore
from rnagan.slides.tiler import tile_slides
from rnagan.workspace import Workspace


@pytest.mark.parametrize("name", ["damaged.dcm", "damaged_without_suffix"])
def test_a_dicom_neither_library_opens_is_one_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x04\x001.2\0" + b"garbage" * 50)
    with pytest.raises(SlideError) as error:
        open_slide(path)
    message = str(error.value)
    assert message.startswith("neither OpenSlide nor wsidicom can read the DICOM") and "\n" not in message
    assert error.value.__cause__ is None and error.value.__suppress_context__  # no nested second message


@pytest.fixture(scope="module")
def dicom_slide(test_data: Path) -> Path:
    """The bundled SVS converted with wsidicomizer 0.26 (``WsiDicomizer.convert``): its level-0 VOLUME
    instance only, JPEG tiles copied as they were (tests/data/SOURCES.md)."""
    return test_data / "dicom" / "CMU-1-Small-Region"


def test_a_dicom_folder_is_read_by_wsidicom_as_the_svs_it_came_from(dicom_slide: Path, real_slide: Path) -> None:
    with open_slide(dicom_slide) as dicom, open_slide(real_slide) as svs:
        assert isinstance(dicom, DicomReader)  # OpenSlide takes single files; a folder goes to wsidicom
        assert dicom.dimensions == svs.dimensions and dicom.mpp == pytest.approx(svs.mpp)
        np.testing.assert_array_equal(
            dicom.read_region((1000, 900), 0, (300, 200)), svs.read_region((1000, 900), 0, (300, 200))
        )


@pytest.mark.parametrize("which", ["folder (wsidicom)", "file (OpenSlide)"])
def test_dicom_is_tiled_like_the_svs(tmp_path: Path, dicom_slide: Path, real_slide: Path, which: str) -> None:
    config = preset("tiny").tiling
    source = dicom_slide if which.startswith("folder") else dicom_slide / "volume.dcm"
    tiled = {}
    for name, slide in (("dicom", source), ("svs", real_slide)):
        ws = Workspace(tmp_path / name).create()
        summary = tile_slides([slide], ws, config, workers=1)
        assert summary["status"].tolist() == ["done"], summary.get("error")
        index = pd.read_parquet(ws.tile_index)
        with TileStore(ws.tile_store) as store:
            tiled[name] = {key.split("/", 1)[1]: store.get(key) for key in index["key"]}
    assert len(tiled["svs"]) > 10 and tiled["dicom"].keys() == tiled["svs"].keys()
    assert all(np.array_equal(tiled["dicom"][k], tiled["svs"][k]) for k in tiled["svs"])
