"""Train RNA-GAN: a WGAN-GP whose generator draws tiles from a sample's expression latent μ.

Single process (CPU, one GPU)::

    rnagan gan train -w runs/lung --preset small --run rnagan

Several GPUs or nodes (one process per GPU; NCCL on GPUs, gloo on CPUs)::

    torchrun --nproc_per_node=4 -m rnagan gan train -w runs/lung --run rnagan

Three layers, as in lucidrains' denoising-diffusion (Unet / GaussianDiffusion / Trainer):
:mod:`rnagan.gan.model` holds the networks, :class:`~rnagan.gan.objective.GANObjective` owns how μ
becomes the generator's input and the WGAN-GP losses, and this module holds the step, the EMA, the
batch-norm recalibration and one visible loop; what every trainer shares (the new/resume/overwrite
guard, the resume check, checkpoints, logs, the budget) is :mod:`rnagan.runs`.
:func:`rnagan.gan.sample.load_generator` gives the EMA generator for sampling; the conditioning modes
are described in :mod:`rnagan.gan.objective`.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader
from torchvision.utils import make_grid, save_image
from tqdm import tqdm

from rnagan import runs
from rnagan.batches import EpochBatchSampler
from rnagan.checkpoint import Checkpoint, fingerprint, weights_fingerprint
from rnagan.config import Config, GANConfig
from rnagan.errors import ConfigError, TrainingDivergedError
from rnagan.fileio import atomic_path
from rnagan.gan.data import PairedTileDataset
from rnagan.gan.model import Generator
from rnagan.gan.objective import CriticTerms, GANObjective, generator_input, latent_statistics, sample_noise
from rnagan.gan.sample import TileGenerator
from rnagan.logs import progress_bars
from rnagan.pairing import PairedData, pair_tiles, write_pairing
from rnagan.runs import Budget, RunFolder, RunLog
from rnagan.runtime import (
    Distributed,
    autocast,
    evaluating,
    init_distributed,
    rng_state,
    runs_bf16,
    seed_everything,
    set_rng_state,
    shutdown_distributed,
)
from rnagan.slides.augment import augment
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)

# What a resumed run may change besides the run layer's MAY_DIFFER: the learning rates and betas (set
# again on the optimisers, so a run that diverged can go on more gently), the tile cache, and what the
# sample grids show. Every other setting shapes the networks, the losses or the data order and must match.
MAY_DIFFER = runs.MAY_DIFFER | {
    "lr_generator",
    "lr_critic",
    "betas",
    "cache_mb",
    "grid_profiles_per_tissue",
    "grid_noises",
}


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
    return _Grid(
        mu=torch.from_numpy(table[mu_cols].to_numpy(dtype="float32")),
        labels=[f"{r.tissue}/{sid} ({r.split})" for sid, r in table.iterrows()],
        noise=noise.repeat(len(table), 1),
    )


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
def recalibrate_batch_norm(
    generator: Generator,
    latents: torch.Tensor,
    config: GANConfig,
    *,
    latent_mean: torch.Tensor,
    latent_std: torch.Tensor,
) -> None:
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


def train_step(
    objective: GANObjective,
    opt_d: torch.optim.Optimizer,
    opt_g: torch.optim.Optimizer,
    next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    world: Distributed | None = None,
    *,
    step: int = 0,
) -> tuple[CriticTerms, torch.Tensor]:
    """One training step: ``n_critic`` critic updates, each on a fresh batch, then one generator update.

    ``next_batch()`` gives (uint8 tiles (N, 3, S, S), raw μ (N, d)) on the objective's device; the
    tiles are augmented here. The generator update uses the last batch's profiles, and with
    ``share_fakes`` the tiles the last critic update saw (drawn once, with their graph). ``step`` (the
    number of steps done) decides the lazy R1 steps of the hinge loss. Returns the last critic
    update's terms and the generator loss.
    """
    cfg, world = objective.config, world or Distributed()
    dev = objective.latent_mean.device
    jitter = cfg.color_jitter if cfg.augment_color_jitter else 0.0
    mixed = cfg.precision == "auto"
    objective.critic.requires_grad_(True)
    for i in range(cfg.n_critic):
        tiles, mu = next_batch()
        real = augment(tiles, flips=cfg.augment_flips, jitter=jitter).contiguous(memory_format=torch.channels_last)
        with autocast(dev, mixed, on_cpu=True):
            shared = cfg.share_fakes and i == cfg.n_critic - 1  # the generator update reuses this batch
            with torch.set_grad_enabled(shared):
                fakes = objective.draw(mu, twins=shared)
            terms = objective.critic_loss(real, mu, fakes, regularise=(step * cfg.n_critic + i) % cfg.r1_every == 0)
        opt_d.zero_grad(set_to_none=True)
        terms.loss.backward()
        _all_reduce_grads(objective.critic, world)
        opt_d.step()
    objective.critic.requires_grad_(False)
    with autocast(dev, mixed, on_cpu=True):
        loss_g = objective.generator_loss(fakes if cfg.share_fakes else objective.draw(mu))
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


@dataclass
class _Trainer:
    """What one run trains and a checkpoint restores: networks, EMA generator, optimisers, position."""

    objective: GANObjective
    ema: Generator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    step: int = 0
    batches_done: int = 0
    calibrated_at: int = -1  # the step whose weights the EMA's BN statistics belong to


@dataclass
class _Run:
    """Where one run writes, and what every rank needs to write it."""

    config: Config
    folder: RunFolder
    data: PairedData
    latents: torch.Tensor  # (n_samples, d) raw μ on the device
    vae_fingerprint: str | None  # weights of the VAE whose μ the run trains on (generate checks it)

    @property
    def world(self) -> Distributed:
        return self.folder.world

    @property
    def checkpoint(self) -> Path:
        return self.folder.last_dir


def train_gan(
    workspace: Workspace,
    config: Config,
    *,
    run: str = "rnagan",
    resume: bool = False,
    overwrite: bool = False,
    pairing: Path | None = None,
    device: str = "auto",
    max_seconds: float | None = None,
) -> Path:
    """Train (or resume) the GAN run ``workspace/gan/<run>``; returns its checkpoint folder.

    A run folder that already holds a run (a checkpoint or a log) is continued with ``resume``,
    replaced with ``overwrite``, and otherwise refused (:class:`CheckpointError`), so no run is lost
    by accident. A resume refuses other paired data, and any ``gan`` setting that differs from the
    checkpoint's unless :data:`MAY_DIFFER` lists it (the refusal names the field and both values).
    ``pairing`` (a slide_id,sample_id CSV) pairs slides with samples instead of the ID rules
    (:func:`rnagan.pairing.resolve_pairing`).

    Stops after ``config.gan.steps`` steps, or at the first step past ``max_seconds`` (saving a
    checkpoint either way). A NaN/Inf loss raises :class:`TrainingDivergedError` and leaves the last
    good checkpoint in place. ``batch_size`` is per process under torchrun. In a notebook::

        train_gan(Workspace("runs/lung"), preset("small"), run="rnagan", max_seconds=600)
    """
    world, dev = init_distributed(device)
    try:
        folder = _run_folder(workspace, run, world)
        folder.claim(resume=resume, overwrite=overwrite)
        job = _open_run(workspace, config, folder, pairing, dev)
        trainer = _new_trainer(config.gan, job.data, dev, world)
        if resume:
            _resume(trainer, folder.restore(config, data_fingerprint=_data_fingerprint(job.data)), config.gan, world)
        batches = _batches(workspace, job, dev, start=trainer.batches_done)
        return _train(trainer, job, batches, Budget(config.gan.steps, max_seconds), resume=resume)
    finally:
        shutdown_distributed()


def _train(
    trainer: _Trainer, job: _Run, batches: Iterator[list[torch.Tensor]], budget: Budget, *, resume: bool
) -> Path:
    """The loop: a step and the EMA, then logs, sample grids and checkpoints at their intervals, to the budget."""
    cfg, world, dev = job.config.gan, job.world, job.latents.device
    grid = _fixed_grid(job.data, cfg)
    logbook = RunLog(job.folder, step=trainer.step, resume=resume)
    shown = world.is_main and progress_bars()
    bar = tqdm(total=cfg.steps, initial=trainer.step, unit="step", disable=not shown, dynamic_ncols=True)

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        tiles, rows = next(batches)
        trainer.batches_done += 1
        return tiles.to(dev, non_blocking=True), job.latents[rows.to(dev)]

    stop = False
    while not (stop or budget.finished(trainer.step)):
        terms, loss_g = train_step(
            trainer.objective, trainer.opt_d, trainer.opt_g, next_batch, world, step=trainer.step
        )
        decay = min(cfg.ema_decay, (1 + trainer.step) / (10 + trainer.step))  # short warm-up of the average
        _update_ema(trainer.ema, trainer.objective.generator, decay)
        trainer.step += 1
        record, stop = _step_record(trainer.step, terms, loss_g, budget.over(), world, job.checkpoint)
        bar.update(1)
        if trainer.step % cfg.log_every == 0 or budget.finished(trainer.step):
            logbook.write(record)
            bar.set_postfix({k.split("_")[-1]: f"{v:.3f}" for k, v in record.items() if k != "step"})
        if world.is_main and trainer.step % cfg.sample_every == 0:
            _save_grid(trainer, job, grid)
        if stop or budget.finished(trainer.step) or trainer.step % cfg.checkpoint_every == 0:
            _save(trainer, job)
    bar.close()
    logbook.close()
    if world.is_main:
        why = f"stopped by max_seconds={budget.max_seconds:g}" if stop else "done"
        log.info("GAN checkpoint: %s (step %d, %.0f s, %s)", job.checkpoint, trainer.step, budget.seconds, why)
    return job.checkpoint


def _run_folder(workspace: Workspace, run: str, world: Distributed) -> RunFolder:
    """gan/RUN: its checkpoint is both what a resume continues and what sampling loads."""
    return RunFolder(
        workspace.gan_run(run),
        f"gan/{run}",
        section="gan",
        may_differ=MAY_DIFFER,
        data="paired tiles or latents",
        world=world,
        last="checkpoint",
        best=None,
        log="log.jsonl",
        outputs=("samples", "tb"),
    )


def _open_run(workspace: Workspace, config: Config, folder: RunFolder, pairing: Path | None, dev: torch.device) -> _Run:
    """The run's paired data on ``dev``, and which VAE's μ it holds; logs the precision it trains in."""
    cfg = config.gan
    data = _paired_data(workspace, cfg, folder.world, pairing)
    scope = {"auto": "bf16 autocast", "generator": "bf16 autocast in the generator, the critic in fp32"}
    bf16 = cfg.precision in scope and runs_bf16(dev, on_cpu=True)
    log.info("GAN %s on %s, %s", folder.label, dev, scope[cfg.precision] if bf16 else "fp32")
    return _Run(config, folder, data, data.latents.to(dev), _vae_fingerprint(workspace))


def _paired_data(workspace: Workspace, cfg: GANConfig, world: Distributed, pairing: Path | None) -> PairedData:
    """The training tiles paired with their sample's μ, reported, and checked against ``gan.latent_dim``."""
    data = pair_tiles(workspace, cfg, mapping=pairing)
    if world.is_main:
        _report_pairing(data, workspace)
        r = data.report
        log.info(
            "GAN data: %d train samples paired (of %d with tiles, %d with latents, %d in the train split); "
            "%d tiles kept, %d dropped (other splits, unpaired, over the cap of %d per sample)",
            r["samples_paired"],
            r["samples_with_tiles"],
            r["samples_with_latents"],
            r["train_samples"],
            r["tiles_paired"],
            r["tiles_dropped"],
            cfg.tiles_per_sample,
        )
    if cfg.conditioning != "none" and data.latent_dim != cfg.latent_dim:
        raise ConfigError(
            f"the latents in {workspace.latents} have {data.latent_dim} dimensions but "
            f"gan.latent_dim is {cfg.latent_dim}: set --set gan.latent_dim={data.latent_dim}"
        )
    return data


