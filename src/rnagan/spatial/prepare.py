"""``rnagan spatial prepare``: the imported spots → the workspace's prepared expression, in the chosen gene space.

The same :func:`~rnagan.expression.prepare.prepare_expression` as ``rnagan expr prepare``, with what
spatial counts need: CPM normalisation (raw UMIs of spots of very different depth), the import's fixed
split by section, and the gene space: the 19,198-gene default or the training sections' top variable
genes (:func:`rnagan.spatial.genes.hvg_space`), which the scaler and the VAE checkpoint then carry.
"""

from __future__ import annotations

import logging
from typing import get_args

import pandas as pd

from rnagan.config import Config
from rnagan.errors import InputFileError
from rnagan.expression.genes import GeneSpace, resolve_ids
from rnagan.expression.prepare import PreparedCohort, prepare_expression
from rnagan.spatial.genes import HvgFlavor, hvg_space, variable_genes
from rnagan.spatial.importer import expression_file
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)


def prepare_spatial(workspace: Workspace, config: Config) -> PreparedCohort:
    """Prepare the imported spot counts (``spatial/expression.h5ad``) into ``expression/``.

    CPM-normalised, then as :func:`rnagan.expression.prepare.prepare_expression`; the gene space is the
    training sections' top variable genes (``spatial.genes="hvg"``) or the 19,198-gene space."""
    counts, obs = read_imported(workspace)
    space = _gene_space(counts, obs, config) if config.spatial.genes == "hvg" else GeneSpace.default()
    expression = config.expression.model_copy(update={"normalization": "cpm"})
    if config.spatial.genes == "space":
        expression.min_coverage = min(expression.min_coverage, 0.3)  # spot tables list the detected genes only
    log.info("spatial gene space: %s (%d genes)", config.spatial.genes, len(space))
    return prepare_expression(counts, metadata=obs, workspace=workspace, config=expression, gene_space=space)


def read_imported(workspace: Workspace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(spots × genes raw counts, obs) of the import's ``spatial/expression.h5ad``."""
    import anndata

    path = expression_file(workspace)
    if not path.is_file():
        raise InputFileError(f"{path}: missing; run `rnagan spatial import` first")
    adata = anndata.read_h5ad(path)
    index = pd.Index(adata.obs_names.astype(str), name="sample_id")
    counts = pd.DataFrame(adata.X.toarray(), index=index, columns=adata.var_names.astype(str), copy=False)
    return counts, adata.obs.set_axis(index)


def _gene_space(counts: pd.DataFrame, obs: pd.DataFrame, config: Config) -> GeneSpace:
    if "split" not in obs.columns:
        raise InputFileError(
            "a gene set chosen from the training sections needs the sections' splits: import with --split "
            "(e.g. --split C2=train --split C5=test) or use --genes space"
        )
    train = (obs["split"] == "train").to_numpy()
    spatial = config.spatial
    return hvg_space(
        counts.loc[train],
        obs.loc[train, "section"],
        spatial.hvg_genes,
        flavor=spatial.hvg_flavor,
        include=spatial.include_genes,
        source=str(obs.index.name),
    )


def spaces_holding(workspace: Workspace, config: Config, gene: str) -> str:
    """Which gene spaces would hold ``gene`` (symbol or ID): the sentence a refused perturbation ends with."""
    resolved = resolve_ids([gene])[0][0]
    if resolved is None:
        return "it is no protein-coding gene symbol or Ensembl ID, so no gene space holds it"
    holders = ["the 19,198-gene space (`rnagan spatial prepare --genes space`, or bulk expression)"]
    if expression_file(workspace).is_file():
        variable = _variable_spaces_holding(workspace, config, resolved)
        if variable is None:
            return f"the imported sections do not measure it; of the gene spaces only {holders[0]} lists it"
        holders += [*variable, f"any variable-gene space that keeps it (`--include-genes {gene}`)"]
    return "it is in " + "; ".join(holders) + "; prepare again with one of them, then retrain the VAE and generator"


def _variable_spaces_holding(workspace: Workspace, config: Config, gene_id: str) -> list[str] | None:
    """The ``hvg_flavor`` rankings whose top ``spatial.hvg_genes`` of the training spots include ``gene_id``;
    None when the imported sections do not measure it."""
    counts, obs = read_imported(workspace)
    ids = dict(zip(counts.columns, resolve_ids(counts.columns)[0], strict=True))
    column = next((c for c, i in ids.items() if i == gene_id), None)
    if column is None:
        return None
    train = (obs["split"] == "train").to_numpy() if "split" in obs.columns else slice(None)
    counts, sections = counts.loc[train, [c for c, i in ids.items() if i is not None]], obs.loc[train, "section"]
    k = config.spatial.hvg_genes
    return [
        f"the {k:,} most variable genes by {flavor} (`rnagan spatial prepare --flavor {flavor}`)"
        for flavor in get_args(HvgFlavor)
        if column in variable_genes(counts, sections, k, flavor)
    ]
