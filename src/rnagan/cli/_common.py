"""Options every subcommand shares (preset, config file, overrides, workspace, device), defined once here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnagan.config import Config
from rnagan.workspace import Workspace
from rnagan.workspace_config import Stage, resolve_workspace_config

PresetOpt = Annotated[
    str | None,
    typer.Option(
        "--preset",
        "-p",
        help="Starting values: paper (the paper's numbers), small (CPU), tiny (tests). "
        "Default: the workspace's config.yaml, else paper.",
        show_default=False,
    ),
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


def resolve_config(
    preset: str | None,
    config: Path | None,
    overrides: list[str] | None,
    *,
    workspace: Path | None = None,
    reads: tuple[Stage, ...] = (),
) -> Config:
    """The command's config: see :func:`rnagan.workspace_config.resolve_workspace_config`."""
    return resolve_workspace_config(
        None if workspace is None else Workspace(workspace),
        preset_name=preset,
        path=config,
        overrides=list(overrides or []),
        reads=reads,
    )


def open_workspace(path: Path) -> Workspace:
    return Workspace(path).create()