def _report_pairing(data: PairedData, workspace: Workspace) -> None:
    """Say how slides were paired with samples, and keep it in tiles/pairing.csv for the later stages."""
    if not data.pairing.empty:
        counts = data.pairing["rule"].value_counts()
        log.info(
            "pairing: %s slides renamed to expression samples (%s); written to %s",
            len(data.pairing),
            ", ".join(f"{n} by {rule}" for rule, n in counts.items()),
            workspace.tile_pairing,
        )
    write_pairing(workspace, data.pairing)


def _new_trainer(cfg: GANConfig, data: PairedData, dev: torch.device, world: Distributed) -> _Trainer:
    """Fresh networks (the same on every rank), EMA copy and optimisers; then a per-rank seed."""
    seed_everything(cfg.seed)  # same weights on every rank; then a per-rank seed for noise and augmentation
    mean, std = latent_statistics(data.latents)
    objective = GANObjective(cfg, latent_mean=mean, latent_std=std).to(dev)
    # NHWC: cuDNN's tensor-core convolutions under bf16, and oneDNN's faster CPU kernels (1.7-1.9x per
    # forward of the small preset's networks on 2 cores, benchmarks/train_gan.py)
    objective.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(objective.generator).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(objective.generator.parameters(), lr=cfg.lr_generator, betas=cfg.betas)
    opt_d = torch.optim.Adam(objective.critic.parameters(), lr=cfg.lr_critic, betas=cfg.betas)
    seed_everything(cfg.seed + world.rank)
    return _Trainer(objective, ema, opt_g, opt_d)


