"""Training on the toy cohort: conditioning that could fail, the reference defect, resume, DDP, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from gan_toy import make_toy_cohort
from safetensors.torch import load_file
from sklearn.linear_model import LogisticRegression

from rnagan.checkpoint import load_checkpoint
from rnagan.config import Config, preset
from rnagan.errors import CheckpointError, InputFileError, TrainingDivergedError
from rnagan.gan.sample import load_generator
from rnagan.gan.train import train_gan
from rnagan.slides.dataset import TileDataset
from rnagan.workspace import Workspace

pytestmark = pytest.mark.integration  # GAN training runs, killed training subprocesses, two gloo processes

WORKER = Path(__file__).with_name("train_worker.py")
STEPS = 150  # enough for the toy's colour and texture to follow μ (tiny preset, batch 8)


def toy_config(conditioning: str, **gan: object) -> Config:
    cfg = preset("tiny")
    cfg.gan = cfg.gan.model_copy(
        update={
            "conditioning": conditioning,
            "steps": STEPS,
            "checkpoint_every": 1000,
            "sample_every": 1000,
            "log_every": 10,
            **gan,
        }
    )
    return cfg


@pytest.fixture(scope="module")
def trained(toy_workspace: Workspace) -> dict[str, Path]:
    """One projection (ours) and one paper-faithful reference run on the same data and steps."""
    return {
        "projection": train_gan(toy_workspace, toy_config("projection"), run="rnagan", device="cpu"),
        "reference": train_gan(
            toy_workspace, toy_config("reference", reference_batch_standardize=True), run="reference", device="cpu"
        ),
    }


def tile_features(tiles: torch.Tensor) -> np.ndarray:
    """Per-channel mean and std, and mean absolute vertical / horizontal differences (texture)."""
    x = tiles.float() / 255
    dy = (x[:, :, 1:] - x[:, :, :-1]).abs().mean(dim=(2, 3))
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean(dim=(2, 3))
    return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3)), dy, dx], dim=1).numpy()


def held_out_profiles(ws: Workspace) -> tuple[torch.Tensor, np.ndarray]:
    samples = pd.read_csv(ws.samples_table).set_index("sample_id")
    latents = pd.read_parquet(ws.latents)
    held = samples[samples["split"] != "train"]
    mu = latents.loc[held.index, [f"mu_{k}" for k in range(8)]].to_numpy(dtype="float32")
    return torch.from_numpy(mu), held["tissue"].to_numpy()


def test_tiles_from_held_out_profiles_are_classified_to_their_tissue(trained, toy_workspace: Workspace) -> None:
    index = pd.read_parquet(toy_workspace.tile_index)
    real = torch.stack(list(TileDataset(toy_workspace.tile_store, index)))
    clf = LogisticRegression(max_iter=2000).fit(tile_features(real), index["label"])
    mu, tissues = held_out_profiles(toy_workspace)
    gen = load_generator(trained["projection"])
    fake = gen.generate(mu, n_per_profile=8, seed=0)
    accuracy = (clf.predict(tile_features(fake)) == np.repeat(tissues, 8)).mean()
    assert accuracy >= 0.85, f"held-out conditioning accuracy {accuracy:.2f} (chance 0.5)"


def test_reference_tiles_depend_less_on_mu_than_ours(trained) -> None:
    """The published defect, measured: two very different μ, same noise, how far apart are the tiles?"""
    mu = torch.stack([torch.full((8,), 3.0), torch.full((8,), -3.0)])
    gaps = {}
    for mode, path in trained.items():
        tiles = load_generator(path).generate(mu, n_per_profile=8, seed=0).float()
        gaps[mode] = (tiles[:8] - tiles[8:]).abs().mean().item()
    assert gaps["reference"] < 0.25 * gaps["projection"], gaps
    assert gaps["projection"] > 10, gaps  # grey levels out of 255


def test_generator_contract(trained, toy_workspace: Workspace) -> None:
    gen = load_generator(trained["projection"])
    assert (gen.image_size, gen.conditioning, gen.latent_dim) == (32, "projection", 8)
    mu, _ = held_out_profiles(toy_workspace)
    tiles = gen.generate(mu[:3], n_per_profile=4, seed=7, batch_size=5)
    assert tiles.shape == (12, 3, 32, 32) and tiles.dtype == torch.uint8
    assert torch.equal(tiles, gen.generate(mu[:3], n_per_profile=4, seed=7))  # same seed, same tiles
    # noise j is shared across profiles and calls: explicit noise reproduces generate()
    noise = gen.sample_noise(4, seed=7)
    assert torch.equal(gen.generate_from_noise(mu[1:2].repeat(4, 1), noise), tiles[4:8])
    assert torch.equal(gen.sample_noise(2, seed=7), noise[:2])
    run = toy_workspace.gan_run("rnagan")
    assert (run / "samples" / f"step_{STEPS:07d}.png").is_file() is False  # sample_every=1000
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == list(range(10, STEPS + 1, 10))
    assert any((run / "tb").iterdir())


def test_grids_logs_and_pairing_report(toy_workspace: Workspace) -> None:
    cfg = toy_config("none", steps=4, sample_every=2, checkpoint_every=2, log_every=1)
    ckpt = train_gan(toy_workspace, cfg, run="baseline", device="cpu")
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["pairing"]["samples_paired"] == 12 and meta["pairing"]["tiles_paired"] == 96
    assert sorted(p.name for p in (ckpt.parent / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    assert (ckpt / "training_tiles.csv").is_file()


def run_worker(ws: Workspace, run: str, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(ws.root), run, str(torch.get_num_threads()), *overrides],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def saved_step(checkpoint: Path) -> int:
    """The step of the checkpoint on disk, -1 while none is; read as a resume would (a save may be mid-swap)."""
    try:
        return int(load_checkpoint(checkpoint).meta["step"])
    except (CheckpointError, OSError, ValueError):
        return -1


def test_resume_after_kill_continues_with_identical_losses(toy_workspace: Workspace) -> None:
    common = ["gan.log_every=1", "gan.checkpoint_every=4", "gan.sample_every=1000"]
    full = run_worker(toy_workspace, "uninterrupted", "gan.steps=30", *common)
    assert full.wait(timeout=300) == 0, full.stderr.read().decode()

    victim = run_worker(toy_workspace, "killed", "gan.steps=1000", *common)
    checkpoint = toy_workspace.gan_run("killed") / "checkpoint"
    deadline = time.monotonic() + 120
    while saved_step(checkpoint) < 8:
        assert victim.poll() is None and time.monotonic() < deadline, "the run ended before its checkpoint"
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    resumed_from = load_checkpoint(checkpoint).meta["step"]
    assert resumed_from < 30

    resumed = run_worker(toy_workspace, "killed", "--resume", "gan.steps=30", *common)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()

    def losses(run: str) -> dict[int, tuple[float, float]]:
        lines = (toy_workspace.gan_run(run) / "log.jsonl").read_text().splitlines()
        return {r["step"]: (r["loss_critic"], r["loss_generator"]) for r in map(json.loads, lines)}

    expected, got = losses("uninterrupted"), losses("killed")
    assert sorted(got) == list(range(1, 31))  # records past the checkpoint were dropped, then rewritten
    for step in range(resumed_from + 1, 31):
        assert got[step] == pytest.approx(expected[step], rel=1e-5, abs=1e-6), step


def test_checkpoint_write_killed_midway_never_loads_wrong(toy_workspace: Workspace) -> None:
    """Checkpoint every step and kill -9 at arbitrary moments: what is on disk always loads whole."""
    rng = np.random.default_rng(0)
    for attempt in range(4):
        resume = ["--resume"] if attempt else []  # later attempts continue the run: the last checkpoint stays
        proc = run_worker(
            toy_workspace, "crashy", *resume, "gan.steps=1000", "gan.checkpoint_every=1", "gan.sample_every=1000"
        )
        meta = toy_workspace.gan_run("crashy") / "checkpoint" / "meta.json"
        deadline = time.monotonic() + 120
        while not meta.is_file() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(float(rng.uniform(0.0, 0.5)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        ckpt = load_checkpoint(toy_workspace.gan_run("crashy") / "checkpoint", with_state=True)
        assert ckpt.meta["step"] == int(ckpt.state["step"]), attempt  # weights, meta and state from one save
        load_generator(ckpt.path).generate(torch.zeros(1, 8), n_per_profile=2, seed=0)


def test_divergence_stops_and_keeps_the_last_good_checkpoint(toy_workspace: Workspace) -> None:
    cfg = toy_config("projection", steps=4, checkpoint_every=4)
    ckpt = train_gan(toy_workspace, cfg, run="diverge", device="cpu")
    cfg.gan = cfg.gan.model_copy(update={"steps": 40, "lr_critic": 1e30, "lr_generator": 1e30})
    with pytest.raises(TrainingDivergedError, match="last good checkpoint"):
        train_gan(toy_workspace, cfg, run="diverge", resume=True, device="cpu")
    assert load_checkpoint(ckpt).meta["step"] == 4
    assert all(torch.isfinite(t).all() for t in load_checkpoint(ckpt).tensors.values())


def test_resume_refuses_other_model_settings(toy_workspace: Workspace) -> None:
    cfg = toy_config("projection", steps=2, checkpoint_every=2)
    train_gan(toy_workspace, cfg, run="shape", device="cpu")
    cfg.gan = cfg.gan.model_copy(update={"base_channels": 16, "steps": 4})
    with pytest.raises(CheckpointError, match="base_channels"):
        train_gan(toy_workspace, cfg, run="shape", resume=True, device="cpu")


def test_no_shared_sample_ids_is_reported(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    make_toy_cohort(ws, train_per_tissue=2, held_out_per_tissue=1, tiles_per_sample=2)
    latents = pd.read_parquet(ws.latents)
    latents.index = "other-" + latents.index
    latents.to_parquet(ws.latents)
    with pytest.raises(InputFileError, match=r"6 sample IDs in .*index.parquet, 6 in .*latents.parquet"):
        train_gan(ws, toy_config("projection"), device="cpu")


def test_two_gloo_processes_stay_in_sync(toy_workspace: Workspace, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        str(toy_workspace.root),
        "ddp",
        "1",
        "gan.steps=6",
        "gan.checkpoint_every=3",
        "gan.batch_size=4",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]  # the trainer raises if the ranks' weights differ
    meta = json.loads((toy_workspace.gan_run("ddp") / "checkpoint" / "meta.json").read_text())
    assert meta["world_size"] == 2 and meta["step"] == 6
    state = load_checkpoint(toy_workspace.gan_run("ddp") / "checkpoint", with_state=True).state
    assert sorted(state["rng"]) == ["0", "1"]
    assert not torch.equal(state["rng"]["0"]["torch"], state["rng"]["1"]["torch"])  # per-rank noise streams


@pytest.mark.timeout(360)
def test_two_nodes_train_as_one_node_of_two_processes(toy_workspace: Workspace, two_node_torchrun) -> None:
    """Two torchrun agents of one process each, meeting through c10d, and one agent of two processes: every
    process takes gan.batch_size tiles, so both runs have the same global batch and end with the same weights."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    overrides = ["gan.steps=6", "gan.checkpoint_every=3", "gan.batch_size=4"]
    two_node_torchrun(WORKER, str(toy_workspace.root), "two-nodes", "1", *overrides, env=env, timeout=150)
    one_node = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER)]
    done = subprocess.run(
        [*one_node, str(toy_workspace.root), "one-node", "1", *overrides],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stderr[-3000:]  # in both runs the trainer raises if the ranks' weights differ
    saved = {}
    for run in ("two-nodes", "one-node"):
        folder = toy_workspace.gan_run(run) / "checkpoint"
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["world_size"] == 2 and meta["step"] == 6
        saved[run] = load_file(str(folder / "model.safetensors"))
    assert saved["two-nodes"].keys() == saved["one-node"].keys()
    for name, weights in saved["two-nodes"].items():
        torch.testing.assert_close(weights, saved["one-node"][name], rtol=1e-6, atol=1e-7, msg=name)
