"""``rnagan flow``: train the flow-matching generator (rectified flow from μ), or its no-condition ablation."""

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

app = typer.Typer(help="A conditional flow-matching generator beside the GAN.", no_args_is_help=True)


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
            help="Run name: writes WORKSPACE/gan/RUN/. (default: flow, or flow_none by flow.conditioning)",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue from gan/RUN/checkpoint (at most checkpoint_every steps are redone)."),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Delete an existing gan/RUN/ and start over (without it, such a run is refused).",
        ),
    ] = False,
    device: DeviceOpt = "auto",
    max_seconds: Annotated[
        float | None, typer.Option(min=0, help="Stop after the first step past this many seconds, saving a checkpoint.")
    ] = None,
) -> None:
    """Train on WORKSPACE/tiles/ paired with WORKSPACE/vae/latents.parquet (train split only).

    flow.conditioning chooses the model: mu (the standardised μ added to the U-Net's time embedding, with
    classifier-free guidance) or none (noise only, the ablation; --set flow.conditioning=none).
    Sample it like a GAN run: rnagan generate --run RUN (--set flow.guidance_scale=2 flow.solver=euler ...).

    Writes gan/RUN/{checkpoint/, samples/step_*.png, tb/, log.jsonl}.
    """
    from rnagan.flow.train import train_flow

    cfg = resolve_config(preset, config, set_, workspace=workspace, reads=("vae",))
    name = run or {"mu": "flow", "none": "flow_none"}[cfg.flow.conditioning]
    path = train_flow(
        open_workspace(workspace),
        cfg,
        run=name,
        resume=resume,
        overwrite=overwrite,
        device=device,
        max_seconds=max_seconds,
    )
    typer.echo(f"{cfg.flow.conditioning} flow → {path}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="flow")
