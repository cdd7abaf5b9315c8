"""A prepared multi-tissue cohort for the β-VAE tests, written as the expression stage would.

The expression stage writes matrix.parquet + samples.csv (+ scaler/); here they are made by hand from
simulated counts: log1p(CPM), z-scored with the train split's mean and population std.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from rnagan.config import Config, preset
from rnagan.datasets.simulate import simulate_counts
from rnagan.workspace import Workspace

TISSUES = ("brain", "liver", "lung", "stomach")
PER_TISSUE = 40
N_GENES = 300


def gene_ids(n: int) -> list[str]:
    """The first ``n`` genes of the bundled gene space, as unversioned Ensembl IDs."""
    path = Path(str(resources.files("rnagan.datasets") / "data" / "rnagan_protein_coding_genes.csv"))
    raw = pd.read_csv(path, nrows=n)["Gene"]
    return [g.removeprefix("rna_").split(".")[0] for g in raw]


def write_prepared(ws: Workspace, *, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write expression/matrix.parquet and samples.csv for a simulated 4-tissue cohort."""
    tissues = [t for t in TISSUES for _ in range(PER_TISSUE)]
    ids = [f"S{i:03d}" for i in range(len(tissues))]
    counts = simulate_counts(ids, tissues, gene_ids(N_GENES), module_size=30, seed=seed)
    logged = np.log1p(counts.div(counts.sum(axis=1), axis=0) * 1e6)
    split = np.array((["train"] * 24 + ["val"] * 8 + ["test"] * 8) * len(TISSUES))
    samples = pd.DataFrame({"sample_id": ids, "donor_id": [f"D{i}" for i in range(len(ids))],
                            "tissue": tissues, "split": split})
    train = logged[split == "train"]
    std = train.std(ddof=0).replace(0.0, 1.0)
    matrix = ((logged - train.mean()) / std).astype(np.float32)
    ws.expression.mkdir(parents=True, exist_ok=True)
    matrix.to_parquet(ws.expression_matrix)
    samples.to_csv(ws.samples_table, index=False)
    return matrix, samples


def tiny_config(**vae: object) -> Config:
    cfg = preset("tiny")
    for key, value in {"epochs": 6, **vae}.items():
        setattr(cfg.vae, key, value)
    return cfg
