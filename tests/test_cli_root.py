import subprocess
import sys

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


def test_user_errors_are_one_line_with_exit_code_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rnagan", "config", "show", "tiny", "--set", "vae.bta=1"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "error: invalid configuration" in proc.stderr and "vae.bta" in proc.stderr
