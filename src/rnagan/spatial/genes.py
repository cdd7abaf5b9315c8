"""A data-driven gene space for spatial cohorts: the training sections' most variable genes.

Spatial users select highly variable genes rather than a fixed list: spots measure a few thousand genes
each, most of the 19,198 protein-coding genes are zero in most spots, and the variable ones carry the
tissue structure. The ranking is scanpy's ``flavor="seurat"`` (dispersion of CPM-normalised counts,
z-scored within 20 bins of mean expression), computed per training section and averaged, so one
section's batch effect does not pick the genes. Only genes with an Ensembl ID in the symbol table can
enter a gene space; the chosen list is stored with the model like the default one (the scaler's and
the VAE checkpoint's gene list).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnagan.errors import InputFileError
from rnagan.expression.genes import GeneSpace, resolve_ids

N_BINS = 20


def normalized_dispersion(counts: pd.DataFrame) -> pd.Series:
    """Seurat-flavour normalised dispersion of each gene over the spots of ``counts`` (raw counts)."""
    depth = counts.sum(axis=1).replace(0, 1)
    cpm = counts.div(depth, axis=0) * 1e4
    mean = cpm.mean(axis=0)
    dispersion = np.log(cpm.var(axis=0) / mean.replace(0, np.nan))
    bins = pd.cut(np.log1p(mean), N_BINS)
    grouped = dispersion.groupby(bins, observed=True)
    z = (dispersion - grouped.transform("mean")) / grouped.transform("std")
    return z.fillna(0.0).where(mean > 0, -np.inf)


def variable_genes(counts: pd.DataFrame, sections: pd.Series, k: int) -> list[str]:
    """The ``k`` columns of ``counts`` with the highest mean normalised dispersion across ``sections``."""
    per_section = [normalized_dispersion(counts.loc[sections == s]) for s in pd.unique(sections)]
    score = pd.concat(per_section, axis=1).mean(axis=1)
    return score.sort_values(ascending=False, kind="stable").index[:k].tolist()


def hvg_space(counts: pd.DataFrame, sections: pd.Series, k: int, *, source: str = "spatial counts") -> GeneSpace:
    """A :class:`GeneSpace` of the ``k`` most variable genes (of ``counts``, the training spots) that map to Ensembl."""
    resolved, _ = resolve_ids(counts.columns)
    mapped = [c for c, r in zip(counts.columns, resolved, strict=True) if r is not None]
    if len(mapped) < k:
        raise InputFileError(f"{source}: only {len(mapped)} genes map to Ensembl IDs, fewer than the {k} asked for")
    genes = variable_genes(counts[mapped], sections, k)
    ids = dict(zip(counts.columns, resolved, strict=True))
    return GeneSpace.from_ids(list(dict.fromkeys(ids[g] for g in genes)))
