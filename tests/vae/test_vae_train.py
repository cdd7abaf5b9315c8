"""train_vae: learning, metrics, checkpoints, resume, divergence, bad files."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from vae_data import tiny_config, write_prepared

from rnagan.checkpoint import save_checkpoint
from rnagan.errors import CheckpointError, InputFileError, TrainingDivergedError
from rnagan.vae.latent import GENES_FILE, encode_cohort, load_vae
from rnagan.vae.train import train_vae
from rnagan.workspace import Workspace

pytestmark = pytest.mark.integration  # trains the tiny β-VAE


def test_training_lowers_the_loss(trained: tuple[Workspace, dict]) -> None:
    _, metrics = trained
    history = metrics["history"]
    assert history[-1]["train_loss"] < 0.9 * history[0]["train_loss"]
    assert metrics["best_val_loss"] < history[0]["val_loss"]


def test_test_rmse_beats_predicting_the_training_mean(trained: tuple[Workspace, dict]) -> None:
    _, metrics = trained
    test = metrics["test"]
    assert test["n"] == 32
    assert test["rmse"] < 0.95 * test["rmse_train_mean"]
    for tissue, block in test["per_tissue"].items():
        assert block["rmse"] < block["rmse_train_mean"], tissue
    assert metrics["silhouette_mu_test"] > 0.1


def test_outputs_on_disk(trained: tuple[Workspace, dict]) -> None:
    ws, metrics = trained
    assert json.loads(ws.vae_metrics.read_text())["test"]["rmse"] == metrics["test"]["rmse"]
    assert (ws.vae / "curves.png").stat().st_size > 1000
    latents = pd.read_parquet(ws.latents)
    matrix = pd.read_parquet(ws.expression_matrix)
    assert list(latents.index) == list(matrix.index)
    loaded = load_vae(ws.vae_checkpoint)
    assert loaded.genes == list(matrix.columns)
    assert loaded.meta["epoch"] == metrics["best_epoch"]
    pd.testing.assert_frame_equal(encode_cohort(loaded, matrix), latents)


def test_checkpoint_save_load_gives_identical_outputs(trained: tuple[Workspace, dict], tmp_path: Path) -> None:
    ws, _ = trained
    first = load_vae(ws.vae_checkpoint)
    copy = tmp_path / "copy"
    save_checkpoint(
        copy,
        tensors={f"model.{k}": v for k, v in first.model.state_dict().items()},
        config=first.config,
        files={GENES_FILE: "\n".join(first.genes).encode()},
    )
    second = load_vae(copy)
    x = torch.randn(7, len(first.genes))
    with torch.no_grad():
        for a, b in zip(first.model(x), second.model(x), strict=True):
            assert torch.equal(a, b)


def test_resume_continues_from_the_saved_epoch(tmp_path: Path) -> None:
    cfg = tiny_config()
    straight = Workspace(tmp_path / "a").create()
    write_prepared(straight)
    full = train_vae(straight, cfg, device="cpu")

    interrupted = Workspace(tmp_path / "b").create()
    write_prepared(interrupted)
    first = train_vae(interrupted, cfg, device="cpu", max_seconds=0)
    assert first["epochs_run"] == 1 and first["stop_reason"].startswith("time limit")
    resumed = train_vae(interrupted, cfg, device="cpu", resume=True)
    assert [h["epoch"] for h in resumed["history"]] == list(range(1, cfg.vae.epochs + 1))
    # Per-epoch seeding makes the resumed run the same computation as the uninterrupted one.
    assert resumed["last_weights_sha"] == full["last_weights_sha"]
    assert resumed["test"]["rmse"] == pytest.approx(full["test"]["rmse"])


def test_resume_refuses_a_changed_config_or_a_missing_checkpoint(prepared: Workspace) -> None:
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train_vae(prepared, tiny_config(), device="cpu", resume=True)
    train_vae(prepared, tiny_config(), device="cpu", max_seconds=0)
    with pytest.raises(CheckpointError, match=r"vae config changed \(lr: checkpoint 0.001 vs now 0.01\)"):
        train_vae(prepared, tiny_config(lr=0.01), device="cpu", resume=True)
    train_vae(prepared, tiny_config(patience=3, epochs=2), device="cpu", resume=True)  # allowed to change


def test_an_existing_run_is_refused_unless_resumed_or_overwritten(prepared: Workspace) -> None:
    train_vae(prepared, tiny_config(), device="cpu", max_seconds=0)
    before = (prepared.vae / "last" / "meta.json").read_text()
    with pytest.raises(CheckpointError, match=r"^vae already holds a run at epoch 1: pass --resume .* --overwrite"):
        train_vae(prepared, tiny_config(), device="cpu")
    assert (prepared.vae / "last" / "meta.json").read_text() == before
    metrics = train_vae(prepared, tiny_config(epochs=2), device="cpu", overwrite=True)
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]  # a new run, not a continued one


def test_resume_refuses_other_prepared_data(prepared: Workspace) -> None:
    train_vae(prepared, tiny_config(), device="cpu", max_seconds=0)
    write_prepared(prepared, seed=1)
    with pytest.raises(CheckpointError, match="cannot resume vae: its prepared expression data changed"):
        train_vae(prepared, tiny_config(), device="cpu", resume=True)


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(prepared: Workspace) -> None:
    train_vae(prepared, tiny_config(), device="cpu", max_seconds=0)
    good = load_file(str(prepared.vae_checkpoint / "model.safetensors"))
    last = prepared.vae / "last" / "model.safetensors"
    save_file({k: v * math.nan if v.is_floating_point() else v for k, v in load_file(str(last)).items()}, str(last))
    with pytest.raises(TrainingDivergedError, match=r"at step \d+ \(epoch 2.*last good checkpoint is kept"):
        train_vae(prepared, tiny_config(), device="cpu", resume=True)
    after = load_file(str(prepared.vae_checkpoint / "model.safetensors"))
    assert all(torch.equal(good[k], after[k]) for k in good)
    load_vae(prepared.vae_checkpoint)


def test_damaged_or_foreign_checkpoints_give_clear_errors(trained: tuple[Workspace, dict], tmp_path: Path) -> None:
    ws, _ = trained
    truncated = tmp_path / "truncated"
    shutil.copytree(ws.vae_checkpoint, truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or not a safetensors file"):
        load_vae(truncated)

    not_one = tmp_path / "not_one"
    not_one.mkdir()
    (not_one / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match=r"not an rnagan checkpoint: model\.safetensors is missing"):
        load_vae(not_one)

    no_genes = tmp_path / "no_genes"
    shutil.copytree(ws.vae_checkpoint, no_genes)
    (no_genes / GENES_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"not a β-VAE checkpoint: genes\.txt is missing"):
        load_vae(no_genes)


def test_missing_or_bad_inputs(workspace: Workspace) -> None:
    with pytest.raises(InputFileError, match="run `rnagan expr prepare`"):
        train_vae(workspace, tiny_config(), device="cpu")
    matrix, _ = write_prepared(workspace)
    matrix.iloc[3, 5] = np.nan
    matrix.to_parquet(workspace.expression_matrix)
    with pytest.raises(InputFileError, match="NaN or Inf"):
        train_vae(workspace, tiny_config(), device="cpu")
