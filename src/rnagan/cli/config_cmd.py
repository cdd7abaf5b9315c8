"""``rnagan config``: print presets and resolved configurations."""

from __future__ import annotations

import typer

from rnagan.cli._common import ConfigOpt, SetOpt
from rnagan.config import load_config, to_yaml

app = typer.Typer(
    help="Show configurations: presets, files and overrides resolved to every value.", no_args_is_help=True
)


@app.command("show")
def show(
    preset: str = typer.Argument("paper", help="paper, small or tiny."), config: ConfigOpt = None, set_: SetOpt = None
) -> None:
    """Print the full configuration of PRESET (after --config and --set) as YAML."""
    typer.echo(to_yaml(load_config(preset, path=config, overrides=list(set_ or []))), nl=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="config")
