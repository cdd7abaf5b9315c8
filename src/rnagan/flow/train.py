"""Train the flow-matching generator on paired tiles and μ, on the run layer (resume, overwrite guard, budget).

    rnagan flow train -w runs/lung --preset small --run flow
    rnagan flow train -w runs/lung --preset small --set flow.conditioning=none   # the ablation

One process (CPU or one GPU). On CUDA the step runs under bf16 autocast and the network in
``channels_last`` (tensor-core convolutions); on a CPU in fp32. Samples come from the EMA weights.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.utils import make_grid, save_image
from tqdm import tqdm

from rnagan import runs
from rnagan.batches import EpochBatchSampler
from rnagan.checkpoint import Checkpoint, fingerprint, weights_fingerprint
from rnagan.config import Config, FlowConfig
from rnagan.errors import ConfigError, TrainingDivergedError
from rnagan.fileio import atomic_path
from rnagan.flow.data import load_tiles
from rnagan.flow.objective import FlowMatching, Solve, latent_statistics
from rnagan.flow.sample import FlowTileGenerator
from rnagan.pairing import PairedData, pair_tiles
from rnagan.runs import Budget, RunFolder, RunLog
from rnagan.runtime import autocast, pick_device, rng_state, seed_everything, set_rng_state
from rnagan.slides.augment import random_flips
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)

# What a resumed run may change besides the run layer's: the optimiser's rates and clip (set again on
# resume), and how the grids are sampled. The rest shapes the network, the loss or the data order.
MAY_DIFFER = runs.MAY_DIFFER | {
    "lr",
    "betas",
    "grad_clip",
    "guidance_scale",
    "solver",
    "sampling_steps",
    "tolerance",
    "grid_profiles",
    "grid_noises",
}


@dataclass
class _Trainer:
    """What a checkpoint restores: the objective, its EMA copy, the optimiser and the step."""

    objective: FlowMatching
    ema: FlowMatching
    opt: torch.optim.Optimizer
    step: int = 0


@dataclass
class _Run:
    """Where one run writes, and its data on the device."""

    config: Config
    folder: RunFolder
    data: PairedData
    tiles: torch.Tensor  # (N, 3, S, S) uint8 on the device
    latents: torch.Tensor  # (n_samples, d) raw μ on the device
    vae_fingerprint: str | None


def run_folder(workspace: Workspace, run: str) -> RunFolder:
    """gan/RUN: the conditional stage's runs share one folder, whatever their family (meta.json's kind says)."""
    return RunFolder(
        workspace.gan_run(run),
        f"gan/{run}",
        section="flow",
        may_differ=MAY_DIFFER,
        data="paired tiles or latents",
        last="checkpoint",
        best=None,
        log="log.jsonl",
        outputs=("samples", "tb"),
    )


def train_flow(
    workspace: Workspace,
    config: Config,
    *,
    run: str = "flow",
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    max_seconds: float | None = None,
) -> Path:
    """Train (or resume) the flow run ``workspace/gan/<run>``; returns its checkpoint folder.

    The run layer decides as for the GAN: an existing run is continued with ``resume``, replaced with
    ``overwrite`` and otherwise refused; a resume refuses other data and changed settings outside
    :data:`MAY_DIFFER`. Stops after ``config.flow.steps`` steps or the first step past ``max_seconds``.
    """
    dev = pick_device(device)
    folder = run_folder(workspace, run)
    folder.claim(resume=resume, overwrite=overwrite)
    job = _open_run(workspace, config, folder, dev)
    trainer = _new_trainer(config.flow, job.data, dev)
    if resume:
        _resume(trainer, folder.restore(config, data_fingerprint=_data_fingerprint(job.data)), config.flow)
    return _train(trainer, job, Budget(config.flow.steps, max_seconds), resume=resume)


def _open_run(workspace: Workspace, config: Config, folder: RunFolder, dev: torch.device) -> _Run:
    cfg = config.flow
    data = pair_tiles(workspace, cfg)
    if cfg.conditioning == "mu" and data.latent_dim != cfg.latent_dim:
        raise ConfigError(
            f"the latents in {workspace.latents} have {data.latent_dim} dimensions but flow.latent_dim is "
            f"{cfg.latent_dim}: set --set flow.latent_dim={data.latent_dim}"
        )
    tiles = load_tiles(workspace, data.tiles, cfg.image_size).to(dev)
    bf16 = cfg.precision == "auto" and dev.type == "cuda" and torch.cuda.is_bf16_supported()
    log.info(
        "flow %s on %s (%s): %d tiles of %d training samples",
        folder.label,
        dev,
        "bf16 autocast" if bf16 else "fp32",
        len(data.tiles),
        len(data.sample_ids),
    )
    vae = weights_fingerprint(workspace.vae_checkpoint) if workspace.vae_checkpoint.is_dir() else None
    return _Run(config, folder, data, tiles, data.latents.to(dev), vae)


def _new_trainer(cfg: FlowConfig, data: PairedData, dev: torch.device) -> _Trainer:
    seed_everything(cfg.seed)
    mean, std = latent_statistics(data.latents)
    objective = FlowMatching(cfg, latent_mean=mean, latent_std=std).to(dev)
    if dev.type == "cuda":  # NHWC: cuDNN's tensor-core convolutions under bf16
        objective.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(objective).eval().requires_grad_(False)
    opt = torch.optim.AdamW(objective.net.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=0.0)
    return _Trainer(objective, ema, opt)


def train_step(objective: FlowMatching, opt: torch.optim.Optimizer, tiles: torch.Tensor, mu: torch.Tensor) -> float:
    """One update on uint8 tiles (N, 3, S, S) of raw μ (N, d): flips, the flow-matching loss, a clipped step."""
    cfg = objective.config
    x1 = tiles.float() / 127.5 - 1
    if cfg.augment_flips:
        x1 = random_flips(x1)
    if x1.is_cuda:
        x1 = x1.contiguous(memory_format=torch.channels_last)
    with autocast(x1.device, cfg.precision == "auto"):
        loss = objective(x1, mu)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(objective.net.parameters(), cfg.grad_clip)
    opt.step()
    return float(loss.detach())


@torch.no_grad()
def _update_ema(ema: FlowMatching, model: FlowMatching, decay: float) -> None:
    for e, p in zip(ema.net.parameters(), model.net.parameters(), strict=True):
        e.lerp_(p, 1.0 - decay)


def _train(trainer: _Trainer, job: _Run, budget: Budget, *, resume: bool) -> Path:
    """The loop: a step and the EMA, then logs, grids and checkpoints at their intervals, to the budget."""
    cfg = job.config.flow
    batches = iter(
        EpochBatchSampler(
            len(job.data.tiles), cfg.batch_size, seed=cfg.seed, start=trainer.step, setting="flow.batch_size"
        )
    )
    rows = torch.as_tensor(job.data.tiles["row"].to_numpy(), device=job.latents.device)
    logbook = RunLog(job.folder, step=trainer.step, resume=resume)
    bar = tqdm(total=cfg.steps, initial=trainer.step, unit="step", dynamic_ncols=True)
    stop = False
    while not (stop or budget.finished(trainer.step)):
        index = torch.as_tensor(next(batches), device=job.tiles.device)
        loss = train_step(trainer.objective, trainer.opt, job.tiles[index], job.latents[rows[index]])
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"flow training diverged at step {trainer.step} (loss {loss}); the last good checkpoint is "
                f"kept in {job.folder.last_dir}: lower flow.lr, or resume from it with --resume"
            )
        _update_ema(trainer.ema, trainer.objective, min(cfg.ema_decay, (1 + trainer.step) / (10 + trainer.step)))
        trainer.step += 1
        stop = budget.over()
        bar.update(1)
        if trainer.step % cfg.log_every == 0 or budget.finished(trainer.step):
            logbook.write({"step": trainer.step, "loss": loss})
            bar.set_postfix(loss=f"{loss:.4f}")
        if trainer.step % cfg.sample_every == 0:
            _save_grid(trainer, job)
        if stop or budget.finished(trainer.step) or trainer.step % cfg.checkpoint_every == 0:
            _save(trainer, job, budget)
    bar.close()
    logbook.close()
    log.info("flow checkpoint: %s (step %d, %.0f s)", job.folder.last_dir, trainer.step, budget.seconds)
    return job.folder.last_dir


def _resume(trainer: _Trainer, ckpt: Checkpoint, cfg: FlowConfig) -> None:
    """Weights, EMA, fixed statistics, optimiser (its rates set again from ``cfg``), step and RNG."""
    trainer.objective.net.load_state_dict(ckpt.subset("net"))
    trainer.ema.net.load_state_dict(ckpt.subset("ema"))
    for module in (trainer.objective, trainer.ema):
        module.latent_mean.copy_(ckpt.tensors["latent_mean"])
        module.latent_std.copy_(ckpt.tensors["latent_std"])
    trainer.opt.load_state_dict(ckpt.state["opt"])
    for group in trainer.opt.param_groups:
        group["lr"], group["betas"] = cfg.lr, cfg.betas
    trainer.step = int(ckpt.state["step"])
    set_rng_state(ckpt.state["rng"])
    log.info("resumed %s at step %d", ckpt.path, trainer.step)


def _save(trainer: _Trainer, job: _Run, budget: Budget) -> None:
    """Checkpoint: network, EMA, statistics, optimiser, step and RNG; meta says it is a flow run."""
    objective = trainer.objective
    tensors = {
        **{f"net.{k}": v for k, v in objective.net.state_dict().items()},
        **{f"ema.{k}": v for k, v in trainer.ema.net.state_dict().items()},
        "latent_mean": objective.latent_mean,
        "latent_std": objective.latent_std,
    }
    meta = {
        "kind": "flow",
        "run": job.folder.path.name,
        "step": trainer.step,
        "conditioning": job.config.flow.conditioning,
        "parameters": sum(p.numel() for p in objective.net.parameters()),
        "seconds": round(budget.seconds, 1),
        "data_fingerprint": _data_fingerprint(job.data),
        "vae_fingerprint": job.vae_fingerprint,
    }
    state = {"step": trainer.step, "opt": trainer.opt.state_dict(), "rng": rng_state()}
    files = {"training_tiles.csv": job.data.tiles.to_csv(index=False).encode()}
    job.folder.save(job.folder.last_dir, tensors=tensors, config=job.config, meta=meta, state=state, files=files)


def _data_fingerprint(data: PairedData) -> str:
    return fingerprint(data.latents, "\n".join(data.tiles["key"]))


def _save_grid(trainer: _Trainer, job: _Run) -> None:
    """samples/step_N.png from the EMA weights: a row per fixed training profile, a column per fixed noise."""
    cfg = job.config.flow
    sampler = FlowTileGenerator(trainer.ema, Solve.from_config(cfg), job.latents.device)
    mu = job.data.latents[: cfg.grid_profiles]
    tiles = sampler.generate(mu, n_per_profile=cfg.grid_noises, seed=cfg.seed)
    path = job.folder.path / "samples" / f"step_{trainer.step:07d}.png"
    with atomic_path(path, suffix=".png") as tmp:
        save_image(make_grid(tiles.float() / 255, nrow=cfg.grid_noises, padding=1), tmp, format="png")
