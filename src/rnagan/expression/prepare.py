"""``rnagan expr prepare``: any expression table → the workspace's aligned, scaled matrix and splits.

Steps: read (any format) → check values → normalise (CPM/TPM, optional) → align to the gene space →
split by donor within tissue (or take the metadata's own ``split`` column, e.g. spatial sections) →
fit the scaler on train only → z-score every sample. Everything is computed before anything is
written, and each file is written atomically, so a refused input leaves the workspace as it was.
Files (see :class:`rnagan.workspace.Workspace`)::

    expression/matrix.parquet   index sample_id; columns = gene space IDs in order; float32 z-scores
    expression/samples.csv      sample_id, donor_id, tissue, split
    expression/scaler/          ExpressionScaler.save()
    expression/coverage.json    CoverageReport.to_dict()

Later stages use :func:`load_prepared`, and :func:`apply_to_cohort` scales any other cohort the
same way (generation, ``vae encode``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rnagan.config import ExpressionConfig
from rnagan.errors import InputFileError
from rnagan.expression.genes import CoverageReport, GeneSpace
from rnagan.expression.io import (
    check_values,
    normalize_metadata,
    read_expression_and_metadata,
    read_metadata,
    to_linear,
)
from rnagan.expression.splits import SPLITS, make_splits
from rnagan.expression.transform import ExpressionScaler, normalize
from rnagan.fileio import atomic_dir, atomic_path, write_json_atomic
from rnagan.workspace import Workspace, read_samples

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = ("sample_id", "donor_id", "tissue", "split")


@dataclass
class PreparedCohort:
    """The prepared expression of a cohort: z-scores, sample table, and the scaler that made them."""

    matrix: pd.DataFrame  # samples × gene space, float32 z-scores, index sample_id
    samples: pd.DataFrame  # index sample_id; donor_id, tissue, split
    scaler: ExpressionScaler
    coverage: CoverageReport | None = None


def prepare_expression(
    expression: str | Path | pd.DataFrame,
    *,
    workspace: Workspace,
    config: ExpressionConfig,
    metadata: str | Path | pd.DataFrame | None = None,
    gene_space: GeneSpace | None = None,
    gtf: str | Path | None = None,
    tissue: str | None = None,
) -> PreparedCohort:
    """Prepare ``expression`` (a file or a samples × genes DataFrame) into ``workspace``.

    Metadata comes from ``metadata`` (file or DataFrame), else from the expression file itself, else
    is made up: tissue ``tissue`` (or ``"unknown"``) and the donor from GTEx IDs (or the sample).
    """
    space = gene_space or GeneSpace.default()
    frame, source, own_metadata = _load(expression, config)
    samples = _samples_for(frame, metadata if metadata is not None else own_metadata, source, tissue=tissue)
    normalized = normalize(frame, config.normalization, gtf=gtf)
    del frame  # the aligned copy is all we need from here on (large cohorts)
    aligned, report = space.align(
        normalized, duplicates=config.duplicates, min_coverage=config.min_coverage, gtf=gtf, source=source
    )
    del normalized
    samples["split"] = (
        _fixed_splits(samples, source)
        if "split" in samples
        else make_splits(samples, fractions=config.split_fractions, seed=config.seed)
    )
    train = (samples["split"] == "train").to_numpy()
    scaler = ExpressionScaler(log_transform=config.log_transform, normalization=config.normalization)
    scaler.fit(aligned.loc[train])
    matrix = scaler.transform(aligned)
    matrix.index.name = "sample_id"
    _write(workspace, matrix=matrix, samples=samples, scaler=scaler, report=report)
    counts = samples["split"].value_counts()
    log.info(
        "prepared %d samples (train %d, val %d, test %d): %s",
        len(samples),
        counts.get("train", 0),
        counts.get("val", 0),
        counts.get("test", 0),
        report.summary(),
    )
    return PreparedCohort(matrix=matrix, samples=samples, scaler=scaler, coverage=report)


def _load(
    expression: str | Path | pd.DataFrame, config: ExpressionConfig
) -> tuple[pd.DataFrame, str, pd.DataFrame | None]:
    if isinstance(expression, pd.DataFrame):
        frame = expression.copy(deep=False)
        frame.index = pd.Index(frame.index.astype(str), name="sample_id")
        frame = to_linear(frame, config.input_scale, source="expression DataFrame")
        check_values(frame, source="expression DataFrame")
        return frame, "expression DataFrame", None
    frame, own = read_expression_and_metadata(
        expression,
        orientation=config.orientation,
        input_scale=config.input_scale,
        metadata_columns=config.metadata_columns,
    )
    return frame, str(expression), own


def _fixed_splits(samples: pd.DataFrame, source: str) -> pd.Series:
    """The metadata's own ``split`` column (e.g. spatial sections), checked: every sample train/val/test."""
    split = samples["split"].astype(str)
    bad = split[~split.isin(SPLITS)]
    if len(bad):
        raise InputFileError(
            f"{source}: split must be one of {', '.join(SPLITS)}; sample {bad.index[0]} has {bad.iloc[0]!r}"
        )
    if not (split == "train").any():
        raise InputFileError(f"{source}: the split column names no train sample")
    return split


