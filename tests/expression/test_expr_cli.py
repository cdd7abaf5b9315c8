"""`rnagan expr prepare` and `rnagan gtex download` through the real command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnagan.cli import app, main
from rnagan.errors import ConfigError


def test_prepare_real_gtex_refused_by_default_then_accepted(
    tmp_path: Path, gtex_lung_counts: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = tmp_path / "ws"
    monkeypatch.setattr(sys, "argv", ["rnagan", "expr", "prepare", str(gtex_lung_counts), "-w", str(workspace)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2  # a user error: one line, no traceback
    stderr = " ".join(capsys.readouterr().err.split())
    assert stderr.startswith("error: ") and "only 227 of 19,198 genes of the gene space present (1.2%)" in stderr
    assert list((workspace / "expression").iterdir()) == []
    result = CliRunner().invoke(
        app,
        [
            "expr",
            "prepare",
            str(gtex_lung_counts),
            "-w",
            str(workspace),
            "--min-coverage",
            "0",
            "--normalization",
            "cpm",
            "--tissue",
            "Lung",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "30 samples (train 18, val 6, test 6); 227 of 19,198 genes" in result.output
    assert json.loads((workspace / "expression" / "coverage.json").read_text())["n_present"] == 227


def test_prepare_options_are_validated(tmp_path: Path, gtex_lung_counts: Path) -> None:
    result = CliRunner().invoke(
        app, ["expr", "prepare", str(gtex_lung_counts), "-w", str(tmp_path), "--log-transform", "log10"]
    )
    assert isinstance(result.exception, ConfigError)
    assert "expression.log_transform: Input should be 'log1p', 'log2p1', 'reference' or 'none'" in str(result.exception)


def test_help_explains_units() -> None:
    wide = CliRunner(env={"COLUMNS": "300"})
    assert "Fraction of the gene space that must be present" in wide.invoke(app, ["expr", "prepare", "--help"]).output
    assert "resume from DEST/<file>.part" in wide.invoke(app, ["gtex", "download", "--help"]).output
