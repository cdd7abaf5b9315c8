"""``rnagan gan``: train RNA-GAN (μ-conditioned WGAN-GP), the paper's scheme, or the noise-only baseline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

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

app = typer.Typer(help="RNA-GAN: a WGAN-GP drawing tiles from expression latents.", no_args_is_help=True)


@app.command("train")
def train_cli(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            help="Run name: writes WORKSPACE/gan/RUN/. (default: rnagan, reference or baseline by gan.conditioning)",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue from gan/RUN/checkpoint (at most checkpoint_every steps are redone)."),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Delete an existing gan/RUN/ and start over (without it, such a run is refused)."
        ),
    ] = False,
    pairing: Annotated[
        Path | None,
        typer.Option(
            help="CSV slide_id,sample_id pairing slides with expression samples (any cohort). Default: a tile's "
            "sample id as tiled, else GTEx rules: a slide pairs with its tissue sample's RNA aliquot, else its "
            "donor's only sample."
        ),
    ] = None,
    device: DeviceOpt = "auto",
    max_seconds: Annotated[
        float | None, typer.Option(min=0, help="Stop after the first step past this many seconds, saving a checkpoint.")
    ] = None,
) -> None:
    """Train on WORKSPACE/tiles/ paired with WORKSPACE/vae/latents.parquet (train split only).

    gan.conditioning chooses the model: projection (ours: μ to the generator and a projection critic),
    reference (the paper's μ + U(-0.3, 0.3) to the generator, critic blind; --set gan.conditioning=reference)
    or none (noise only, the baseline; --set gan.conditioning=none).

    Writes gan/RUN/{checkpoint/, samples/step_*.png, tb/, log.jsonl}. Under torchrun every process
    takes gan.batch_size tiles per step: torchrun --nproc_per_node=4 -m rnagan gan train -w WORKSPACE
    """
    from rnagan.gan.train import train_gan

    cfg = resolve_config(preset, config, set_, workspace=workspace, reads=("vae",))
    name = run or {"projection": "rnagan", "reference": "reference", "none": "baseline"}[cfg.gan.conditioning]
    path = train_gan(
        open_workspace(workspace),
        cfg,
        run=name,
        resume=resume,
        overwrite=overwrite,
        pairing=pairing,
        device=device,
        max_seconds=max_seconds,
    )
    if os.environ.get("RANK", "0") == "0":  # torchrun: one line, from the main process
        typer.echo(f"{cfg.gan.conditioning} GAN → {path}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="gan")
