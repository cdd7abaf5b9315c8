"""The ``rnagan`` command: one subcommand per stage, each a thin layer over a plain function."""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console
from rich.markup import escape

from rnagan import __version__
from rnagan.errors import RnaganError
from rnagan.logs import LEVELS, setup_logging

app = typer.Typer(
    name="rnagan",
    help="Gene expression to histology: tile slides, prepare expression, train the β-VAE and RNA-GAN, "
    "generate tiles from profiles, and evaluate them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Each module owns one stage's commands and adds them with its register(app).
_COMMAND_MODULES = (
    "config_cmd",
    "expr",
    "gtex",
    "vae",
    "tile",
    "image",
    "gan",
    "flow",
    "generate",
    "evaluate",
    "fid",
    "demo",
    "quiz",
    "ssl",
    "spatial",
)


@app.callback()
def _root(
    log_level: str = typer.Option("INFO", "--log-level", help=f"One of {', '.join(LEVELS)}."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(f"rnagan {__version__}")
        raise typer.Exit()
    setup_logging(log_level)


for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"rnagan.cli.{_name}")
    except ModuleNotFoundError as _err:
        if _err.name != f"rnagan.cli.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    """Console entry point: user errors become one red line and exit code 2, not a traceback."""
    try:
        app()
    except RnaganError as err:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        sys.exit(2)
