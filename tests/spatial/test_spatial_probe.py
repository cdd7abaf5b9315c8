"""The paired probe on REAL patches: its ceiling (true spot pairing) beats its floor (spots shuffled)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnagan.config import preset
from rnagan.evaluate.paired import column_r, permutation_p
from rnagan.evaluate.paired_run import evaluate_paired
from rnagan.spatial.importer import import_sections
from rnagan.spatial.patches import PatchGeometry
from rnagan.spatial.readers import read_bundled
from rnagan.workspace import Workspace

SPLITS = {"C3": "train", "B4": "train", "C4": "val", "C5": "test"}


@pytest.fixture(scope="module")
def real_only(tmp_path_factory: pytest.TempPathFactory) -> dict:
    ws = Workspace(tmp_path_factory.mktemp("probe"))
    import_sections(read_bundled(tuple(SPLITS)), ws, PatchGeometry(), splits=SPLITS)
    cfg = preset("tiny")
    cfg.gan.image_size = 64
    cfg.spatial.permutations = 199
    return evaluate_paired(ws, cfg, runs={})


def test_probe_ceiling_beats_its_floor_on_real_patches(real_only: dict) -> None:
    real, floor = real_only["sets"]["real"], real_only["sets"]["real-shuffled"]
    assert real["spots"] == floor["spots"] == 181
    assert real["marker_r_mean"] > floor["marker_r_mean"] + 0.15
    assert real["gene_r_mean"] > floor["gene_r_mean"]
    assert real["accuracy"] > floor["accuracy"]
    assert real_only["train_sections"] == ["B4", "C3"] and real_only["sections"] == ["C5"]


def test_permutation_p_is_small_for_paired_and_large_for_noise() -> None:
    rng = np.random.default_rng(0)
    measured = pd.DataFrame(rng.normal(size=(100, 3)), columns=list("abc"))
    paired = measured + rng.normal(scale=0.5, size=measured.shape)
    noise = pd.DataFrame(rng.normal(size=(100, 3)), columns=list("abc"))
    assert permutation_p(paired, measured, permutations=199, seed=0)["p"] == pytest.approx(1 / 200)
    assert permutation_p(noise, measured, permutations=199, seed=0)["p"] > 0.05
    np.testing.assert_allclose(column_r(measured.to_numpy(), measured.to_numpy()), 1.0)
