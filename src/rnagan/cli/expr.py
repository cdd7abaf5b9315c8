"""``rnagan expr``: prepare expression tables into the workspace's gene space, scale and splits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnagan.cli._common import (
    DEFAULT_WORKSPACE,
    ConfigOpt,
    PresetOpt,
    SetOpt,
    WorkspaceOpt,
    open_workspace,
    resolve_config,
)
from rnagan.expression.prepare import prepare_expression
from rnagan.workspace_config import remember

app = typer.Typer(
    help="Expression tables → the model's gene space, z-scored, with donor-grouped splits.", no_args_is_help=True
)


@app.command("prepare")
def prepare_cli(
    expression: Annotated[Path, typer.Argument(help="GCT (.gct/.gct.gz), CSV/TSV (.gz ok), Parquet or AnnData .h5ad.")],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    metadata: Annotated[
        Path | None,
        typer.Option(
            help="Sample table with tissue and donor columns (GTEx sample attributes: SAMPID, SMTSD). "
            "Default: columns of the expression file, else GTEx donors from the sample IDs."
        ),
    ] = None,
    tissue: Annotated[
        str | None, typer.Option(help="Tissue of every sample when no metadata gives one. (default: unknown)")
    ] = None,
    gtf: Annotated[
        Path | None, typer.Option(help="GENCODE-style GTF: gene lengths for TPM, and symbols → Ensembl IDs.")
    ] = None,
    min_coverage: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Fraction of the gene space that must be present; missing genes get the training mean. "
            "(default: expression.min_coverage, 0.5)",
        ),
    ] = None,
    normalization: Annotated[
        str | None,
        typer.Option(
            help="none (values taken as given, e.g. TPM), cpm or tpm (raw counts; tpm needs --gtf). (default: none)"
        ),
    ] = None,
    log_transform: Annotated[
        str | None,
        typer.Option(
            help="log1p, log2p1, reference (ln x if x>0 else 0, as the published code) or none. (default: log1p)"
        ),
    ] = None,
    duplicates: Annotated[
        str | None, typer.Option(help="Several columns naming one gene: sum or error. (default: sum)")
    ] = None,
    input_scale: Annotated[
        str | None,
        typer.Option(
            help="Scale of the file's values: linear (counts, TPM) or log2, ln, log10 of x + 1 (log2 TPM, "
            "microarray-like matrices), undone before normalising. (default: linear)"
        ),
    ] = None,
    orientation: Annotated[
        str | None,
        typer.Option(help="auto (find the gene axis from the IDs), samples-rows or samples-columns. (default: auto)"),
    ] = None,
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Read EXPRESSION, align it to the 19,198-gene space, log + z-score (fitted on train), and write
    expression/{matrix.parquet, samples.csv, scaler/, coverage.json} in the workspace.

    Splits are 60/20/20 by default, stratified by tissue and grouped by donor. A refused input
    leaves the workspace unchanged.
    """
    options = {
        "min_coverage": min_coverage,
        "normalization": normalization,
        "log_transform": log_transform,
        "duplicates": duplicates,
        "orientation": orientation,
        "input_scale": input_scale,
    }
    flags = [f"expression.{name}={value}" for name, value in options.items() if value is not None]
    settings = resolve_config(preset, config, [*(set_ or []), *flags], workspace=workspace)  # flags win, validated
    ws = open_workspace(workspace)
    cohort = prepare_expression(
        expression, workspace=ws, config=settings.expression, metadata=metadata, gtf=gtf, tissue=tissue
    )
    remember(ws, settings, writes="expression")
    splits = cohort.samples["split"].value_counts()
    typer.echo(
        f"{len(cohort.matrix)} samples (train {splits.get('train', 0)}, val {splits.get('val', 0)}, "
        f"test {splits.get('test', 0)}); {cohort.coverage.summary() if cohort.coverage else ''} → {ws.expression}"
    )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="expr")
