from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from ssl_tiles import make_tiles, make_workspace
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


def test_the_experiment_runs_end_to_end_and_writes_its_report(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    result = runner.invoke(app, ["ssl", "experiment", "-w", str(ws.root), "--preset", "tiny"])
    assert result.exit_code == 0, result.output
    out = ws.reports / "ssl"
    report = json.loads((out / "ssl.json").read_text())
    assert len(report["replicates"]) == 2 and [r["seed"] for r in report["replicates"]] == [0, 1]
    assert list(report["arms"]) == ["scratch", "synthetic-bn", "synthetic", "real", "real+synthetic"]
    for replicate in report["replicates"]:
        pretraining = replicate["pretraining"]
        assert pretraining["synthetic-bn"]["distance_from_init"]["l2"] == 0  # statistics only
        assert pretraining["synthetic"]["steps"] > 0 and pretraining["synthetic"]["distance_from_init"]["l2"] > 0
    assert len(report["arms"]["synthetic"]["0.5"]["accuracy"]["values"]) == 2
    headline = report["headline"]
    assert headline["label_fraction"] == 0.5 and len(headline["values"]) == 2
    assert headline["mean"] == pytest.approx(sum(headline["values"]) / 2)
    assert "synthetic − synthetic-bn at 50% of the labels" in result.output
    assert "synthetic-bn" in (out / "ssl.html").read_text() and (out / "ssl.png").stat().st_size > 1000


def test_finetune_takes_the_groups_of_class_folders_from_a_csv(tmp_path: Path) -> None:
    tiles, rows = make_tiles(4), []
    for i, (label, group) in enumerate(zip(tiles.labels, tiles.groups, strict=True)):
        path = tmp_path / "data" / label / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(tiles.tiles[i].permute(1, 2, 0).numpy()).save(path)
        rows.append((f"{label}/{i}.png", group))  # a tile and its flipped copy share a group
    pd.DataFrame(rows, columns=["file", "group"]).to_csv(tmp_path / "groups.csv", index=False)
    args = ["--data", str(tmp_path / "data"), "--groups", str(tmp_path / "groups.csv"), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, ["ssl", "finetune", *args, "--preset", "tiny"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "o" / "ssl.json").read_text())
    assert report["n_tiles"] == 16 and report["n_groups"] == 8
