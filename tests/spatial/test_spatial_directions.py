"""In a spatial workspace a module's direction is learned from the import's raw counts, every measured gene."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from spatial_fixture import SPLITS, tiny_section

from rnagan.config import preset
from rnagan.datasets.her2st import MARKERS
from rnagan.directions import learn_directions
from rnagan.spatial.importer import import_sections
from rnagan.spatial.patches import PatchGeometry
from rnagan.spatial.prepare import read_imported
from rnagan.workspace import Workspace


def test_immune_direction_follows_the_immunoglobulin_counts(tmp_path: Path) -> None:
    cfg = preset("tiny")
    ws = Workspace(tmp_path / "ws").create()
    import_sections([tiny_section(s) for s in SPLITS], ws, PatchGeometry.from_config(cfg.spatial), splits=SPLITS)
    counts, obs = read_imported(ws)
    train = obs.index[obs["split"] == "train"]
    genes = [g for g in MARKERS["immune"] if g in counts.columns]  # immunoglobulins: in no model gene space
    assert len(genes) >= 3
    logged = np.log1p(counts.div(counts.sum(axis=1).replace(0, 1), axis=0) * 1e4)
    z = (logged[genes] - logged.loc[train, genes].mean()) / logged.loc[train, genes].std().replace(0, 1)
    immune = z.mean(axis=1)
    rng = np.random.default_rng(0)
    v = np.eye(8)[2]
    mu = 0.3 * rng.standard_normal((len(obs), 8)) + immune.to_numpy()[:, None] * v
    ws.samples_table.parent.mkdir(parents=True, exist_ok=True)
    obs.assign(tissue=obs["tissue"].astype(str)).rename_axis("sample_id")[["tissue", "split"]].to_csv(ws.samples_table)
    ws.latents.parent.mkdir(parents=True, exist_ok=True)
    latents = pd.DataFrame(mu, index=obs.index, columns=[f"mu_{k}" for k in range(8)]).rename_axis("sample_id")
    latents.reset_index().to_parquet(ws.latents, index=False)
    direction = learn_directions(ws, ["immune"])["immune"]
    assert direction.source == "genes (spatial counts)" and set(direction.genes) == set(genes)
    assert direction.samples == len(train) and direction.unit @ v > 0.9
