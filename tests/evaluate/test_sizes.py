"""Evaluation works at the size each run was trained at, read from its own checkpoint, not the caller's config."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from rnagan.checkpoint import save_checkpoint
from rnagan.config import preset
from rnagan.errors import InputFileError
from rnagan.evaluate import run as evaluate_run
from rnagan.evaluate.sizes import evaluation_image_size, run_image_size
from rnagan.workspace import Workspace


def _trained(ws: Workspace, run: str, image_size: int) -> None:
    """A run's checkpoint trained at ``image_size`` and a manifest of its generated tiles, one tile of that size."""
    config = preset("tiny")
    config.gan.image_size = image_size
    save_checkpoint(ws.gan_run(run) / "checkpoint", tensors={"w": torch.zeros(1)}, config=config)
    _generated(ws, run, image_size)


def _generated(ws: Workspace, run: str, image_size: int) -> None:
    folder = ws.samples_run(run)
    (folder / "tiles").mkdir(parents=True)
    Image.fromarray(np.zeros((image_size, image_size, 3), np.uint8)).save(folder / "tiles" / "0.png")
    row = {"profile": "p", "base_profile": "p", "perturbation": "", "tissue": "lung_n", "split": "test"}
    pd.DataFrame([{**row, "seed": 0, "noise_index": 0, "path": "tiles/0.png"}]).to_csv(folder / "manifest.csv")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws").create()


def test_the_size_is_the_run_checkpoints_not_the_callers(ws: Workspace) -> None:
    _trained(ws, "rnagan", 32)  # tiny
    _trained(ws, "baseline", 32)
    assert run_image_size(ws, "rnagan") == 32
    assert evaluation_image_size(ws, ["rnagan", "baseline"], default=preset("paper").gan.image_size) == 32
    assert evaluation_image_size(ws, [], default=256) == 256  # nothing generated: the config's size


def test_tiles_without_a_checkpoint_are_read_at_their_own_size(ws: Workspace) -> None:
    _generated(ws, "elsewhere", 48)
    assert run_image_size(ws, "elsewhere") == 48


def test_runs_of_different_sizes_are_refused_together_naming_both(ws: Workspace) -> None:
    _trained(ws, "rnagan", 64)
    _trained(ws, "reference", 32)
    with pytest.raises(InputFileError, match=r"runs rnagan \(64 px\) and reference \(32 px\)"):
        evaluation_image_size(ws, ["rnagan", "reference"], default=64)


class _Stop(Exception):
    """Raised where the test has seen what it came for, before any Inception feature is computed."""


def test_evaluate_reads_real_tiles_at_the_runs_size(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    _trained(ws, "rnagan", 32)
    seen = {}

    class _Inception:
        @classmethod
        def load(cls, *args, **kwargs) -> _Inception:
            return cls()

        def describe(self) -> dict[str, str]:
            return dict.fromkeys(
                ("backbone", "weights_file", "weights_sha1", "weights_known_as", "resize", "input_scaling"), "x"
            )

    def real_sets(*args) -> None:
        seen["size"] = args[-1]
        raise _Stop

    monkeypatch.setattr(evaluate_run, "InceptionFeatures", _Inception)
    monkeypatch.setattr(evaluate_run, "real_tiles", lambda workspace: pd.DataFrame())
    monkeypatch.setattr(evaluate_run, "real_sets", real_sets)
    with pytest.raises(_Stop):
        evaluate_run.evaluate(ws, preset("paper"), runs=("rnagan", "reference"))  # the config says 256 px
    assert seen["size"] == 32


def test_evaluate_refuses_runs_of_different_sizes_before_measuring_anything(ws: Workspace) -> None:
    _trained(ws, "rnagan", 64)
    _trained(ws, "baseline", 32)
    with pytest.raises(InputFileError, match=r"rnagan \(64 px\) and baseline \(32 px\)"):
        evaluate_run.evaluate(ws, preset("small"), runs=("rnagan", "baseline"))


def test_tiles_lifted_or_resized_to_the_real_size_are_read_at_their_size_and_smaller_ones_refused(
    ws: Workspace,
) -> None:
    _trained(ws, "rnagan", 32)
    for drawn in (128, 112):  # x4 by an image stage; then resized to real tiles' side (generate.tile_size)
        shutil.rmtree(ws.samples_run("rnagan"))
        _generated(ws, "rnagan", drawn)
        assert run_image_size(ws, "rnagan") == drawn
    shutil.rmtree(ws.samples_run("rnagan"))
    _generated(ws, "rnagan", 16)  # smaller than the run draws: left by an older run
    with pytest.raises(InputFileError, match="tiles are 16 px but it was trained at 32 px: regenerate"):
        run_image_size(ws, "rnagan")
