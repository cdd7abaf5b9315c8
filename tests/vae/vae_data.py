"""A prepared multi-tissue cohort for the β-VAE tests, written as the expression stage would.

Simulated counts → CPM → the expression stage's own ExpressionScaler (log1p, z-score fitted on the
train split) → expression/{matrix.parquet, samples.csv, scaler/}.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnagan.config import Config, preset
from rnagan.datasets.simulate import simulate_counts
from rnagan.expression.genes import GeneSpace
from rnagan.expression.transform import ExpressionScaler
from rnagan.workspace import Workspace

TISSUES = ("brain", "liver", "lung", "stomach")
PER_TISSUE = 40
N_GENES = 300


def gene_ids(n: int) -> list[str]:
    """The first ``n`` genes of the bundled gene space, as the pipeline names them (unversioned Ensembl)."""
    return list(GeneSpace.default().ids[:n])


def write_prepared(ws: Workspace, *, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write expression/matrix.parquet, samples.csv and scaler/ for a simulated 4-tissue cohort."""
    tissues = [t for t in TISSUES for _ in range(PER_TISSUE)]
    ids = [f"S{i:03d}" for i in range(len(tissues))]
    counts = simulate_counts(ids, tissues, gene_ids(N_GENES), module_size=30, seed=seed)
    cpm = counts.div(counts.sum(axis=1), axis=0) * 1e6
    split = np.array((["train"] * 24 + ["val"] * 8 + ["test"] * 8) * len(TISSUES))
    samples = pd.DataFrame(
        {"sample_id": ids, "donor_id": [f"D{i}" for i in range(len(ids))], "tissue": tissues, "split": split}
    )
    scaler = ExpressionScaler(log_transform="log1p", normalization="cpm").fit(cpm[split == "train"])
    matrix = scaler.transform(cpm)
    scaler.save(ws.scaler)
    ws.expression.mkdir(parents=True, exist_ok=True)
    matrix.to_parquet(ws.expression_matrix)
    samples.to_csv(ws.samples_table, index=False)
    return matrix, samples


def tiny_config(**vae: object) -> Config:
    cfg = preset("tiny")
    for key, value in {"epochs": 6, **vae}.items():
        setattr(cfg.vae, key, value)
    return cfg
