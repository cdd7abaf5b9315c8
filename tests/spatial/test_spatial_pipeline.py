"""The tiny spatial pipeline end to end: import → prepare → β-VAE → GAN → generate → paired evaluation."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from spatial_fixture import SPLITS, tiny_section

from rnagan.config import preset
from rnagan.demo.her2st import FLOOR, shuffled_profiles
from rnagan.evaluate.paired_run import LAYOUT_FILE, PAIRED_FILE, evaluate_paired
from rnagan.gan.train import train_gan
from rnagan.generate import generate_tiles
from rnagan.spatial.importer import import_sections
from rnagan.spatial.patches import PatchGeometry
from rnagan.spatial.prepare import prepare_spatial
from rnagan.vae.train import train_vae
from rnagan.workspace import Workspace

pytestmark = pytest.mark.integration  # import → β-VAE → GAN → evaluation, end to end


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict]:
    ws = Workspace(tmp_path_factory.mktemp("spatial_pipeline"))
    cfg = preset("tiny")
    cfg.spatial.hvg_genes = 100
    cfg.spatial.permutations = 99
    cfg.gan.steps = 4
    cfg.vae.epochs = 2
    import_sections([tiny_section(s) for s in SPLITS], ws, PatchGeometry.from_config(cfg.spatial), splits=SPLITS)
    prepared = prepare_spatial(ws, cfg)
    train_vae(ws, cfg)
    train_gan(ws, cfg, run="rnagan")
    generate_tiles(ws, cfg, run="rnagan", split="test")
    floor = shuffled_profiles(ws, prepared.matrix, prepared.samples, seed=0)
    generate_tiles(ws, cfg, run="rnagan", expression_file=floor, scale="z", out=ws.samples_run(FLOOR))
    with pytest.MonkeyPatch.context() as patch:  # the workspace named relative to the working folder, as typed
        patch.chdir(ws.root.parent)
        relative = Workspace(ws.root.name)
        runs = {"rnagan": relative.samples_run("rnagan"), FLOOR: relative.samples_run(FLOOR)}
        return ws, evaluate_paired(relative, cfg, runs=runs, ours="rnagan", floor=FLOOR)


def test_tiny_spatial_pipeline_scores_every_set_of_the_held_out_section(pipeline: tuple[Workspace, dict]) -> None:
    ws, metrics = pipeline
    assert set(metrics["sets"]) == {"real", "real-shuffled", "rnagan", FLOOR}
    assert metrics["sections"] == ["C5"] and metrics["train_sections"] == ["B4", "C2"]
    for name in ("rnagan", FLOOR):
        scores = metrics["sets"][name]
        assert scores["spots"] == 12
        assert 0.0 <= scores["accuracy"] <= 1.0 and 0.0 <= scores["c2st_accuracy"] <= 1.0
        assert 0.0 < scores["permutation"]["p"] <= 1.0
    assert metrics["headline"]["accuracy_points_over_floor"] is not None
    assert json.loads((ws.reports / PAIRED_FILE).read_text())["sets"].keys() == metrics["sets"].keys()
    assert (ws.reports / LAYOUT_FILE).read_bytes().startswith(b"\x89PNG")


def test_generated_tiles_come_from_held_out_spots_only(pipeline: tuple[Workspace, dict]) -> None:
    ws, _ = pipeline
    manifest = pd.read_csv(ws.samples_run("rnagan") / "manifest.csv")
    assert set(manifest["profile"].str.split("_").str[0]) == {"C5"}
    floor = pd.read_csv(ws.samples_run(FLOOR) / "manifest.csv")
    assert set(floor["profile"]) == set(manifest["profile"])  # same spots, each drawn from another spot's profile
