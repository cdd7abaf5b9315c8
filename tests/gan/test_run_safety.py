"""Runs are never lost or mixed (issue #14, items 8, 9 and 12): refusal to start over on an existing
run, resume checks on data and data order, and a damaged log line skipped with a warning."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
from gan_toy import make_toy_cohort

from rnagan.config import Config, preset
from rnagan.errors import CheckpointError
from rnagan.gan.train import MAY_DIFFER, train_gan
from rnagan.workspace import Workspace

pytestmark = pytest.mark.integration  # every test runs train_gan


def short_config(**gan: object) -> Config:
    cfg = preset("tiny")
    cfg.gan = cfg.gan.model_copy(
        update={"steps": 2, "checkpoint_every": 2, "sample_every": 1000, "log_every": 1, "batch_size": 4, **gan}
    )
    return cfg


@pytest.fixture
def small_workspace(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    make_toy_cohort(ws, train_per_tissue=4, held_out_per_tissue=1, tiles_per_sample=4)
    return ws


def steps_logged(ws: Workspace, run: str) -> list[int]:
    return [json.loads(line)["step"] for line in (ws.gan_run(run) / "log.jsonl").read_text().splitlines()]


def test_existing_run_is_refused_unless_resumed_or_overwritten(small_workspace: Workspace) -> None:
    ws = small_workspace
    train_gan(ws, short_config(), run="keep", device="cpu")
    log_before = (ws.gan_run("keep") / "log.jsonl").read_text()
    with pytest.raises(CheckpointError, match=r"already holds a run .*--resume.*--overwrite"):
        train_gan(ws, short_config(), run="keep", device="cpu")
    assert (ws.gan_run("keep") / "log.jsonl").read_text() == log_before  # nothing was touched
    train_gan(ws, short_config(steps=1, checkpoint_every=1), run="keep", overwrite=True, device="cpu")
    assert steps_logged(ws, "keep") == [1]  # the old run's records are gone with it


@pytest.mark.parametrize(
    ("field", "value"), [("batch_size", 2), ("seed", 1), ("tiles_per_sample", 2), ("balance", "sample")]
)
def test_resume_refuses_another_data_order(small_workspace: Workspace, field: str, value: object) -> None:
    assert field not in MAY_DIFFER
    train_gan(small_workspace, short_config(), run="order", device="cpu")
    with pytest.raises(CheckpointError, match=f"{field}: checkpoint"):
        train_gan(small_workspace, short_config(steps=4, **{field: value}), run="order", resume=True, device="cpu")


def test_resume_refuses_changed_latents(small_workspace: Workspace) -> None:
    ws = small_workspace
    train_gan(ws, short_config(), run="data", device="cpu")
    latents = pd.read_parquet(ws.latents)
    latents.iloc[0, 0] += 0.5  # the VAE was retrained or re-encoded in between
    latents.to_parquet(ws.latents)
    with pytest.raises(CheckpointError, match="paired tiles or latents changed"):
        train_gan(ws, short_config(steps=4), run="data", resume=True, device="cpu")


def test_damaged_log_line_is_skipped_with_a_warning(small_workspace: Workspace, caplog) -> None:
    ws = small_workspace
    train_gan(ws, short_config(), run="damaged", device="cpu")
    log_file = ws.gan_run("damaged") / "log.jsonl"
    lines = log_file.read_text().splitlines()
    log_file.write_text(f'{lines[0]}\n{{"step": 2, "loss_cri\n[1, 2]\n{lines[1]}\n')  # torn write, odd record
    with caplog.at_level(logging.WARNING, logger="rnagan.logs"):
        train_gan(ws, short_config(steps=3), run="damaged", resume=True, device="cpu")
    warned = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert any(f"{log_file} line 2 " in m for m in warned) and any(f"{log_file} line 3 " in m for m in warned)
    assert steps_logged(ws, "damaged") == [1, 2, 3]