def _resume(trainer: _Trainer, ckpt: Checkpoint, cfg: GANConfig, world: Distributed) -> None:
    """Load weights, EMA, fixed statistics, optimisers, position and this rank's RNG from ``ckpt``."""
    objective = trainer.objective
    objective.generator.load_state_dict(ckpt.subset("generator"))
    objective.critic.load_state_dict(ckpt.subset("critic"))
    trainer.ema.load_state_dict(ckpt.subset("ema"))
    objective.latent_mean.copy_(ckpt.tensors["latent_mean"])  # the run's fixed statistics
    objective.latent_std.copy_(ckpt.tensors["latent_std"])
    trainer.opt_g.load_state_dict(ckpt.state["opt_g"])  # optimisers move their state to the params
    trainer.opt_d.load_state_dict(ckpt.state["opt_d"])
    for opt, lr in ((trainer.opt_g, cfg.lr_generator), (trainer.opt_d, cfg.lr_critic)):  # the config may lower them
        for group in opt.param_groups:
            group["lr"], group["betas"] = lr, cfg.betas
    trainer.step, trainer.batches_done = int(ckpt.state["step"]), int(ckpt.state["batches_done"])
    if str(world.rank) in ckpt.state["rng"] and int(ckpt.meta.get("world_size", 1)) == world.world_size:
        set_rng_state(ckpt.state["rng"][str(world.rank)])
    elif world.is_main:
        log.warning("resuming with a different number of processes: the RNG streams restart")
    if world.is_main:
        log.info("resumed %s at step %d", ckpt.path, trainer.step)


