"""``rnagan spatial prepare``: the imported spots → the workspace's prepared expression, in the chosen gene space.

The same :func:`~rnagan.expression.prepare.prepare_expression` as ``rnagan expr prepare``, with what
spatial counts need: CPM normalisation (raw UMIs of spots of very different depth), the import's fixed
split by section, and the gene space: the 19,198-gene default or the training sections' top variable
genes (:func:`rnagan.spatial.genes.hvg_space`), which the scaler and the VAE checkpoint then carry.
"""

from __future__ import annotations

import logging

import pandas as pd

from rnagan.config import Config
from rnagan.errors import InputFileError
from rnagan.expression.genes import GeneSpace
from rnagan.expression.prepare import PreparedCohort, prepare_expression
from rnagan.spatial.genes import hvg_space
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
