"""Spatial gene spaces: both rankings, genes kept whatever their rank, and a warning for those not measured."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import get_args

import anndata
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from scipy import sparse
from spatial_fixture import SPLITS, tiny_section

from rnagan.config import preset
from rnagan.errors import InputFileError
from rnagan.expression.genes import GeneSpace, resolve_ids
from rnagan.expression.transform import ExpressionScaler
from rnagan.spatial.genes import HvgFlavor, hvg_space, variable_genes
from rnagan.spatial.importer import expression_file, import_sections
from rnagan.spatial.patches import PatchGeometry
from rnagan.spatial.prepare import prepare_spatial, spaces_holding
from rnagan.workspace import Workspace


def _counts(seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Negative-binomial counts of 60 genes over three orders of magnitude of mean in two sections; every
    even-numbered gene overdispersed (NB size 0.5), the odd ones nearly Poisson (size 50)."""
    rng = np.random.default_rng(seed)
    means = np.logspace(0, 3, 60)
    size = np.where(np.arange(60) % 2 == 0, 0.5, 50.0)
    values = rng.negative_binomial(size, size / (size + means), size=(120, 60))
    columns = [f"G{i:02d}" for i in range(60)]
    return pd.DataFrame(values, columns=columns), pd.Series(["a"] * 60 + ["b"] * 60)


def test_seurat_v3_is_scanpys_ranking_per_section() -> None:
    counts, sections = _counts()
    obs = pd.DataFrame({"section": sections.to_numpy()}, index=[str(i) for i in range(len(counts))])
    adata = anndata.AnnData(counts.to_numpy(dtype=np.float32), obs=obs)
    adata.var_names = counts.columns
    table = sc.pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=12, batch_key="section", inplace=False)
    chosen = variable_genes(counts, sections, 12, "seurat_v3")
    assert set(chosen) == set(table.index[table["highly_variable"]])
    assert set(chosen) <= {f"G{i:02d}" for i in range(0, 60, 2)}  # overdispersed for their mean, at any mean


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("gene_spaces"))
    geometry = PatchGeometry.from_config(preset("tiny").spatial)
    import_sections([tiny_section(s) for s in SPLITS], ws, geometry, splits=SPLITS)
    return ws


def test_include_genes_are_kept_in_the_saved_gene_list_whatever_their_rank(
    imported: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = preset("tiny")
    cfg.spatial.hvg_genes = 20
    plain = prepare_spatial(imported, cfg)
    counts = anndata.read_h5ad(imported.root / "spatial" / "expression.h5ad")
    resolved = resolve_ids(counts.var_names)[0]
    outside = [g for g, r in zip(counts.var_names, resolved, strict=True) if r and r not in plain.matrix.columns][:3]
    assert len(outside) == 3

    cfg.spatial.include_genes = [*outside, "NOTAGENE"]
    with caplog.at_level(logging.WARNING, logger="rnagan.spatial.genes"):
        kept = prepare_spatial(imported, cfg)
    ids = resolve_ids(outside)[0]
    assert set(ids) <= set(kept.matrix.columns) and len(kept.matrix.columns) == len(plain.matrix.columns) + 3
    assert set(ids) <= set(ExpressionScaler.load(imported.scaler).genes_)  # the list the β-VAE will carry
    assert "NOTAGENE" in caplog.text  # named, not dropped silently


def test_hvg_space_refuses_more_genes_than_map() -> None:
    counts, sections = _counts()
    with pytest.raises(InputFileError, match="map to Ensembl"):
        hvg_space(counts, sections, 10)  # G00…: no gene maps


def test_a_refused_perturbation_names_the_gene_spaces_that_would_hold_the_gene(tmp_path: Path) -> None:
    """An import of 120 training spots of 60 protein-coding genes (enough for either ranking's fit)."""
    counts, sections = _counts()
    counts.columns = list(GeneSpace.default().ids[:60])
    ws = Workspace(tmp_path).create()
    obs = pd.DataFrame({"section": sections.to_numpy(), "split": "train"}, index=[f"s{i}" for i in range(120)])
    expression_file(ws).parent.mkdir(parents=True, exist_ok=True)
    anndata.AnnData(
        sparse.csr_matrix(counts.to_numpy(np.float32)), obs=obs, var=pd.DataFrame(index=counts.columns)
    ).write_h5ad(expression_file(ws))
    cfg = preset("tiny")
    cfg.spatial.hvg_genes = 12
    ranked = {f: variable_genes(counts, sections, 12, f) for f in get_args(HvgFlavor)}
    only_v3 = next(g for g in ranked["seurat_v3"] if g not in ranked["seurat"])
    neither = next(g for g in counts.columns if not any(g in chosen for chosen in ranked.values()))

    v3_note = spaces_holding(ws, cfg, only_v3)
    assert "by seurat_v3" in v3_note and "by seurat " not in v3_note and "19,198-gene space" in v3_note
    neither_note = spaces_holding(ws, cfg, neither)
    assert "most variable" not in neither_note and f"--include-genes {neither}" in neither_note
    assert "no gene space holds it" in spaces_holding(ws, cfg, "NOTAGENE")