def _batches(workspace: Workspace, job: _Run, dev: torch.device, *, start: int) -> Iterator[list[torch.Tensor]]:
    """Endless (uint8 tiles, latent rows) batches of this rank, from batch ``start`` on (resume)."""
    cfg, world = job.config.gan, job.world
    dataset = PairedTileDataset(workspace.tile_store, job.data.tiles, cfg.image_size, cache_mb=cfg.cache_mb)
    sampler = EpochBatchSampler(
        len(dataset),
        cfg.batch_size,
        seed=cfg.seed,
        rank=world.rank,
        world_size=world.world_size,
        start=start,
        groups=job.data.tiles["row"].to_numpy() if cfg.balance == "sample" else None,
    )
    workers = 0 if dataset.cache is not None else cfg.num_workers
    # Its own generator: creating the iterator would otherwise draw from the global RNG and shift
    # the noise stream of a resumed run by one draw.
    return iter(
        DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=workers,
            pin_memory=dev.type == "cuda",
            persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(cfg.seed),
        )
    )


def _step_record(
    step: int, terms: CriticTerms, loss_g: torch.Tensor, out_of_time: bool, world: Distributed, ckpt_dir: Path
) -> tuple[dict[str, float], bool]:
    """The step's losses averaged over ranks (raising if one is not finite), and whether any rank is out of time.

    The time flag rides on the losses' all-reduce, so the ranks agree on stopping without a second collective.
    """
    loss_d, gap, gp = terms
    stats = torch.stack(
        [
            loss_d.detach().float(),
            loss_g.detach().float(),
            gap.detach().float(),
            gp.detach().float(),
            torch.tensor(float(out_of_time), device=loss_d.device),
        ]
    )
    if world.enabled:
        dist.all_reduce(stats)
        stats[:4] /= world.world_size
    loss_d_v, loss_g_v, gap_v, gp_v, stop = stats.tolist()
    if not all(math.isfinite(v) for v in (loss_d_v, loss_g_v, gap_v, gp_v)):
        raise TrainingDivergedError(
            f"GAN training diverged at step {step} (critic loss {loss_d_v}, generator loss {loss_g_v}, "
            f"gradient penalty {gp_v}); the last good checkpoint is kept in {ckpt_dir}: lower "
            "gan.lr_generator / gan.lr_critic, or resume from it with --resume"
        )
    record = {
        "step": step,
        "loss_critic": loss_d_v,
        "loss_generator": loss_g_v,
        "wasserstein_gap": gap_v,
        "gradient_penalty": gp_v,
    }
    return record, bool(stop)


