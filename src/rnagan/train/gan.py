"""Train RNA-GAN: a WGAN-GP whose generator draws tiles from a sample's expression latent μ.

Single process (CPU, one GPU)::

    rnagan gan train -w runs/lung --preset small --run rnagan

Several GPUs or nodes (one process per GPU; NCCL on GPUs, gloo on CPUs)::

    torchrun --nproc_per_node=4 -m rnagan gan train -w runs/lung --run rnagan

Three layers, as in lucidrains' denoising-diffusion (Unet / GaussianDiffusion / Trainer):
``rnagan.models.gan`` holds the networks, :class:`GANObjective` owns how μ becomes the generator's
input and the WGAN-GP losses, and :func:`train_gan` is one visible loop (data, optimisers, EMA,
DDP, checkpoints, logs). :func:`load_generator` gives the EMA generator for sampling.

Conditioning modes (``gan.conditioning``):

- ``projection`` (ours): μ standardised with fixed training-set statistics (stored in the checkpoint)
  plus small noise goes to the generator, and the critic sees the same standardised μ through a
  projection term, so tiles that ignore μ are penalised;
- ``reference`` (the paper's): μ + U(-0.3, 0.3) to the generator, the critic blind to it;
  ``reference_batch_standardize`` adds the published per-batch standardisation, which cancels μ
  exactly whenever a batch holds one profile (reference_notes §4.4);
- ``none``: noise only (the paper's GAN baseline).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import make_grid, save_image
from tqdm import tqdm

from rnagan.checkpoint import fingerprint, load_checkpoint, save_checkpoint
from rnagan.config import Config, GANConfig
from rnagan.errors import CheckpointError, ConfigError, TrainingDivergedError
from rnagan.fileio import atomic_path
from rnagan.gan_data import EpochBatchSampler, PairedData, PairedTileDataset, augment, pair_tiles
from rnagan.models.gan import Critic, Generator
from rnagan.train.common import (
    Distributed,
    autocast,
    evaluating,
    init_distributed,
    pick_device,
    rng_state,
    seed_everything,
    set_rng_state,
    shutdown_distributed,
)
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)

# Fields that shape the networks or the meaning of their input: a resumed run must match them.
MODEL_FIELDS = ("conditioning", "image_size", "latent_dim", "noise_dim", "noise", "noise_scale", "base_channels",
                "max_channels", "upsample", "reference_batch_standardize")


# ----------------------------------------------------------------------------------------------
# The objective: how μ becomes the generator's input, and the WGAN-GP losses
# ----------------------------------------------------------------------------------------------

def sample_noise(n: int, config: GANConfig, *, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard noise (n, latent_dim + noise_dim): U(-1, 1) or N(0, 1) as ``config.noise`` says.

    The first ``latent_dim`` columns perturb μ (scaled by ``noise_scale``); the rest are extra noise
    channels. Drawn on the CPU with an optional generator, so a seed gives the same noise everywhere.
    """
    shape = (n, config.latent_dim + config.noise_dim)
    if config.noise == "uniform":
        noise = torch.rand(shape, generator=generator) * 2 - 1
    else:
        noise = torch.randn(shape, generator=generator)
    return noise.to(device)


def generator_input(mu: torch.Tensor | None, noise: torch.Tensor, config: GANConfig, *,
                    latent_mean: torch.Tensor, latent_std: torch.Tensor, group_size: int | None = None
                    ) -> torch.Tensor:
    """(raw μ (N, d), noise (N, d + noise_dim)) → generator input (N, d + noise_dim).

    ``group_size`` only matters for the reference batch standardisation: rows are standardised in
    consecutive groups of that size (the published generation script standardised per patient).
    """
    d = config.latent_dim
    if config.conditioning == "none":
        return noise  # the baseline: randn / rand only (the paper's GAN used randn(B, 2048))
    if mu is None:
        raise ValueError(f"conditioning {config.conditioning!r} needs μ")
    perturbation, extra = config.noise_scale * noise[:, :d], noise[:, d:]
    if config.conditioning == "projection":
        code = (mu - latent_mean) / latent_std + perturbation
    else:  # reference: μ + U(-0.3, 0.3), optionally standardised across the batch as published
        code = mu + perturbation
        if config.reference_batch_standardize:
            groups = code.reshape(-1, group_size or code.shape[0], d)
            groups = (groups - groups.mean(1, keepdim=True)) / groups.std(1, keepdim=True)  # unbiased, as torch
            code = groups.reshape(-1, d)
    return torch.cat([code, extra], dim=1)


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None
                     ) -> torch.Tensor:
    """Mean over samples of (‖∇ₓ D(x̂ᵢ, yᵢ)‖₂ − 1)², x̂ᵢ = εᵢ realᵢ + (1 − εᵢ) fakeᵢ, εᵢ ~ U(0, 1).

    One ε and one gradient norm *per sample* (Gulrajani et al. 2017, Algorithm 1). The published code
    drew one ε per batch and took the norm of the whole batch's gradient (reference_notes §4.2),
    which constrains the average slope, not the slope at each sample.
    """
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    score = critic(x_hat, y)
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)  # sum: sample i only feeds D(x̂ᵢ)
    norms = grad.flatten(1).norm(2, dim=1)  # (N,)
    return ((norms - 1) ** 2).mean()


