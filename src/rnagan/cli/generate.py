"""``rnagan generate``: tiles from profiles of the cohort, of another cohort, synthetic or perturbed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from rnagan.cli._common import (
    DEFAULT_WORKSPACE,
    ConfigOpt,
    DeviceOpt,
    PresetOpt,
    SetOpt,
    WorkspaceOpt,
    open_workspace,
    resolve_config,
)


def generate(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run: Annotated[str, typer.Option(help="GAN run under gan/: rnagan, reference or baseline.")] = "rnagan",
    sample: Annotated[list[str] | None, typer.Option(help="Sample ID of the prepared cohort (repeatable).")] = None,
    split: Annotated[
        str | None, typer.Option(help="Every sample of this split (train/val/test) (default: all).")
    ] = None,
    expression: Annotated[
        Path | None,
        typer.Option(
            help="Profiles of another cohort (gct/csv/tsv/parquet/h5ad), or z-scores / latents with --scale z."
        ),
    ] = None,
    input_scale: Annotated[
        str | None,
        typer.Option(
            help="Scale of the --expression file's values: linear (counts, TPM) or log2, ln, log10 of x + 1 "
            "(log2 TPM), undone before scaling. (default: expression.input_scale, linear)"
        ),
    ] = None,
    scale: Annotated[
        Literal["raw", "z"],
        typer.Option(
            help="raw: expression values, scaled with the training scaler; z: z-scored profiles or a mu_* table."
        ),
    ] = "raw",
    perturb: Annotated[
        list[str] | None,
        typer.Option(
            help="GENE=+2 (z-score shift) or GENE=x4 (fold change); repeat to move genes together. The edit reaches "
            "μ through the decoder: the μ whose decoded profile carries it, its co-expressed genes following "
            "(--set generate.edit=encoder encodes the edited profile instead)."
        ),
    ] = None,
    direction: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=DOSE or NAME=DOSE,DOSE,...: one twin per dose, μ moved DOSE spreads (sd of the training "
            "μ) along the direction in which NAME rises in the training samples. NAME: a shipped gene set "
            "(immune, tumour, stroma, adipose), one of --direction-genes, a tissue class of the samples table, "
            "or random (the control). Repeatable."
        ),
    ] = None,
    direction_genes: Annotated[
        list[str] | None,
        typer.Option(help="NAME=GENE,GENE,...: a gene set to use as a --direction NAME (its mean z). Repeatable."),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option("--tiles", "-n", min=1, help="Tiles per profile (default: generate.tiles_per_profile)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Noise seed (default: generate.seed).")] = None,
    out: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output folder (default: WORKSPACE/samples/RUN); replaced whole."),
    ] = None,
    tile_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="png: one file per tile; store: every tile in OUTPUT/store.lmdb (lossless lz4; for a million tiles "
            "or a shared file system; every reader takes both) (default: generate.tile_format).",
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler address (tcp://host:8786) whose workers draw, one shard of profiles per task; they "
            "must see WORKSPACE and OUTPUT at the same paths. Needs pip install 'rnagan[cluster]'. Default: "
            "generate.cluster, else this process."
        ),
    ] = None,
    image_stage: Annotated[
        str | None,
        typer.Option(
            help="Lift the tiles with an image stage: 'bundled' (shipped, x4) or an image/checkpoint folder "
            "(default: generate.image_stage)."
        ),
    ] = None,
    device: DeviceOpt = "auto",
) -> None:
    """Write tiles (PNG files or a tile store), manifest.csv and contact sheets (and perturbation panels) for each
    profile."""
    from rnagan.directions import parse_gene_sets
    from rnagan.generate import generate_tiles

    flags = [f"expression.input_scale={input_scale}"] if input_scale is not None else []
    flags += [f"generate.image_stage={image_stage}"] if image_stage is not None else []
    flags += [f"generate.tile_format={tile_format}"] if tile_format is not None else []
    flags += [f"generate.cluster={cluster}"] if cluster is not None else []
    cfg = resolve_config(preset, config, [*(set_ or []), *flags], workspace=workspace, reads=("vae",))  # validated
    if n is not None:
        cfg.generate.tiles_per_profile = n
    if seed is not None:
        cfg.generate.seed = seed
    manifest = generate_tiles(
        open_workspace(workspace),
        cfg,
        run=run,
        samples=sample,
        split=split,
        expression_file=expression,
        scale=scale,
        perturbations=perturb or [],
        directions=direction or [],
        direction_genes=parse_gene_sets(direction_genes or []),
        out=out,
        device=device,
    )
    typer.echo(f"{len(manifest)} tiles of {manifest['profile'].nunique()} profiles")


def register(root: typer.Typer) -> None:
    root.command("generate")(generate)
