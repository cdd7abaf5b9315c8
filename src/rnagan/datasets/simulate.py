"""Simulated RNA-seq counts with a gene program per class, for the demo and the tests.

No public cohort pairs RNA-seq with the bundled H&E tiles, so the demo gives each tissue image a
simulated profile over the real gene space. What the simulation carries is a class signal (a module of
up- and down-regulated genes per class) buried in realistic noise: negative-binomial counts around
log-normal gene means, per-sample library sizes, and donor effects. A model trained on it can show
that tiles follow the expression's class signal, and nothing about real gene–morphology biology.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def simulate_counts(
    sample_ids: Sequence[str],
    labels: Sequence[str],
    genes: Sequence[str],
    *,
    donors: Sequence[str] | None = None,
    module_size: int = 300,
    log2_fold_change: float = 2.0,
    donor_sd: float = 0.3,
    dispersion: float = 0.2,
    mean_library_size: float = 2e7,
    seed: int = 0,
) -> pd.DataFrame:
    """Integer counts, samples × genes, with a class-specific gene module per label.

    Each class gets ``module_size`` genes raised by ``log2_fold_change`` and as many lowered; donors
    shift every gene by N(0, ``donor_sd``²) on the log scale; counts are Gamma–Poisson (negative
    binomial) with the given ``dispersion``.
    """
    if len(sample_ids) != len(labels):
        raise ValueError(f"{len(sample_ids)} sample ids but {len(labels)} labels")
    rng = np.random.default_rng(seed)
    n_genes = len(genes)
    classes = sorted(set(labels))
    if 2 * module_size * len(classes) > n_genes:
        raise ValueError(f"{len(classes)} classes × 2 × {module_size} module genes exceed {n_genes} genes")

    log_mean = rng.normal(loc=np.log(20.0), scale=1.8, size=n_genes)  # log-normal baseline expression
    gene_order = rng.permutation(n_genes)
    class_shift = np.zeros((len(classes), n_genes))
    for c in range(len(classes)):
        up = gene_order[2 * c * module_size : (2 * c + 1) * module_size]
        down = gene_order[(2 * c + 1) * module_size : (2 * c + 2) * module_size]
        class_shift[c, up] = log2_fold_change * np.log(2)
        class_shift[c, down] = -log2_fold_change * np.log(2)

    donor_ids = list(donors) if donors is not None else list(sample_ids)
    donor_effect = {d: rng.normal(0.0, donor_sd, size=n_genes) for d in dict.fromkeys(donor_ids)}
    class_index = {c: i for i, c in enumerate(classes)}

    counts = np.empty((len(sample_ids), n_genes), dtype=np.int64)
    for row, (label, donor) in enumerate(zip(labels, donor_ids, strict=True)):
        mu = np.exp(log_mean + class_shift[class_index[label]] + donor_effect[donor])
        library = mean_library_size * rng.lognormal(0.0, 0.2)
        mu *= library / mu.sum()
        shape = 1.0 / dispersion
        counts[row] = rng.poisson(rng.gamma(shape, mu / shape))
    return pd.DataFrame(counts, index=pd.Index(list(sample_ids), name="sample_id"), columns=list(genes))
