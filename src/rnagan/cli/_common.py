"""Options every subcommand shares (preset, config file, overrides, workspace, device), defined once here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnagan.config import Config, load_config
from rnagan.workspace import Workspace

PresetOpt = Annotated[
    str, typer.Option("--preset", "-p", help="Starting values: paper (the paper's numbers), small (CPU), tiny (tests).")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML file with sections (vae:, gan:, ...) applied on top of the preset."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override one field, e.g. --set vae.beta=0.0005 (repeatable; applied last)."),
]
DeviceOpt = Annotated[str, typer.Option(help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps...")]
# One default for every command, so omitting --workspace never splits a run across two folders.
DEFAULT_WORKSPACE = Path("workspace")
WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        "--out",
        help="Workspace folder: tiles/, expression/, vae/, gan/, samples/, reports/ (default: ./workspace).",
        show_default=False,
    ),
]


def resolve_config(preset: str, config: Path | None, overrides: list[str] | None) -> Config:
    return load_config(preset, path=config, overrides=list(overrides or []))


def open_workspace(path: Path) -> Workspace:
    return Workspace(path).create()