def _recalibrate(trainer: _Trainer, job: _Run) -> None:
    """Standing BN statistics for the EMA weights, once per step at most."""
    if trainer.calibrated_at != trainer.step:
        recalibrate_batch_norm(
            trainer.ema,
            job.latents,
            job.config.gan,
            latent_mean=trainer.objective.latent_mean,
            latent_std=trainer.objective.latent_std,
        )
        trainer.calibrated_at = trainer.step


def _save(trainer: _Trainer, job: _Run) -> None:
    """Checkpoint: networks, EMA (its BN statistics recalibrated), optimisers, position and every rank's RNG."""
    world, objective = job.world, trainer.objective
    _check_ranks_in_sync(objective, world)
    _recalibrate(trainer, job)
    rngs = [rng_state()]
    if world.enabled:
        rngs = [None] * world.world_size
        dist.all_gather_object(rngs, rng_state())
    tensors = {
        **{f"generator.{k}": v for k, v in objective.generator.state_dict().items()},
        **{f"critic.{k}": v for k, v in objective.critic.state_dict().items()},
        **{f"ema.{k}": v for k, v in trainer.ema.state_dict().items()},
        "latent_mean": objective.latent_mean,
        "latent_std": objective.latent_std,
    }
    meta = {
        "kind": "gan",
        "run": job.folder.path.name,
        "step": trainer.step,
        "conditioning": job.config.gan.conditioning,
        "world_size": world.world_size,
        "pairing": job.data.report,
        "data_fingerprint": _data_fingerprint(job.data),
        "vae_fingerprint": job.vae_fingerprint,
    }
    state = {
        "step": trainer.step,
        "batches_done": trainer.batches_done,
        "opt_g": trainer.opt_g.state_dict(),
        "opt_d": trainer.opt_d.state_dict(),
        "rng": {str(i): s for i, s in enumerate(rngs)},
    }
    files = {"training_tiles.csv": job.data.tiles.to_csv(index=False).encode()}
    job.folder.save(job.checkpoint, tensors=tensors, config=job.config, meta=meta, state=state, files=files)


def _data_fingerprint(data: PairedData) -> str:
    """Which tiles and μ a run trains on: a resume on others is refused."""
    return fingerprint(data.latents, "\n".join(data.tiles["key"]))


def _vae_fingerprint(workspace: Workspace) -> str | None:
    """The weights of the workspace's VAE (its μ is what latents.parquet holds), None when there is none."""
    return weights_fingerprint(workspace.vae_checkpoint) if workspace.vae_checkpoint.is_dir() else None


def _save_grid(trainer: _Trainer, job: _Run, grid: _Grid) -> None:
    """samples/step_N.png from the EMA G (BN recalibrated): a row per fixed profile, a column per fixed noise."""
    cfg, ema, objective = job.config.gan, trainer.ema, trainer.objective
    _recalibrate(trainer, job)
    sampler = TileGenerator(ema, cfg, objective.latent_mean, objective.latent_std, objective.latent_mean.device)
    with evaluating(ema):
        rows_mu = grid.mu.repeat_interleave(cfg.grid_noises, dim=0)
        tiles = sampler.generate_from_noise(rows_mu, grid.noise, group_size=cfg.grid_noises)
    path = job.folder.path / "samples" / f"step_{trainer.step:07d}.png"
    with atomic_path(path, suffix=".png") as tmp:
        save_image(make_grid(tiles.float() / 255, nrow=cfg.grid_noises, padding=1), tmp, format="png")
