"""The paired probe on REAL patches: its ceiling (true spot pairing) beats its floor (spots shuffled)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnagan.config import preset
from rnagan.evaluate.paired import Probe, Targets, column_r, permutation_p, set_scores
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


@pytest.mark.integration  # imports and probes real sections
def test_probe_ceiling_beats_its_floor_on_real_patches(real_only: dict) -> None:
    real, floor = real_only["sets"]["real"], real_only["sets"]["real-shuffled"]
    assert real["spots"] == floor["spots"] == 181
    assert real["marker_r_mean"] > floor["marker_r_mean"] + 0.15
    assert real["gene_r_mean"] > floor["gene_r_mean"]
    assert real["accuracy"] > floor["accuracy"]
    assert real["balanced_accuracy"] > floor["balanced_accuracy"]
    assert real["cluster_auc"] > floor["cluster_auc"]
    assert real_only["train_sections"] == ["B4", "C3"] and real_only["sections"] == ["C5"]


def test_permutation_p_is_small_for_paired_and_large_for_noise() -> None:
    rng = np.random.default_rng(0)
    measured = pd.DataFrame(rng.normal(size=(100, 3)), columns=list("abc"))
    paired = measured + rng.normal(scale=0.5, size=measured.shape)
    noise = pd.DataFrame(rng.normal(size=(100, 3)), columns=list("abc"))
    assert permutation_p(paired, measured, permutations=199, seed=0)["p"] == pytest.approx(1 / 200)
    assert permutation_p(noise, measured, permutations=199, seed=0)["p"] > 0.05
    np.testing.assert_allclose(column_r(measured.to_numpy(), measured.to_numpy()), 1.0)


def test_naming_every_spot_by_the_commonest_class_is_balanced_chance() -> None:
    spots = pd.Index([f"s{i}" for i in range(10)], name="spot")
    labels = pd.Series(["immune"] * 7 + ["cancer"] * 3, index=spots)
    targets = Targets(
        genes=pd.DataFrame({"g": np.arange(10.0)}, index=spots),
        markers=pd.DataFrame({"immune": np.arange(10.0)}, index=spots),
        labels=labels,
        split=pd.Series("test", index=spots),
    )
    probe = Probe(regression=None, classifier=None, gene_columns=["g"], marker_columns=["immune"])
    values = pd.DataFrame({"g": np.arange(10.0), "immune": np.arange(10.0)}, index=spots)
    always_immune = pd.DataFrame({"cancer": 0.2, "immune": 0.8}, index=spots)
    scores = set_scores(probe, values, always_immune, targets)
    assert scores["accuracy"] == pytest.approx(0.7)
    assert scores["balanced_accuracy"] == pytest.approx(0.5)
    assert scores["cluster_auc"] == pytest.approx(0.5)  # one probability for every spot ranks none above another
    ranked = pd.DataFrame({"cancer": np.r_[np.zeros(7), np.ones(3)], "immune": np.r_[np.ones(7), np.zeros(3)]}, spots)
    assert set_scores(probe, values, ranked * 0.1 + 0.45, targets)["cluster_auc"] == pytest.approx(1.0)