def _samples_for(
    frame: pd.DataFrame, metadata: str | Path | pd.DataFrame | None, source: str, *, tissue: str | None
) -> pd.DataFrame:
    """``donor_id``, ``tissue`` for every expression sample, in the expression's order."""
    if metadata is None:
        table = normalize_metadata(pd.DataFrame(index=frame.index), source=source, tissue=tissue)
        meta_source = source
    elif isinstance(metadata, pd.DataFrame):
        table, meta_source = normalize_metadata(metadata, source="metadata DataFrame", tissue=tissue), "metadata"
    else:
        table, meta_source = read_metadata(metadata), str(metadata)
    absent = frame.index.difference(table.index)
    if len(absent):
        raise InputFileError(
            f"{meta_source}: {len(absent)} of {len(frame)} expression samples have no metadata "
            f"(e.g. {', '.join(absent[:3])}; metadata has e.g. {', '.join(table.index[:3])})"
        )
    return table.loc[frame.index].copy()


def _write(
    workspace: Workspace,
    *,
    matrix: pd.DataFrame,
    samples: pd.DataFrame,
    scaler: ExpressionScaler,
    report: CoverageReport,
) -> None:
    with atomic_dir(workspace.scaler) as tmp:
        scaler.save(tmp)
    with atomic_path(workspace.expression_matrix, suffix=".parquet") as tmp:
        pq.write_table(_matrix_table(matrix), tmp)
    with atomic_path(workspace.samples_table, suffix=".csv") as tmp:
        samples.reset_index()[list(SAMPLE_COLUMNS)].to_csv(tmp, index=False)
    write_json_atomic(workspace.coverage_report, report.to_dict())


def _matrix_table(matrix: pd.DataFrame) -> pa.Table:
    """The float32 matrix as an Arrow table that ``pd.read_parquet`` reads back with its index.

    Same file as ``DataFrame.to_parquet``, built from the array column by column: pandas'
    converter inspects every column separately and takes ~10 s for 19,198 of them.
    """
    meta = pa.Schema.from_pandas(matrix.iloc[:0, :1], preserve_index=True).pandas_metadata
    template = meta["columns"][0]
    meta["columns"] = [{**template, "name": g, "field_name": g} for g in matrix.columns] + meta["columns"][1:]
    columns = np.asfortranarray(matrix.to_numpy(dtype=np.float32))
    arrays = [pa.array(columns[:, j]) for j in range(columns.shape[1])]
    arrays.append(pa.array(matrix.index.to_numpy(dtype=object), pa.string()))
    fields = [pa.field(str(g), pa.float32()) for g in matrix.columns] + [pa.field(matrix.index.name, pa.string())]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata={b"pandas": json.dumps(meta).encode()}))


def load_prepared(workspace: Workspace) -> PreparedCohort:
    """Read what :func:`prepare_expression` wrote, checking the files agree with each other."""
    if not workspace.expression_matrix.is_file():
        raise InputFileError(f"{workspace.expression_matrix}: missing; run `rnagan expr prepare` first")
    matrix = pd.read_parquet(workspace.expression_matrix)
    samples = read_samples(workspace)
    scaler = ExpressionScaler.load(workspace.scaler)
    if not matrix.index.equals(samples.index):
        raise InputFileError(f"{workspace.samples_table}: samples differ from {workspace.expression_matrix}")
    if list(matrix.columns) != scaler.genes_:
        raise InputFileError(f"{workspace.expression_matrix}: genes differ from the scaler in {workspace.scaler}")
    return PreparedCohort(matrix=matrix, samples=samples, scaler=scaler)


def apply_to_cohort(
    frame_or_path: str | Path | pd.DataFrame,
    scaler: ExpressionScaler,
    *,
    config: ExpressionConfig | None = None,
    gene_space: GeneSpace | None = None,
    gtf: str | Path | None = None,
    normalization: str | None = None,
) -> tuple[pd.DataFrame, CoverageReport]:
    """z-scores of another cohort on the training scale (same normalisation, genes, log and statistics),
    and its gene coverage.

    ``config`` says how to read it (orientation, input scale, metadata columns, duplicates) and the
    coverage under which it is refused; genes the cohort lacks get z = 0 (the training mean).
    ``gene_space`` defaults to the scaler's genes; ``normalization`` to the scaler's (pass ``"none"``
    for a cohort already in TPM when training counts were converted).
    """
    config = config or ExpressionConfig()
    frame, source, _ = _load(frame_or_path, config)
    frame = normalize(frame, normalization or scaler.normalization, gtf=gtf)
    space = gene_space or GeneSpace.from_ids(scaler.genes_)
    aligned, report = space.align(
        frame, duplicates=config.duplicates, min_coverage=config.min_coverage, gtf=gtf, source=source
    )
    if report.n_missing:
        log.warning("%s: %s; missing genes set to the training mean", source, report.summary())
    out = scaler.transform(aligned)
    out.index.name = "sample_id"
    return out, report
