"""A data-driven gene space for spatial cohorts: the training sections' most variable genes.

Spatial users select highly variable genes rather than a fixed list: spots measure a few thousand genes
each, most of the 19,198 protein-coding genes are zero in most spots, and the variable ones carry the
tissue structure. Two rankings, both per training section so one section's batch effect does not pick
the genes: ``seurat`` (dispersion of CPM-normalised counts, z-scored within 20 bins of mean expression,
averaged over sections), and scanpy's ``seurat_v3`` (variance of raw counts standardised by a loess fit
of variance on mean, ranked within each section and combined by scanpy), which keeps highly expressed
variable genes such as keratins and collagens that the dispersion ranking passes over. Genes a user
names (a marker panel) are kept whatever their rank. Only genes with an Ensembl ID in the symbol table can
enter a gene space; the chosen list is stored with the model like the default one (the scaler's and
the VAE checkpoint's gene list).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from rnagan.errors import InputFileError
from rnagan.expression.genes import GeneSpace, resolve_ids

log = logging.getLogger(__name__)

N_BINS = 20
HvgFlavor = Literal["seurat", "seurat_v3"]


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


def variable_genes(counts: pd.DataFrame, sections: pd.Series, k: int, flavor: HvgFlavor = "seurat") -> list[str]:
    """The ``k`` most variable columns of ``counts`` (raw counts) across ``sections``, by ``flavor``."""
    if flavor == "seurat_v3":
        return _seurat_v3(counts, sections, k)
    per_section = [normalized_dispersion(counts.loc[sections == s]) for s in pd.unique(sections)]
    score = pd.concat(per_section, axis=1).mean(axis=1)
    return score.sort_values(ascending=False, kind="stable").index[:k].tolist()


def _seurat_v3(counts: pd.DataFrame, sections: pd.Series, k: int) -> list[str]:
    """scanpy's ``seurat_v3`` ranking with each section as a batch (scanpy's own median-rank combination)."""
    import anndata
    import scanpy as sc

    obs = pd.DataFrame({"section": sections.astype(str).to_numpy()}, index=[str(i) for i in range(len(counts))])
    adata = anndata.AnnData(counts.to_numpy(dtype=np.float32), obs=obs)
    adata.var_names = counts.columns.astype(str)
    table = sc.pp.highly_variable_genes(
        adata, flavor="seurat_v3", n_top_genes=min(k, counts.shape[1]), batch_key="section", inplace=False
    )
    ranked = table[table["highly_variable"]].sort_values(
        ["highly_variable_nbatches", "highly_variable_rank"], ascending=[False, True], kind="stable"
    )
    return ranked.index.tolist()


def hvg_space(
    counts: pd.DataFrame,
    sections: pd.Series,
    k: int,
    *,
    flavor: HvgFlavor = "seurat",
    include: Sequence[str] = (),
    source: str = "spatial counts",
) -> GeneSpace:
    """A :class:`GeneSpace` of the ``k`` most variable genes (of ``counts``, the training spots) that map to Ensembl,
    plus every ``include`` gene (symbol or ID) the counts measure; one they lack is named in a warning."""
    resolved, _ = resolve_ids(counts.columns)
    mapped = [c for c, r in zip(counts.columns, resolved, strict=True) if r is not None]
    if len(mapped) < k:
        raise InputFileError(f"{source}: only {len(mapped)} genes map to Ensembl IDs, fewer than the {k} asked for")
    ids = dict(zip(counts.columns, resolved, strict=True))
    measured = {ids[c] for c in mapped}
    include_ids = resolve_ids(list(include))[0]
    named = list(zip(include, include_ids, strict=True))
    for missing, why in (
        ([g for g, r in named if r is None], "have no protein-coding Ensembl ID (no gene space holds them)"),
        ([g for g, r in named if r is not None and r not in measured], "are not measured there"),
    ):
        if missing:
            log.warning("%s: %d genes to keep %s: %s", source, len(missing), why, ", ".join(missing))
    genes = variable_genes(counts[mapped], sections, k, flavor)
    kept = [r for r in include_ids if r in measured]
    return GeneSpace.from_ids(list(dict.fromkeys([*(ids[g] for g in genes), *kept])))
