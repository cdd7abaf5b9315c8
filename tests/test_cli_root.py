import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from rnagan.cli import app
from rnagan.config import config_from_yaml, preset

runner = CliRunner()


def test_config_show_prints_a_loadable_preset() -> None:
    result = runner.invoke(app, ["config", "show", "small", "--set", "vae.beta=0.5"])
    assert result.exit_code == 0, result.output
    cfg = config_from_yaml(result.output)
    assert cfg.vae.beta == 0.5
    assert cfg.gan == preset("small").gan


@pytest.mark.integration  # a fresh `python -m rnagan`: torch and every import again
def test_user_errors_are_one_line_with_exit_code_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rnagan", "config", "show", "tiny", "--set", "vae.bta=1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "error: invalid configuration" in proc.stderr and "vae.bta" in proc.stderr


def _commands(group: typer.core.TyperGroup, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a sub-app (typer's groups are not click.Group subclasses)
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_no_command_declares_an_option_twice_and_help_keeps_defaults() -> None:
    root = typer.main.get_command(app)
    seen_any = False
    for path, command in _commands(root):
        names = [opt for param in command.params for opt in getattr(param, "opts", [])]
        assert len(names) == len(set(names)), f"rnagan {' '.join(path)} declares {names} with duplicates"
        seen_any = True
    assert seen_any
    result = runner.invoke(app, ["generate", "--help"], env={"COLUMNS": "200"})
    assert "WORKSPACE/samples/RUN" in result.output  # not swallowed as rich markup


def test_every_command_has_one_workspace_option_with_one_default() -> None:
    """A command defaulting elsewhere would split one run across two folders."""
    root = typer.main.get_command(app)
    defaults = {}
    for path, command in _commands(root):
        for param in command.params:
            if "--workspace" in getattr(param, "opts", []):
                assert {"-w", "--out"} <= set(param.opts), f"rnagan {' '.join(path)}: {param.opts}"
                defaults[" ".join(path)] = str(param.default)
    assert {"tile", "expr prepare", "vae train", "gan train", "generate", "evaluate"} <= set(defaults)
    defaults.pop("demo", None)  # the demo writes a whole run of its own, demo-workspace/
    defaults.pop("config show", None)  # shows a preset unless asked for a workspace
    assert set(defaults.values()) == {"workspace"}, defaults


def test_every_command_starts_from_the_same_default_config() -> None:
    """No --preset default but the workspace's config (else paper); only the demo names its own recipe."""
    root = typer.main.get_command(app)
    defaults = {
        " ".join(path): param.default
        for path, command in _commands(root)
        for param in command.params
        if "--preset" in getattr(param, "opts", [])
    }
    assert {"tile", "expr prepare", "vae train", "gan train", "generate", "evaluate", "ssl tstr"} <= set(defaults)
    assert defaults.pop("demo") == "small"
    assert set(defaults.values()) == {None}, defaults
