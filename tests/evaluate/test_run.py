"""``evaluate`` end to end on a real tiny workspace: metrics.json, a self-contained report, a planted copy.

Slow (a β-VAE, two GAN runs and Inception on ~100 tiles): run with ``pytest -m slow``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from rnagan.config import preset
from rnagan.demo.pipeline import build_cohort, training_tiles
from rnagan.evaluate.run import evaluate, real_tiles
from rnagan.expression.genes import GeneSpace
from rnagan.expression.prepare import prepare_expression
from rnagan.gan.train import train_gan
from rnagan.generate import generate_tiles
from rnagan.slides.augment import resize_tiles
from rnagan.slides.folder import import_tiles
from rnagan.slides.store import TileStore
from rnagan.vae.train import train_vae
from rnagan.workspace import Workspace

pytestmark = pytest.mark.slow


def test_evaluate_writes_metrics_and_a_self_contained_report(tmp_path: Path, inception) -> None:
    cfg = preset("tiny")
    cfg.demo.samples_per_class, cfg.demo.samples_per_donor = 8, 2
    cfg.vae.epochs, cfg.gan.steps = 1, 2
    ws = Workspace(tmp_path / "ws").create()
    cohort = build_cohort(cfg.demo, list(GeneSpace.default().ids))
    prepared = prepare_expression(
        cohort.counts, metadata=cohort.samples, workspace=ws, config=cfg.expression, gene_space=GeneSpace.default()
    )
    import_tiles(training_tiles(cohort.tiles, prepared.samples.reset_index()), ws, image_format="jpeg")
    train_vae(ws, cfg, device="cpu")
    for run, conditioning in (("rnagan", "projection"), ("baseline", "none")):
        run_cfg = cfg.model_copy(deep=True)
        run_cfg.gan.conditioning = conditioning
        train_gan(ws, run_cfg, run=run, device="cpu")
        run_cfg.generate.tile_format = "store" if run == "rnagan" else "png"  # evaluation reads both kinds
        generate_tiles(
            ws, run_cfg, run=run, split="test", perturbations=["TP53=+2"] if run == "rnagan" else (), device="cpu"
        )
    assert not (ws.samples_run("rnagan") / "tiles").exists() and (ws.samples_run("rnagan") / "store.lmdb").is_dir()

    # plant a copy of a tile the baseline trained on among its generated tiles
    key = pd.read_csv(ws.gan_run("baseline") / "checkpoint" / "training_tiles.csv")["key"].iloc[0]
    assert key in set(real_tiles(ws).query("split == 'train'")["key"])
    folder = ws.samples_run("baseline")
    with TileStore(ws.tile_store) as store:  # as the GAN would draw it: at the run's size
        tile = torch.from_numpy(np.array(store.get(key))).permute(2, 0, 1)
    planted = resize_tiles(tile[None], cfg.gan.image_size)[0].permute(1, 2, 0).numpy()
    Image.fromarray(planted).save(folder / "tiles" / "planted.png")
    manifest = pd.read_csv(folder / "manifest.csv", keep_default_na=False)
    row = manifest.iloc[[0]].assign(profile="planted", path="tiles/planted.png", split="")
    pd.concat([row, manifest]).to_csv(folder / "manifest.csv", index=False)

    cfg.evaluate.fid_max_images = None  # every tile, so the planted one is measured
    cfg.evaluate.stream_chunk = 7  # the training tiles are searched in several chunks
    metrics = evaluate(ws, cfg, runs=("rnagan", "reference", "baseline"))

    saved = json.loads(ws.metrics.read_text())
    assert saved["runs"]["reference"]["status"] == "missing"
    for run in ("rnagan", "baseline"):
        entry = saved["runs"][run]
        assert entry["fid"]["value"] > 0 and entry["fid"]["weights_sha1"] == inception.weights_sha1
        assert entry["conditioning"] is not None and entry["memorisation"]["n_generated"] == entry["n_tiles"]
        trained_on = pd.read_csv(ws.gan_run(run) / "checkpoint" / "training_tiles.csv")
        assert entry["memorisation"]["n_train"] == len(trained_on) > 7  # every tile the run saw, not a draw
    assert metrics.runs["baseline"].memorisation.n_flagged >= 1
    assert metrics.runs["baseline"].image_size == cfg.gan.image_size
    html = ws.evaluation_html.read_text()
    assert "data:image/png;base64," in html and "In-silico perturbations" in html
    rows = [e["conditioning"]["per_tissue"] for e in saved["runs"].values() if e.get("conditioning")]
    assert html.count("<small>called ") == sum(len(per_tissue) for per_tissue in rows)  # confusion rows shown
    assert not re.search(r'(src|href)="(?!data:)', html)  # nothing outside the page
    shutil.rmtree(ws.reports / "cache")
