from __future__ import annotations

from typer.testing import CliRunner

from rnagan.cli import app

runner = CliRunner()


def test_ssl_lists_its_commands() -> None:
    result = runner.invoke(app, ["ssl", "--help"])
    assert result.exit_code == 0
    for command in ("pretrain", "finetune", "experiment", "tstr"):
        assert command in result.output


def test_a_malformed_arm_is_a_config_error() -> None:
    result = runner.invoke(app, ["ssl", "finetune", "--data", "lc25000", "--init", "nopath"])
    assert result.exit_code != 0
    assert "--init takes NAME=CHECKPOINT" in str(result.exception)
