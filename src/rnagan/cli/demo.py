"""``rnagan demo``: the whole pipeline on the bundled cohort, in a fixed number of steps, ending in a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from rnagan.cli._common import ConfigOpt, SetOpt, resolve_config
from rnagan.demo.bundle import export_bundle
from rnagan.demo.pipeline import RUNS, run_demo
from rnagan.workspace import Workspace


def demo(
    out: Annotated[Path, typer.Option("--out", "-w", "--workspace", help="Workspace folder the demo writes.")] = Path(
        "demo-workspace"
    ),
    preset: Annotated[
        str, typer.Option("--preset", "-p", help="Starting values: small (the demo's recipe) or tiny (tests).")
    ] = "small",
    dataset: Annotated[
        Literal["lung", "her2st"],
        typer.Option(help="lung: LC25000 tiles with simulated expression; her2st: REAL spatial expression + H&E."),
    ] = "lung",
    save_bundle: Annotated[
        Path | None,
        typer.Option(
            help="After the run, copy its three EMA generators, μ table, splits and metrics here "
            "(how the package's bundled demo model is made: src/rnagan/datasets/data/demo_bundle)."
        ),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Run the demo: bundled LC25000 lung tiles with SIMULATED expression → β-VAE → RNA-GAN, the paper's
    conditioning and a noise-only GAN → tiles from held-out profiles → FID/KID, conditioning fidelity → report.html.
    With --dataset her2st: five real breast cancer sections (spot expression + H&E), split by section.
    """
    if dataset == "her2st":
        from rnagan.demo.her2st import run_her2st_demo

        summary = run_her2st_demo(out, resolve_config(preset, config, set_))
    else:
        summary = run_demo(out, resolve_config(preset, config, set_))
    if save_bundle is not None:
        typer.echo(f"bundle: {export_bundle(Workspace(out), save_bundle, tuple(RUNS))}")
    typer.echo(f"report: {summary['report']}")


def register(root: typer.Typer) -> None:
    root.command("demo")(demo)
