"""``rnagan vae``: every command once, through the real typer app, on the tiny preset."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from rnagan.cli import app
from rnagan.workspace import Workspace

pytestmark = pytest.mark.integration  # runs `rnagan vae train` and reads the session's trained β-VAE

runner = CliRunner()


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_vae_commands(prepared: Workspace) -> None:
    ws = ["-w", str(prepared.root)]
    out = _ok(["vae", "train", *ws, "-p", "tiny", "--device", "cpu", "--set", "vae.epochs=3"])
    assert "test RMSE" in out and prepared.latents.is_file()
    prepared.latents.unlink()
    _ok(["vae", "encode", *ws])
    latents = pd.read_parquet(prepared.latents)
    assert latents.shape == (160, 16)

    _ok(["vae", "sample", *ws, "--tissue", "lung", "-n", "5", "--mode", "around"])
    synthetic = pd.read_parquet(prepared.vae / "synthetic_lung.parquet")
    assert synthetic.shape == (5, 300) and (synthetic.to_numpy() >= 0).all()  # CPM, not z-scores

    _ok(["vae", "shift", *ws, "--from", "brain", "--to", "lung", "--sample", "S000", "--scale", "z"])
    assert pd.read_parquet(prepared.vae / "shift_brain_to_lung.parquet").index.tolist() == ["S000:brain->lung"]

    out_file = prepared.root / "line.parquet"
    _ok(["vae", "interpolate", "S000", "S159", "--steps", "3", *ws, "-o", str(out_file)])
    assert len(pd.read_parquet(out_file)) == 3


def test_unknown_tissue_is_one_clear_line(trained: tuple[Workspace, dict]) -> None:
    ws, _ = trained
    result = runner.invoke(app, ["vae", "sample", "-w", str(ws.root), "--tissue", "kidney"])
    assert result.exit_code != 0
    assert "unknown tissue 'kidney': choose one of brain, liver, lung, stomach" in str(result.exception)


def test_help_lists_the_commands() -> None:
    out = _ok(["vae", "--help"])
    for command in ("train", "encode", "sample", "shift", "interpolate"):
        assert command in out