class CriticTerms(NamedTuple):
    """The critic's loss and the parts logged beside it."""

    loss: torch.Tensor
    gap: torch.Tensor
    gp: torch.Tensor


class GANObjective(nn.Module):
    """The generator, the critic, the fixed latent statistics, and the WGAN-GP losses over them."""

    def __init__(self, config: GANConfig, *, latent_mean: torch.Tensor, latent_std: torch.Tensor) -> None:
        super().__init__()
        self.config = config
        self.generator = Generator(config.latent_dim + config.noise_dim, image_size=config.image_size,
                                   base_channels=config.base_channels, max_channels=config.max_channels,
                                   upsample=config.upsample)
        cond_dim = config.latent_dim if config.conditioning == "projection" else 0  # reference: critic blind
        self.critic = Critic(image_size=config.image_size, base_channels=config.base_channels,
                             max_channels=config.max_channels, cond_dim=cond_dim)
        # Fixed once from the training samples and saved with the weights; never recomputed per batch.
        self.register_buffer("latent_mean", latent_mean.float().clone())
        self.register_buffer("latent_std", latent_std.float().clone())

    def condition(self, mu: torch.Tensor) -> torch.Tensor | None:
        """What the critic sees: standardised μ (projection) or nothing."""
        if self.config.conditioning != "projection":
            return None
        return (mu - self.latent_mean) / self.latent_std

    def fake(self, mu: torch.Tensor) -> torch.Tensor:
        noise = sample_noise(mu.shape[0], self.config, device=mu.device)
        z = generator_input(mu, noise, self.config, latent_mean=self.latent_mean, latent_std=self.latent_std)
        return self.generator(z)

    def critic_loss(self, real: torch.Tensor, mu: torch.Tensor) -> CriticTerms:
        """The critic's loss −gap + λ·GP on one batch, with its parts.

        The critic maximises the gap E[D(real)] − E[D(fake)], its estimate of the Wasserstein-1
        distance: a few critic steps with the generator fixed make it grow, and generator steps
        against a fixed critic make it shrink.
        """
        y = self.condition(mu)
        with torch.no_grad():
            fake = self.fake(mu)
        gap = self.critic(real, y).mean() - self.critic(fake, y).mean()
        gp = gradient_penalty(self.critic, real, fake, y)
        return CriticTerms(-gap + self.config.gp_lambda * gp, gap, gp)

    def generator_loss(self, mu: torch.Tensor) -> torch.Tensor:
        """−E[D(G(z), y)]: the generator raises the critic's score of its tiles for their own μ."""
        return -self.critic(self.fake(mu), self.condition(mu)).mean()


