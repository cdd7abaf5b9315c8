"""``rnagan image``: train the image stage (×4 super-resolution) on any tile store's real tiles."""

from __future__ import annotations

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

app = typer.Typer(help="The image stage: super-resolution trained on unpaired tiles.", no_args_is_help=True)


@app.command("train")
def train_cli(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    split: Annotated[
        str,
        typer.Option(
            help="Train on the tiles of this split's samples where the workspace has splits (no held-out tile "
            "is trained on); 'all' takes every tile of the store."
        ),
    ] = "train",
    resume: Annotated[bool, typer.Option("--resume", help="Continue from image/last.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Delete an existing image/ run and start over.")
    ] = False,
    device: DeviceOpt = "auto",
) -> None:
    """Train on random crops of WORKSPACE/tiles/ → image/{checkpoint/, last/, samples/step_*.png, log.jsonl}.

    Each crop of image.crop_size px is shrunk by image.scale as the conditional GAN's tiles are, and the
    upsampler learns to restore it; log.jsonl records bicubic's error on the same crops beside its own.
    """
    from rnagan.image.train import train_image_stage

    cfg = resolve_config(preset, config, set_, workspace=workspace)
    path = train_image_stage(
        open_workspace(workspace),
        cfg,
        split=None if split == "all" else split,
        resume=resume,
        overwrite=overwrite,
        device=device,
    )
    typer.echo(f"image stage → {path}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="image")
