"""Training runs on the toy cohort: resume continues the same run, sampling is seeded, tiles follow μ."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnagan.checkpoint import load_checkpoint
from rnagan.config import Config, preset
from rnagan.errors import CheckpointError
from rnagan.flow.objective import Solve
from rnagan.flow.sample import load_flow_generator
from rnagan.flow.train import train_flow
from rnagan.workspace import Workspace


def _config(conditioning: str = "mu", **flow: object) -> Config:
    cfg = preset("tiny")
    cfg.flow = cfg.flow.model_copy(update={"conditioning": conditioning, "steps": 8, "checkpoint_every": 4, **flow})
    return cfg


def _losses(run_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(toy_workspace: Workspace) -> dict[str, Path]:
    return {c: train_flow(toy_workspace, _config(c), run=f"flow_{c}", device="cpu") for c in ("mu", "none")}


def test_resume_continues_the_same_run(toy_workspace: Workspace, runs: dict[str, Path]) -> None:
    train_flow(toy_workspace, _config(steps=4), run="halves", device="cpu")
    train_flow(toy_workspace, _config(), run="halves", resume=True, device="cpu")
    whole, halves = runs["mu"].parent, toy_workspace.gan_run("halves")
    assert _losses(halves) == pytest.approx(_losses(whole), rel=1e-6)
    a, b = load_checkpoint(runs["mu"]).subset("ema"), load_checkpoint(halves / "checkpoint").subset("ema")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_an_existing_run_is_refused_without_resume_or_overwrite(toy_workspace: Workspace, runs) -> None:
    with pytest.raises(CheckpointError, match=r"already holds a run at step 8: pass --resume"):
        train_flow(toy_workspace, _config(), run="flow_mu", device="cpu")


def test_a_resume_with_another_network_is_refused(toy_workspace: Workspace, runs) -> None:
    with pytest.raises(CheckpointError, match=r"channels: checkpoint \[8, 16\] vs now \[8, 8\]"):
        train_flow(toy_workspace, _config(channels=[8, 8], steps=12), run="flow_mu", resume=True, device="cpu")


def test_checkpoint_names_its_kind(runs: dict[str, Path]) -> None:
    meta = json.loads((runs["mu"] / "meta.json").read_text())
    assert (meta["kind"], meta["step"], meta["conditioning"]) == ("flow", 8, "mu")
    assert (runs["mu"] / "training_tiles.csv").is_file()


def test_generation_is_deterministic_given_the_seed_and_the_guidance(runs: dict[str, Path]) -> None:
    mu = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))

    def draw(seed: int, guidance: float) -> torch.Tensor:
        gen = load_flow_generator(runs["mu"], solve=Solve(solver="euler", steps=3, guidance=guidance))
        return gen.generate(mu, n_per_profile=2, seed=seed)

    first = draw(0, 1.5)
    assert first.shape == (4, 3, 32, 32) and first.dtype == torch.uint8
    assert torch.equal(first, draw(0, 1.5))
    assert not torch.equal(first, draw(1, 1.5))
    assert not torch.equal(first, draw(0, 3.0))


@pytest.mark.parametrize(("conditioning", "depends"), [("mu", True), ("none", False)])
def test_tiles_depend_on_mu_only_when_conditioned(runs: dict[str, Path], conditioning: str, depends: bool) -> None:
    gen = load_flow_generator(runs[conditioning], solve=Solve(solver="euler", steps=3, guidance=1.0))
    a = gen.generate(torch.full((1, 8), 1.5), n_per_profile=2, seed=0)
    b = gen.generate(torch.full((1, 8), -1.5), n_per_profile=2, seed=0)  # the same noise
    assert torch.equal(a, b) is not depends
    assert gen.last_cost["network_calls_per_tile"] == 3
