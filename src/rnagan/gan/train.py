"""Train RNA-GAN: a WGAN-GP whose generator draws tiles from a sample's expression latent μ.

Single process (CPU, one GPU)::

    rnagan gan train -w runs/lung --preset small --run rnagan

Several GPUs or nodes (one process per GPU; NCCL on GPUs, gloo on CPUs)::

    torchrun --nproc_per_node=4 -m rnagan gan train -w runs/lung --run rnagan

Three layers, as in lucidrains' denoising-diffusion (Unet / GaussianDiffusion / Trainer):
:mod:`rnagan.gan.model` holds the networks, :class:`~rnagan.gan.objective.GANObjective` owns how μ
becomes the generator's input and the WGAN-GP losses, and :func:`train_gan` is one visible loop (data,
optimisers, EMA, DDP, checkpoints, logs). :func:`rnagan.gan.sample.load_generator` gives the EMA
generator for sampling; the conditioning modes are described in :mod:`rnagan.gan.objective`.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import make_grid, save_image
from tqdm import tqdm

from rnagan.checkpoint import fingerprint, load_checkpoint, save_checkpoint, weights_fingerprint
from rnagan.config import Config, GANConfig
from rnagan.errors import CheckpointError, ConfigError, TrainingDivergedError
from rnagan.fileio import atomic_path
from rnagan.gan.data import EpochBatchSampler, PairedData, PairedTileDataset, pair_tiles, write_pairing
from rnagan.gan.model import Generator
from rnagan.gan.objective import CriticTerms, GANObjective, generator_input, latent_statistics, sample_noise
from rnagan.gan.sample import TileGenerator
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

# Fields that shape the networks or the meaning of their input: a resumed run must match them.
MODEL_FIELDS = (
    "conditioning",
    "image_size",
    "latent_dim",
    "noise_dim",
    "noise",
    "noise_scale",
    "base_channels",
    "max_channels",
    "upsample",
    "reference_batch_standardize",
    "critic_norm",
    "critic_minibatch_std",
)
# Fields that decide which tiles a run sees and in what order: a resumed run continuing with other values
# would mix two data streams under one optimiser state, so they must match too.
DATA_ORDER_FIELDS = ("batch_size", "seed", "tiles_per_sample", "balance")


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


def _check_compatible(saved: GANConfig, wanted: GANConfig, path: Path) -> None:
    diffs = [
        f"{f}: checkpoint {getattr(saved, f)!r}, requested {getattr(wanted, f)!r}"
        for f in (*MODEL_FIELDS, *DATA_ORDER_FIELDS)
        if getattr(saved, f) != getattr(wanted, f)
    ]
    if diffs:
        raise CheckpointError(
            f"cannot resume {path}: the model or data-order settings differ ({'; '.join(diffs)}); "
            "resume with the checkpoint's settings or start a new --run"
        )


def _check_same_data(meta: dict, data: PairedData, path: Path) -> None:
    """A resumed run must see the tiles and μ it started with (the VAE's resume checks the same)."""
    if meta.get("data_fingerprint") != _data_fingerprint(data):
        raise CheckpointError(
            f"cannot resume {path}: its paired tiles or latents changed since it was written "
            "(re-tiled, re-encoded or re-paired); start a new --run or pass --overwrite"
        )


def _data_fingerprint(data: PairedData) -> str:
    return fingerprint(data.latents, "\n".join(data.tiles["key"]))


def _check_new_run(folder: Path, *, resume: bool, overwrite: bool, world: Distributed) -> None:
    """Refuse to start over on a run that holds a checkpoint or a log; ``overwrite`` deletes it first."""
    if resume:
        return
    found = [name for name in ("checkpoint", "log.jsonl") if (folder / name).exists()]
    if found and not overwrite:
        raise CheckpointError(
            f"{folder} already holds a run ({' and '.join(found)}): continue it with --resume, "
            "replace it with --overwrite, or name another --run"
        )
    if found and world.is_main:
        log.warning("--overwrite: deleting the previous run in %s", folder)
        shutil.rmtree(folder)
    world.barrier()


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
    name: str
    world: Distributed
    data: PairedData
    latents: torch.Tensor  # (n_samples, d) raw μ on the device
    folder: Path
    vae_fingerprint: str | None  # weights of the VAE whose μ the run trains on (generate checks it)

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoint"


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
    """Train (or resume) one GAN run; returns ``workspace.gan_run(run) / "checkpoint"``.

    A run folder that already holds a checkpoint or a log is continued with ``resume``, replaced
    with ``overwrite``, and otherwise refused (:class:`CheckpointError`), so no run is lost by accident.
    ``pairing`` (a slide_id,sample_id CSV) pairs slides with samples instead of the ID rules
    (:func:`rnagan.gan.data.resolve_pairing`).
    Stops after ``config.gan.steps`` steps, or earlier once ``max_seconds`` have passed (saving a
    checkpoint either way). A NaN/Inf loss raises :class:`TrainingDivergedError` and leaves the last
    good checkpoint in place. ``batch_size`` is per process under torchrun.
    """
    cfg = config.gan
    world, dev = init_distributed(device)
    started = time.monotonic()
    try:
        _check_new_run(workspace.gan_run(run), resume=resume, overwrite=overwrite, world=world)
        data = _paired_data(workspace, cfg, world, pairing)
        trainer = _new_trainer(cfg, data, dev, world)
        scope = {"auto": "bf16 autocast", "generator": "bf16 autocast in the generator, the critic in fp32"}
        log.info(
            "GAN %s on %s, %s",
            run,
            dev,
            scope[cfg.precision] if cfg.precision in scope and runs_bf16(dev, on_cpu=True) else "fp32",
        )
        if resume:
            _resume(trainer, workspace.gan_run(run) / "checkpoint", cfg, world, data)
        job = _Run(config, run, world, data, data.latents.to(dev), workspace.gan_run(run), _vae_fingerprint(workspace))
        batches = _batches(workspace, job, dev, start=trainer.batches_done)
        grid = _fixed_grid(data, cfg)
        writer = _open_logs(job, trainer.step, resume)
        bar = tqdm(total=cfg.steps, initial=trainer.step, unit="step", disable=not world.is_main, dynamic_ncols=True)

        def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
            tiles, rows = next(batches)
            trainer.batches_done += 1
            return tiles.to(dev, non_blocking=True), job.latents[rows.to(dev)]

        while trainer.step < cfg.steps:
            terms, loss_g = train_step(
                trainer.objective, trainer.opt_d, trainer.opt_g, next_batch, world, step=trainer.step
            )
            decay = min(cfg.ema_decay, (1 + trainer.step) / (10 + trainer.step))
            _update_ema(trainer.ema, trainer.objective.generator, decay)
            trainer.step += 1
            out_of_time = max_seconds is not None and time.monotonic() - started > max_seconds
            record, stop = _step_record(trainer.step, terms, loss_g, out_of_time, world, job.checkpoint)
            bar.update(1)
            if world.is_main and (trainer.step % cfg.log_every == 0 or trainer.step == cfg.steps):
                _log_record(record, writer, job.folder / "log.jsonl", bar)
            if world.is_main and trainer.step % cfg.sample_every == 0:
                _recalibrate(trainer, job)
                grid_png = job.folder / "samples" / f"step_{trainer.step:07d}.png"
                _save_grid(trainer.ema, cfg, trainer.objective, grid, grid_png)
            if stop or trainer.step == cfg.steps or trainer.step % cfg.checkpoint_every == 0:
                _save(trainer, job)
            if stop:
                if world.is_main:
                    log.info(
                        "stopped at step %d after %.0f s (max_seconds=%s)",
                        trainer.step,
                        time.monotonic() - started,
                        max_seconds,
                    )
                break
        bar.close()
        if world.is_main:
            writer.close()
            log.info("GAN checkpoint: %s (step %d, %.0f s)", job.checkpoint, trainer.step, time.monotonic() - started)
        return job.checkpoint
    finally:
        shutdown_distributed()


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


def _resume(trainer: _Trainer, ckpt_dir: Path, cfg: GANConfig, world: Distributed, data: PairedData) -> None:
    """Load weights, EMA, fixed statistics, optimisers, position and this rank's RNG from ``ckpt_dir``."""
    ckpt = load_checkpoint(ckpt_dir, with_state=True)  # optimisers move their state to the params
    _check_compatible(ckpt.config.gan, cfg, ckpt.path)
    _check_same_data(ckpt.meta, data, ckpt.path)
    objective = trainer.objective
    objective.generator.load_state_dict(ckpt.subset("generator"))
    objective.critic.load_state_dict(ckpt.subset("critic"))
    trainer.ema.load_state_dict(ckpt.subset("ema"))
    objective.latent_mean.copy_(ckpt.tensors["latent_mean"])  # the run's fixed statistics
    objective.latent_std.copy_(ckpt.tensors["latent_std"])
    trainer.opt_g.load_state_dict(ckpt.state["opt_g"])
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


def _open_logs(job: _Run, step: int, resume: bool) -> SummaryWriter | None:
    """On rank 0: the run folder, log.jsonl cut back to ``step``, and a TensorBoard writer; None elsewhere."""
    if not job.world.is_main:
        return None
    job.folder.mkdir(parents=True, exist_ok=True)
    _truncate_log(job.folder / "log.jsonl", step)
    return SummaryWriter(str(job.folder / "tb"), purge_step=step if resume else None)


def _step_record(
    step: int, terms: CriticTerms, loss_g: torch.Tensor, out_of_time: bool, world: Distributed, ckpt_dir: Path
) -> tuple[dict[str, float], bool]:
    """The step's losses averaged over ranks (raising if one is not finite), and rank 0's stop decision."""
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


def _log_record(record: dict[str, float], writer: SummaryWriter, log_file: Path, bar: tqdm) -> None:
    """One step's scalars to TensorBoard, log.jsonl and the progress bar."""
    for key, value in record.items():
        if key != "step":
            writer.add_scalar(f"gan/{key}", value, record["step"])
    with log_file.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    bar.set_postfix(
        d=f"{record['loss_critic']:.3f}",
        g=f"{record['loss_generator']:.3f}",
        gap=f"{record['wasserstein_gap']:.3f}",
        gp=f"{record['gradient_penalty']:.3f}",
    )


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
    """Checkpoint (rank 0 writes; every rank contributes its RNG state)."""
    world, objective = job.world, trainer.objective
    _check_ranks_in_sync(objective, world)
    _recalibrate(trainer, job)
    rngs = [rng_state()]
    if world.enabled:
        rngs = [None] * world.world_size
        dist.all_gather_object(rngs, rng_state())
    if world.is_main:
        tensors = {
            **{f"generator.{k}": v for k, v in objective.generator.state_dict().items()},
            **{f"critic.{k}": v for k, v in objective.critic.state_dict().items()},
            **{f"ema.{k}": v for k, v in trainer.ema.state_dict().items()},
            "latent_mean": objective.latent_mean,
            "latent_std": objective.latent_std,
        }
        save_checkpoint(
            job.checkpoint,
            tensors=tensors,
            config=job.config,
            meta={
                "kind": "gan",
                "run": job.name,
                "step": trainer.step,
                "conditioning": job.config.gan.conditioning,
                "world_size": world.world_size,
                "pairing": job.data.report,
                "data_fingerprint": _data_fingerprint(job.data),
                "vae_fingerprint": job.vae_fingerprint,
            },
            state={
                "step": trainer.step,
                "batches_done": trainer.batches_done,
                "opt_g": trainer.opt_g.state_dict(),
                "opt_d": trainer.opt_d.state_dict(),
                "rng": {str(i): s for i, s in enumerate(rngs)},
            },
            files={"training_tiles.csv": job.data.tiles.to_csv(index=False).encode()},
        )
    world.barrier()


def _vae_fingerprint(workspace: Workspace) -> str | None:
    """The weights of the workspace's VAE (its μ is what latents.parquet holds), None when there is none."""
    return weights_fingerprint(workspace.vae_checkpoint) if workspace.vae_checkpoint.is_dir() else None


def _truncate_log(path: Path, step: int) -> None:
    """Drop log records past ``step`` (written by a run killed after its last checkpoint) and damaged lines."""
    if not path.is_file():
        return
    kept = [json.dumps(record) for record in read_log(path) if record["step"] <= step]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(line + "\n" for line in kept))


def read_log(path: Path) -> list[dict]:
    """The records of a run's ``log.jsonl``; a damaged line (a crash mid-write, an edit) is skipped with a warning."""
    records = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                raise ValueError("no integer step")
        except ValueError:
            log.warning("%s line %d is damaged and was skipped: %.80s", path, number, line)
            continue
        records.append(record)
    return records


def _save_grid(ema: Generator, cfg: GANConfig, objective: GANObjective, grid: _Grid, path: Path) -> None:
    """One row per fixed profile (tissue by tissue), one column per fixed noise draw, from the EMA G."""
    sampler = TileGenerator(ema, cfg, objective.latent_mean, objective.latent_std, objective.latent_mean.device)
    with evaluating(ema):
        rows_mu = grid.mu.repeat_interleave(cfg.grid_noises, dim=0)
        tiles = sampler.generate_from_noise(rows_mu, grid.noise, group_size=cfg.grid_noises)
    with atomic_path(path, suffix=".png") as tmp:
        save_image(make_grid(tiles.float() / 255, nrow=cfg.grid_noises, padding=1), tmp, format="png")
