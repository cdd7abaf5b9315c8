"""``rnagan config``: print presets, workspaces' configs and resolved configurations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnagan.cli._common import ConfigOpt, SetOpt, resolve_config
from rnagan.config import preset_names, to_yaml
from rnagan.errors import ConfigError
from rnagan.workspace import Workspace

app = typer.Typer(
    help="Show configurations: presets, files and overrides resolved to every value.", no_args_is_help=True
)


@app.command("show")
def show(
    preset: Annotated[
        str | None, typer.Argument(help=f"{', '.join(preset_names())}. (default: --workspace's config, else paper)")
    ] = None,
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", "--out", help="Show the config this workspace's next command starts from."),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Print the full configuration of PRESET or of a workspace (after --config and --set) as YAML."""
    if workspace is not None and not Workspace(workspace).config_file.is_file():
        raise ConfigError(f"{workspace} holds no config.yaml: no rnagan command has run in it yet")
    typer.echo(to_yaml(resolve_config(preset, config, set_, workspace=workspace)), nl=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="config")
