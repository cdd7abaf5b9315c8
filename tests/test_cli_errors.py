"""Every user error is one line and exit code 2, never a traceback (issue #14 items 13 and 14).

Each bad input goes through the real entry point, ``rnagan.cli.main``, as a user's shell would.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnagan.cli import main
from rnagan.expression.io import to_linear


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and stderr of ``rnagan ARGS``."""
    monkeypatch.setattr(sys, "argv", ["rnagan", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, stderr: str, *expected: str) -> None:
    assert code == 2, stderr
    assert "Traceback" not in stderr and stderr.startswith("error: "), stderr
    flat = " ".join(stderr.split())  # rich wraps long lines at the terminal width
    assert all(text in flat for text in expected), stderr


def test_non_numeric_expression_cell_is_named(tmp_path: Path, monkeypatch, capsys) -> None:
    table = tmp_path / "expr.csv"
    table.write_text("gene_id,S1,S2\nENSG00000141510,1.5,abc\nENSG00000012048,2.0,3.0\n")
    code, err = run_cli(["expr", "prepare", table, "-w", tmp_path / "ws"], monkeypatch, capsys)
    assert_one_line_error(code, err, "non-numeric value 'abc' at sample S2, gene ENSG00000141510")
    table.write_text("gene_id,S1\nENSG00000141510,abc\n")  # the case: today "0 samples × 1 genes"
    code, err = run_cli(["expr", "prepare", table, "-w", tmp_path / "ws"], monkeypatch, capsys)
    assert_one_line_error(code, err, "non-numeric value 'abc' at sample S1")
    table.write_text("gene,s1,s2\nENSG00000000003,abc,3\n")  # s1 was dropped without a word: "1 samples"
    fractions = ["--set", "expression.split_fractions=[1,0,0]"]
    code, err = run_cli(["expr", "prepare", table, "-w", tmp_path / "ws", *fractions], monkeypatch, capsys)
    assert_one_line_error(code, err, "non-numeric value 'abc' at sample s1, gene ENSG00000000003")
    declared = ["--set", "expression.metadata_columns=[s1]", "--min-coverage", "0"]
    code, err = run_cli(["expr", "prepare", table, "-w", tmp_path / "ws", *fractions, *declared], monkeypatch, capsys)
    assert code == 0, err
    assert pd.read_parquet(tmp_path / "ws" / "expression" / "matrix.parquet").index.tolist() == ["s2"]


def test_generate_input_scale_is_validated_as_the_config_field(tmp_path: Path, monkeypatch, capsys) -> None:
    args = ["generate", "-w", tmp_path / "ws", "--expression", tmp_path / "x.csv", "--input-scale", "log3"]
    code, err = run_cli(args, monkeypatch, capsys)
    assert_one_line_error(code, err, "expression.input_scale=log3", "'linear', 'log2', 'ln' or 'log10'")


def test_missing_samples_file_of_tile(tmp_path: Path, real_slide: Path, monkeypatch, capsys) -> None:
    code, err = run_cli(
        ["tile", real_slide, "-w", tmp_path / "ws", "--samples", tmp_path / "nope.csv"], monkeypatch, capsys
    )
    assert_one_line_error(code, err, "--samples file", "nope.csv not found")


def test_damaged_checkpoint_json_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    ckpt = tmp_path / "ws" / "vae" / "checkpoint"
    ckpt.mkdir(parents=True)
    for name in ("model.safetensors", "config.yaml"):
        (ckpt / name).write_text("")
    (ckpt / "meta.json").write_text('{"kind": "beta_va')
    code, err = run_cli(["vae", "encode", "-w", tmp_path / "ws"], monkeypatch, capsys)
    assert_one_line_error(code, err, str(ckpt))


@pytest.mark.integration  # prepares real GTEx counts twice
def test_log_scale_input_is_refused_with_the_option_then_read_with_it(
    tmp_path: Path, gtex_lung_counts: Path, monkeypatch, capsys
) -> None:
    counts = pd.read_csv(gtex_lung_counts, index_col=0).iloc[:, :12]  # genes × samples, with zeros
    counts.to_csv(tmp_path / "linear.csv")
    np.log2(counts + 1).to_csv(tmp_path / "log2.csv")
    (np.log2(counts + 0.5)).to_csv(tmp_path / "microarray.csv")  # log2 intensities: below 0 where faint
    common = ["--min-coverage", "0", "--tissue", "Lung", "--preset", "tiny"]

    code, err = run_cli(
        ["expr", "prepare", tmp_path / "microarray.csv", "-w", tmp_path / "m", *common], monkeypatch, capsys
    )
    assert_one_line_error(code, err, "negative values", "--input-scale log2")
    for name, scale in (("linear", "linear"), ("log2", "log2")):
        code, err = run_cli(
            ["expr", "prepare", tmp_path / f"{name}.csv", "-w", tmp_path / name, "--input-scale", scale, *common],
            monkeypatch,
            capsys,
        )
        assert code == 0, err
    linear, unlogged = (
        pd.read_parquet(tmp_path / name / "expression" / "matrix.parquet") for name in ("linear", "log2")
    )
    np.testing.assert_allclose(unlogged.to_numpy(), linear.to_numpy(), atol=1e-3)


@pytest.mark.parametrize(("scale", "values"), [("ln", np.log1p), ("log10", lambda x: np.log10(x + 1))])
def test_to_linear_undoes_each_log(scale: str, values) -> None:
    x = pd.DataFrame([[0.0, 1.0, 250.0]], columns=["a", "b", "c"])
    np.testing.assert_allclose(to_linear(values(x), scale, source="t").to_numpy(), x.to_numpy(), rtol=1e-5, atol=1e-5)


def test_square_brackets_in_an_error_are_printed(tmp_path: Path, monkeypatch, capsys) -> None:
    """Rich markup would swallow ``[...]`` in a message (a list of columns, a YAML value)."""
    code, err = run_cli(["config", "show", "tiny", "--set", "vae.encoder_dims=[a]"], monkeypatch, capsys)
    assert_one_line_error(code, err, "with overrides vae.encoder_dims=[a]", "vae.encoder_dims.0")
    code, err = run_cli(["config", "show", "-w", tmp_path / "none"], monkeypatch, capsys)
    assert_one_line_error(code, err, "holds no config.yaml")