def latent_statistics(latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and (population) std over training samples; near-constant dims get std 1.

    Each sample counts once whatever its number of tiles. Collapsed VAE dimensions (std ≈ 0) are left
    unscaled rather than blown up into noise (as scikit-learn's ``_handle_zeros_in_scale``).
    """
    mean = latents.mean(0)
    std = latents.std(0, unbiased=False) if latents.shape[0] > 1 else torch.ones_like(mean)
    return mean, torch.where(std < 1e-6, torch.ones_like(std), std)


# ----------------------------------------------------------------------------------------------
# Sampling from a trained generator
# ----------------------------------------------------------------------------------------------

class TileGenerator:
    """The EMA generator of a checkpoint, in eval mode, turning raw μ into uint8 tiles.

    >>> gen = load_generator(ws.gan_run("rnagan") / "checkpoint")
    >>> tiles = gen.generate(mu, n_per_profile=8, seed=0)  # (N*8, 3, S, S) uint8, profile-major

    Noise depends only on (seed, noise index j), never on μ: tile i*n + j of one call and of another
    call with a perturbed μ share their noise, so differences come from μ alone.
    """

    def __init__(self, generator: Generator, config: GANConfig, latent_mean: torch.Tensor,
                 latent_std: torch.Tensor, device: torch.device) -> None:
        self.generator = generator.to(device).eval()
        self.config = config
        self.device = device
        self.latent_mean, self.latent_std = latent_mean.to(device), latent_std.to(device)

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def conditioning(self) -> str:
        return self.config.conditioning

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def noise_dim(self) -> int:
        """Columns of the noise that :meth:`generate_from_noise` takes: latent_dim + extra noise."""
        return self.config.latent_dim + self.config.noise_dim

    def sample_noise(self, n: int, seed: int) -> torch.Tensor:
        """(n, noise_dim) noise; row j is the same for a given seed whatever n ≥ j."""
        return sample_noise(n, self.config, generator=torch.Generator().manual_seed(seed))

    @torch.no_grad()
    def generate_from_noise(self, mu: torch.Tensor, noise: torch.Tensor, *, group_size: int | None = None
                            ) -> torch.Tensor:
        """Raw μ (N, d) and noise (N, noise_dim) → uint8 tiles (N, 3, S, S), in one batch."""
        if mu.ndim != 2 or mu.shape[1] != self.latent_dim:
            raise ValueError(f"μ has shape {tuple(mu.shape)}, but this generator expects (N, {self.latent_dim})")
        if noise.shape != (mu.shape[0], self.noise_dim):
            raise ValueError(f"noise has shape {tuple(noise.shape)}, expected ({mu.shape[0]}, {self.noise_dim})")
        z = generator_input(mu.float().to(self.device), noise.float().to(self.device), self.config,
                            latent_mean=self.latent_mean, latent_std=self.latent_std, group_size=group_size)
        images = self.generator(z)  # (N, 3, S, S) in [-1, 1]
        return ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).cpu()

    def generate(self, mu: torch.Tensor, *, n_per_profile: int, seed: int, batch_size: int = 64) -> torch.Tensor:
        """``n_per_profile`` tiles per row of raw μ (N, d) → uint8 (N * n_per_profile, 3, S, S).

        With the reference batch standardisation, each profile's tiles are standardised together,
        as the published generation script did per patient (μ then cancels: the measured defect).
        """
        mu = torch.as_tensor(mu, dtype=torch.float32)
        noise = self.sample_noise(n_per_profile, seed)  # (n, noise_dim), shared by every profile
        rows_mu = mu.repeat_interleave(n_per_profile, dim=0)  # (N*n, d)
        rows_noise = noise.repeat(mu.shape[0], 1)  # (N*n, noise_dim)
        if self.config.conditioning == "reference" and self.config.reference_batch_standardize:
            if n_per_profile < 2:
                raise ValueError("the reference batch standardisation needs n_per_profile >= 2 (std of 1 row is NaN)")
            per_batch = n_per_profile * max(1, batch_size // n_per_profile)  # whole profiles per batch
            return torch.cat([
                self.generate_from_noise(rows_mu[i : i + per_batch], rows_noise[i : i + per_batch],
                                         group_size=n_per_profile)
                for i in range(0, rows_mu.shape[0], per_batch)
            ])
        return torch.cat([self.generate_from_noise(rows_mu[i : i + batch_size], rows_noise[i : i + batch_size])
                          for i in range(0, rows_mu.shape[0], batch_size)])


def load_generator(checkpoint_path: str | Path, device: str = "cpu") -> TileGenerator:
    """The EMA generator of a ``gan/<run>/checkpoint`` folder, ready to sample (eval mode, no grad)."""
    ckpt = load_checkpoint(checkpoint_path, map_location="cpu")
    config = ckpt.config.gan
    generator = Generator(config.latent_dim + config.noise_dim, image_size=config.image_size,
                          base_channels=config.base_channels, max_channels=config.max_channels,
                          upsample=config.upsample)
    ema = ckpt.subset("ema")
    if not ema:
        raise CheckpointError(f"{ckpt.path} holds no generator weights (ema.*): is it a GAN checkpoint?")
    try:
        generator.load_state_dict(ema)
    except RuntimeError as err:
        raise CheckpointError(f"{ckpt.path}: the generator weights do not match its config.yaml: {err}") from None
    return TileGenerator(generator, config, ckpt.tensors["latent_mean"], ckpt.tensors["latent_std"],
                         pick_device(device))


# ----------------------------------------------------------------------------------------------
# The training loop
# ----------------------------------------------------------------------------------------------

@dataclass
class _Grid:
    """Fixed profiles (rows) × fixed noise (columns) drawn every ``sample_every`` steps."""

    mu: torch.Tensor  # (P, d) raw μ
    labels: list[str]  # "tissue/sample_id (split)"
    noise: torch.Tensor  # (P * n, noise_dim)


def _fixed_grid(data: PairedData, config: GANConfig) -> _Grid:
    """Per tissue, the first profiles in ID order, training ones first, then held-out ones."""
    chosen = []
    for _tissue, group in data.profiles.sort_index().groupby("tissue", sort=True):
        order = group.assign(held_out=group["split"] != "train").sort_values("held_out", kind="stable")
        chosen.append(order.head(config.grid_profiles_per_tissue))
    table = pd.concat(chosen)
    mu_cols = [c for c in table.columns if str(c).startswith("mu_")]
    noise = sample_noise(config.grid_noises, config, generator=torch.Generator().manual_seed(config.seed))
    return _Grid(mu=torch.from_numpy(table[mu_cols].to_numpy(dtype="float32")),
                 labels=[f"{r.tissue}/{sid} ({r.split})" for sid, r in table.iterrows()],
                 noise=noise.repeat(len(table), 1))


def _all_reduce_grads(module: nn.Module, world: Distributed) -> None:
    """Average gradients over ranks in one flat buffer.

    Not DDP: DDP's reducer does not support the double backward of the gradient penalty
    (its docs: "doesn't work with torch.autograd.grad()"), and one flat all-reduce is as fast here.
    """
    if not world.enabled:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


@torch.no_grad()
def _update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """Average the weights only: BN statistics of the averaged weights come from :func:`recalibrate_batch_norm`."""
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p, 1.0 - decay)


@torch.no_grad()
def recalibrate_batch_norm(generator: Generator, latents: torch.Tensor, config: GANConfig, *,
                           latent_mean: torch.Tensor, latent_std: torch.Tensor) -> None:
    """Re-estimate the generator's BN running statistics for its *own* weights ("standing statistics").

    The EMA generator's weights are an average, but the live generator's running statistics belong to
    the live weights; sampling the average with them shifts every activation, and while the weights
    still move fast (short runs) that shift can decide what tiles look like (docs/gan.md). So the
    statistics are averaged over ``config.bn_recalibration_batches`` batches of training μ and fresh
    noise, drawn from a generator seeded with ``config.seed`` (the global RNG, which a resumed run
    replays, is not touched), in train mode with a cumulative average (BigGAN's "standing
    statistics", Brock et al. 2019).
    """
    norms = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    if not norms:
        return
    rng = torch.Generator().manual_seed(config.seed)
    was_training, momenta = generator.training, [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average: every batch counts the same
    generator.train()
    for _ in range(config.bn_recalibration_batches):
        rows = torch.randint(0, latents.shape[0], (config.batch_size,), generator=rng)
        noise = sample_noise(config.batch_size, config, generator=rng, device=latents.device)
        generator(generator_input(latents[rows], noise, config, latent_mean=latent_mean, latent_std=latent_std))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    generator.train(was_training)


def train_step(objective: GANObjective, opt_d: torch.optim.Optimizer, opt_g: torch.optim.Optimizer,
               next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]], world: Distributed | None = None
               ) -> tuple[CriticTerms, torch.Tensor]:
    """One training step: ``n_critic`` critic updates, each on a fresh batch, then one generator update.

    ``next_batch()`` gives (uint8 tiles (N, 3, S, S), raw μ (N, d)) on the objective's device; the
    tiles are augmented here. The generator update uses the last batch's profiles. Returns the last
    critic update's terms and the generator loss.
    """
    cfg, world = objective.config, world or Distributed()
    dev = objective.latent_mean.device
    jitter = cfg.color_jitter if cfg.augment_color_jitter else 0.0
    objective.critic.requires_grad_(True)
    for _ in range(cfg.n_critic):
        tiles, mu = next_batch()
        real = augment(tiles, flips=cfg.augment_flips, jitter=jitter)
        if dev.type == "cuda":
            real = real.contiguous(memory_format=torch.channels_last)
        with autocast(dev):
            terms = objective.critic_loss(real, mu)
        opt_d.zero_grad(set_to_none=True)
        terms.loss.backward()
        _all_reduce_grads(objective.critic, world)
        opt_d.step()
    objective.critic.requires_grad_(False)
    with autocast(dev):
        loss_g = objective.generator_loss(mu)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    _all_reduce_grads(objective.generator, world)
    opt_g.step()
    if world.enabled:  # BN running statistics: rank 0's, as DDP's broadcast_buffers does
        for b in objective.generator.buffers():
            dist.broadcast(b, 0)
    return terms, loss_g


def _check_ranks_in_sync(objective: GANObjective, world: Distributed) -> None:
    """Every rank must hold the same weights (same init, same averaged gradients); fail loudly if not."""
    if not world.enabled:
        return
    checksum = torch.stack([p.detach().double().sum() for p in objective.parameters()])
    gathered = [torch.empty_like(checksum) for _ in range(world.world_size)]
    dist.all_gather(gathered, checksum.contiguous())
    if any(not torch.equal(gathered[0], g) for g in gathered[1:]):
        raise RuntimeError("DDP ranks hold different weights: gradients were not averaged identically")


def _check_compatible(saved: GANConfig, wanted: GANConfig, path: Path) -> None:
    diffs = [f"{f}: checkpoint {getattr(saved, f)!r}, requested {getattr(wanted, f)!r}"
             for f in MODEL_FIELDS if getattr(saved, f) != getattr(wanted, f)]
    if diffs:
        raise CheckpointError(f"cannot resume {path}: the model settings differ ({'; '.join(diffs)}); "
                              "resume with the checkpoint's settings or start a new --run")


def train_gan(workspace: Workspace, config: Config, *, run: str = "rnagan", resume: bool = False,
              device: str = "auto", max_seconds: float | None = None) -> Path:
    """Train (or resume) one GAN run; returns ``workspace.gan_run(run) / "checkpoint"``.

    Stops after ``config.gan.steps`` steps, or earlier once ``max_seconds`` have passed (saving a
    checkpoint either way). A NaN/Inf loss raises :class:`TrainingDivergedError` and leaves the last
    good checkpoint in place. ``batch_size`` is per process under torchrun.
    """
    cfg = config.gan
    world, dev = init_distributed(device)
    run_dir = workspace.gan_run(run)
    ckpt_dir, samples_dir, log_file = run_dir / "checkpoint", run_dir / "samples", run_dir / "log.jsonl"
    started = time.monotonic()
    try:
        data = pair_tiles(workspace, cfg)
        if world.is_main:
            r = data.report
            log.info("GAN data: %d train samples paired (of %d with tiles, %d with latents, %d in the train split); "
                     "%d tiles kept, %d dropped (other splits, unpaired, over the cap of %d per sample)",
                     r["samples_paired"], r["samples_with_tiles"], r["samples_with_latents"], r["train_samples"],
                     r["tiles_paired"], r["tiles_dropped"], cfg.tiles_per_sample)
        if cfg.conditioning != "none" and data.latent_dim != cfg.latent_dim:
            raise ConfigError(f"the latents in {workspace.latents} have {data.latent_dim} dimensions but "
                              f"gan.latent_dim is {cfg.latent_dim}: set --set gan.latent_dim={data.latent_dim}")

        # Same seed on every rank for the weights; then a per-rank seed for noise and augmentation.
        seed_everything(cfg.seed)
        mean, std = latent_statistics(data.latents)
        objective = GANObjective(cfg, latent_mean=mean, latent_std=std).to(dev)
        if dev.type == "cuda":  # NHWC lets cuDNN use tensor cores for the convolutions under bf16
            objective.to(memory_format=torch.channels_last)
        ema = copy.deepcopy(objective.generator).eval().requires_grad_(False)
        step, batches_done = 0, 0
        opt_g = torch.optim.Adam(objective.generator.parameters(), lr=cfg.lr_generator, betas=cfg.betas)
        opt_d = torch.optim.Adam(objective.critic.parameters(), lr=cfg.lr_critic, betas=cfg.betas)
        seed_everything(cfg.seed + world.rank)
        if resume:
            ckpt = load_checkpoint(ckpt_dir, with_state=True)  # optimisers move their state to the params
            _check_compatible(ckpt.config.gan, cfg, ckpt.path)
            objective.generator.load_state_dict(ckpt.subset("generator"))
            objective.critic.load_state_dict(ckpt.subset("critic"))
            ema.load_state_dict(ckpt.subset("ema"))
            objective.latent_mean.copy_(ckpt.tensors["latent_mean"])  # the run's fixed statistics
            objective.latent_std.copy_(ckpt.tensors["latent_std"])
            opt_g.load_state_dict(ckpt.state["opt_g"])
            opt_d.load_state_dict(ckpt.state["opt_d"])
            for opt, lr in ((opt_g, cfg.lr_generator), (opt_d, cfg.lr_critic)):  # the config may lower them
                for group in opt.param_groups:
                    group["lr"], group["betas"] = lr, cfg.betas
            step, batches_done = int(ckpt.state["step"]), int(ckpt.state["batches_done"])
            if str(world.rank) in ckpt.state["rng"] and int(ckpt.meta.get("world_size", 1)) == world.world_size:
                set_rng_state(ckpt.state["rng"][str(world.rank)])
            elif world.is_main:
                log.warning("resuming with a different number of processes: the RNG streams restart")
            if world.is_main:
                log.info("resumed %s at step %d", ckpt.path, step)

        latents = data.latents.to(dev)
        dataset = PairedTileDataset(workspace.tile_store, data.tiles, cfg.image_size, cache_mb=cfg.cache_mb)
        sampler = EpochBatchSampler(len(dataset), cfg.batch_size, seed=cfg.seed, rank=world.rank,
                                    world_size=world.world_size, start=batches_done,
                                    groups=data.tiles["row"].to_numpy() if cfg.balance == "sample" else None)
        workers = 0 if dataset.cache is not None else cfg.num_workers
        # Its own generator: creating the iterator would otherwise draw from the global RNG and shift
        # the noise stream of a resumed run by one draw.
        batches = iter(DataLoader(dataset, batch_sampler=sampler, num_workers=workers,
                                  pin_memory=dev.type == "cuda", persistent_workers=workers > 0,
                                  generator=torch.Generator().manual_seed(cfg.seed)))
        grid = _fixed_grid(data, cfg)
        writer = None
        if world.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            _truncate_log(log_file, step)
            writer = SummaryWriter(str(run_dir / "tb"), purge_step=step if resume else None)

        calibrated_at = -1

        def recalibrate() -> None:
            """Standing BN statistics for the EMA weights, once per step at most."""
            nonlocal calibrated_at
            if calibrated_at != step:
                recalibrate_batch_norm(ema, latents, cfg, latent_mean=objective.latent_mean,
                                       latent_std=objective.latent_std)
                calibrated_at = step

        def save() -> None:
            """Checkpoint (rank 0 writes; every rank contributes its RNG state)."""
            _check_ranks_in_sync(objective, world)
            recalibrate()
            rngs = [rng_state()]
            if world.enabled:
                rngs = [None] * world.world_size
                dist.all_gather_object(rngs, rng_state())
            if world.is_main:
                tensors = {**{f"generator.{k}": v for k, v in objective.generator.state_dict().items()},
                           **{f"critic.{k}": v for k, v in objective.critic.state_dict().items()},
                           **{f"ema.{k}": v for k, v in ema.state_dict().items()},
                           "latent_mean": objective.latent_mean, "latent_std": objective.latent_std}
                save_checkpoint(
                    ckpt_dir, tensors=tensors, config=config,
                    meta={"kind": "gan", "run": run, "step": step, "conditioning": cfg.conditioning,
                          "world_size": world.world_size, "pairing": data.report,
                          "data_fingerprint": fingerprint(data.latents, "\n".join(data.tiles["key"]))},
                    state={"step": step, "batches_done": batches_done, "opt_g": opt_g.state_dict(),
                           "opt_d": opt_d.state_dict(), "rng": {str(i): s for i, s in enumerate(rngs)}},
                    files={"training_tiles.csv": data.tiles.to_csv(index=False).encode()},
                )
            world.barrier()

        bar = tqdm(total=cfg.steps, initial=step, unit="step", disable=not world.is_main, dynamic_ncols=True)

        def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
            nonlocal batches_done
            tiles, rows = next(batches)
            batches_done += 1
            return tiles.to(dev, non_blocking=True), latents[rows.to(dev)]

        while step < cfg.steps:
            (loss_d, gap, gp), loss_g = train_step(objective, opt_d, opt_g, next_batch, world)
            _update_ema(ema, objective.generator, min(cfg.ema_decay, (1 + step) / (10 + step)))
            step += 1

            out_of_time = max_seconds is not None and time.monotonic() - started > max_seconds
            stats = torch.stack([loss_d.detach().float(), loss_g.detach().float(), gap.detach().float(),
                                 gp.detach().float(), torch.tensor(float(out_of_time), device=dev)])
            if world.enabled:
                dist.all_reduce(stats)
                stats[:4] /= world.world_size
            loss_d_v, loss_g_v, gap_v, gp_v, stop = stats.tolist()
            if not all(math.isfinite(v) for v in (loss_d_v, loss_g_v, gap_v, gp_v)):
                raise TrainingDivergedError(
                    f"GAN training diverged at step {step} (critic loss {loss_d_v}, generator loss {loss_g_v}, "
                    f"gradient penalty {gp_v}); the last good checkpoint is kept in {ckpt_dir}: lower "
                    "gan.lr_generator / gan.lr_critic, or resume from it with --resume")
            bar.update(1)
            if world.is_main and (step % cfg.log_every == 0 or step == cfg.steps):
                record = {"step": step, "loss_critic": loss_d_v, "loss_generator": loss_g_v,
                          "wasserstein_gap": gap_v, "gradient_penalty": gp_v}
                for key, value in record.items():
                    if key != "step":
                        writer.add_scalar(f"gan/{key}", value, step)
                with log_file.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                bar.set_postfix(d=f"{loss_d_v:.3f}", g=f"{loss_g_v:.3f}", gap=f"{gap_v:.3f}", gp=f"{gp_v:.3f}")
            if world.is_main and step % cfg.sample_every == 0:
                recalibrate()
                _save_grid(ema, cfg, objective, grid, samples_dir / f"step_{step:07d}.png")
            if stop or step == cfg.steps or step % cfg.checkpoint_every == 0:
                save()
            if stop:
                if world.is_main:
                    log.info("stopped at step %d after %.0f s (max_seconds=%s)", step,
                             time.monotonic() - started, max_seconds)
                break
        bar.close()
        if world.is_main:
            writer.close()
            log.info("GAN checkpoint: %s (step %d, %.0f s)", ckpt_dir, step, time.monotonic() - started)
        return ckpt_dir
    finally:
        shutdown_distributed()


def _truncate_log(path: Path, step: int) -> None:
    """Drop log records past ``step`` (written by a run killed after its last checkpoint)."""
    if not path.is_file():
        return
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(ln + "\n" for ln in lines))


def _save_grid(ema: Generator, cfg: GANConfig, objective: GANObjective, grid: _Grid, path: Path) -> None:
    """One row per fixed profile (tissue by tissue), one column per fixed noise draw, from the EMA G."""
    sampler = TileGenerator(ema, cfg, objective.latent_mean, objective.latent_std, objective.latent_mean.device)
    with evaluating(ema):
        rows_mu = grid.mu.repeat_interleave(cfg.grid_noises, dim=0)
        tiles = sampler.generate_from_noise(rows_mu, grid.noise, group_size=cfg.grid_noises)
    with atomic_path(path, suffix=".png") as tmp:
        save_image(make_grid(tiles.float() / 255, nrow=cfg.grid_noises, padding=1), tmp, format="png")
