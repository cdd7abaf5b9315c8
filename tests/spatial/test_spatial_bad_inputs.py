"""Bad spatial inputs: one clear line naming the file and the fix, and nothing written."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from spatial_fixture import MPP, files, tiny_section, write_h5ad

from rnagan.errors import InputFileError
from rnagan.spatial.importer import import_sections
from rnagan.spatial.patches import PatchGeometry
from rnagan.spatial.readers import read_anndata_section, read_table_section
from rnagan.spatial.section import Section
from rnagan.workspace import Workspace


def _read(
    tmp_path: Path, *, spots: pd.DataFrame | None = None, counts: pd.DataFrame | None = None, mpp: float | None = MPP
) -> Section:
    image, spot_file, count_file = files("C5")
    if spots is not None:
        spot_file = tmp_path / "spots.tsv"
        spots.to_csv(spot_file, sep="\t")
    if counts is not None:
        count_file = tmp_path / "counts.tsv.gz"
        counts.to_csv(count_file, sep="\t")
    return read_table_section(image, spot_file, count_file, mpp=mpp, section_id="C5")


def _tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    _, spots, counts = files("C5")
    return pd.read_csv(spots, sep="\t", index_col=0), pd.read_csv(counts, sep="\t", index_col=0)


def test_spot_ids_that_do_not_match_the_counts_say_how_many_matched(tmp_path: Path) -> None:
    spots, _ = _tables()
    renamed = spots.set_axis(
        pd.Index([f"s{i}" if i < 9 else s for i, s in enumerate(spots.index)], name="spot"), axis=0
    )
    with pytest.raises(InputFileError, match=r"spots.tsv: only 3 of 12 spot ids match the 12 rows of .*counts"):
        _read(tmp_path, spots=renamed)


def test_spots_off_the_image_are_refused_with_their_count(tmp_path: Path) -> None:
    spots, _ = _tables()
    spots.iloc[:2, spots.columns.get_loc("pixel_x")] += 5000
    section = _read(tmp_path, spots=spots)
    with pytest.raises(InputFileError, match=r"2 of 12 spots lie off the 640×480 px image .*C5_HE.jpg"):
        import_sections([section], Workspace(tmp_path / "ws"), PatchGeometry())
    assert not (tmp_path / "ws" / "tiles" / "store.lmdb").exists()  # nothing half written
    assert not (tmp_path / "ws" / "spatial").exists()


def test_an_image_without_resolution_asks_for_mpp(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"C5_HE.jpg: the image states no trustworthy resolution .*pass --mpp"):
        _read(tmp_path, mpp=None)


def test_text_and_negative_counts_are_refused_naming_the_cell(tmp_path: Path) -> None:
    _, counts = _tables()
    text = counts.astype(object)
    text.iloc[3, 5] = "lots"
    with pytest.raises(
        InputFileError,
        match=rf"counts.tsv.gz: counts must be numbers.*spot {counts.index[3]}, gene {counts.columns[5]}",
    ):
        _read(tmp_path, counts=text)
    negative = counts.copy()
    negative.iloc[2, 4] = -1
    with pytest.raises(InputFileError, match=r"counts.tsv.gz: 1 negative values"):
        _read(tmp_path, counts=negative)


def test_anndata_without_obsm_spatial_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = write_h5ad("C5", tmp_path / "bare.h5ad", with_spatial=False)
    with pytest.raises(InputFileError, match=r"bare.h5ad: no obsm\['spatial'\].*store them there"):
        read_anndata_section(path)


@pytest.mark.integration  # a fresh `python -m rnagan`
def test_the_cli_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    image, spots, counts = files("C5")
    command = [
        sys.executable,
        "-m",
        "rnagan",
        "spatial",
        "import",
        "-w",
        str(tmp_path / "ws"),
        "--image",
        str(image),
        "--spots",
        str(spots),
        "--counts",
        str(counts),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pass --mpp" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "ws" / "tiles" / "store.lmdb").exists()


def test_a_section_missing_from_the_split_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"--split must give every section .*missing: C5"):
        import_sections([tiny_section("C5")], Workspace(tmp_path / "ws"), PatchGeometry(), splits={"C2": "train"})


def test_gzip_fixture_is_what_the_tests_assume() -> None:
    with gzip.open(files("C5")[2], "rt") as handle:
        assert handle.readline().startswith("spot\t")
