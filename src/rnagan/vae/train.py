"""Train the β-VAE on the prepared expression matrix (``rnagan vae train``).

One process (CPU or one GPU)::

    rnagan vae train -w runs/gtex -p paper

Several GPUs or nodes (DistributedDataParallel; gloo on CPUs)::

    torchrun --nproc_per_node=4 -m rnagan vae train -w runs/gtex -p paper

Reads ``expression/{matrix.parquet,samples.csv,scaler/}``. Writes ``vae/checkpoint/`` (best epoch by
validation loss, with the scaler and gene list), ``vae/last/`` (every epoch: weights + optimiser, for
``--resume``), ``vae/metrics.json``, ``vae/curves.png``, ``vae/latents.parquet`` (μ of every sample,
for the GAN) and ``vae/umap.png``.

Each epoch reseeds from (seed, epoch, rank), so a resumed run draws the same shuffles, dropout masks
and ε as an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LRScheduler
from tqdm.auto import tqdm

from rnagan import runs
from rnagan.checkpoint import fingerprint
from rnagan.config import Config, VAEConfig
from rnagan.errors import InputFileError, TrainingDivergedError
from rnagan.fileio import atomic_path, write_json_atomic
from rnagan.runs import Budget, RunFolder
from rnagan.runtime import (
    Distributed,
    autocast,
    evaluating,
    init_distributed,
    seed_everything,
    shutdown_distributed,
    warmup_cosine_schedule,
)
from rnagan.vae import figures, latent
from rnagan.vae.model import BetaVAE, vae_loss
from rnagan.workspace import Workspace, read_samples

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
# What a resumed run may change besides the run layer's MAY_DIFFER: when it stops early and what it
# reports at the end. Every other setting shapes the model, the objective or the data order.
MAY_DIFFER = runs.MAY_DIFFER | {"patience", "umap_figure", "mape_min_abs"}


@dataclass
class Cohort:
    """The prepared matrix split by the samples table; rows of ``x[split]`` follow ``ids[split]``."""

    genes: list[str]
    x: dict[str, torch.Tensor]  # split -> (N, G) float32 z-scores
    ids: dict[str, list[str]]
    samples: pd.DataFrame  # index sample_id; tissue, split, ...
    matrix: pd.DataFrame

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.x["train"], "\n".join(self.genes))


def load_cohort(workspace: Workspace) -> Cohort:
    """Read the expression stage's matrix and samples table, checking they agree."""
    if not workspace.expression_matrix.is_file():
        raise InputFileError(f"{workspace.expression_matrix} not found: run `rnagan expr prepare` first")
    matrix = pd.read_parquet(workspace.expression_matrix)
    matrix.index = matrix.index.astype(str)
    samples = read_samples(workspace)
    absent = samples.index.difference(matrix.index)
    if len(absent):
        raise InputFileError(
            f"{len(absent)} sample(s) of {workspace.samples_table} are not in {workspace.expression_matrix}, "
            f"e.g. {', '.join(absent[:3])}"
        )
    values = matrix.to_numpy(dtype=np.float32)
    if not np.isfinite(values).all():
        raise InputFileError(f"{workspace.expression_matrix} holds NaN or Inf values")
    x, ids = {}, {}
    for split in SPLITS:
        ids[split] = samples.index[samples["split"] == split].tolist()
        x[split] = torch.from_numpy(matrix.loc[ids[split]].to_numpy(dtype=np.float32))
    if len(ids["train"]) < 2 or not ids["val"]:
        raise InputFileError(
            f"{workspace.samples_table} has {len(ids['train'])} train and {len(ids['val'])} val samples: "
            "need at least 2 and 1"
        )
    return Cohort([str(g) for g in matrix.columns], x, ids, samples, matrix)


def epoch_batches(n: int, batch_size: int, *, seed: int, epoch: int, ddp: Distributed) -> Iterator[torch.Tensor]:
    """This rank's shuffled index batches for one epoch (the same permutation on every rank).

    A last batch of one sample is merged into the one before: batch norm cannot train on a single row.
    """
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    perm = perm[: n - n % ddp.world_size][ddp.rank :: ddp.world_size]
    starts = list(range(0, len(perm), batch_size))
    if len(starts) > 1 and len(perm) - starts[-1] < 2:
        starts.pop()
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(perm)
        yield perm[start:end]


def train_step(
    net: torch.nn.Module,
    x: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    beta: float,
    device: torch.device,
    ddp: Distributed,
    bf16: bool = True,
) -> torch.Tensor:
    """One optimiser step (bf16 autocast on GPUs unless ``bf16`` is off); returns [total, recon, kl]
    averaged over ranks.

    The loss is checked before ``backward`` (on every rank alike, after the all-reduce), so a NaN
    never reaches the weights: the step is skipped and the caller stops the run.
    """
    with autocast(device, enabled=bf16):
        recon, mu, logvar = net(x)
    losses = vae_loss(recon, x, mu, logvar, beta=beta)
    stats = torch.stack([t.detach() for t in losses])
    if ddp.enabled:
        dist.all_reduce(stats)
        stats /= ddp.world_size
    if torch.isfinite(stats).all():
        optimizer.zero_grad(set_to_none=True)
        losses.total.backward()
        optimizer.step()
    return stats


def average_buffers(model: torch.nn.Module, ddp: Distributed) -> None:
    """Average batch-norm running statistics over ranks.

    DDP broadcasts rank 0's buffers before each forward, but every rank then updates them with its
    own batch, so after the last step they differ; averaging makes validation, early stopping and
    the saved weights agree on every rank.
    """
    if not ddp.enabled:
        return
    for buffer in model.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer /= ddp.world_size


def evaluate_loss(model: BetaVAE, x: torch.Tensor, *, beta: float, batch_size: int = 512) -> dict[str, float]:
    """Validation objective with z = μ (eval mode), averaged over samples."""
    sums = torch.zeros(3, dtype=torch.float64)
    device = next(model.parameters()).device
    with evaluating(model):
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            with autocast(device):
                recon, mu, logvar = model(xb)
            sums += torch.stack(list(vae_loss(recon, xb, mu, logvar, beta=beta))).double().cpu() * len(xb)
    total, recon, kl = (sums / len(x)).tolist()
    return {"loss": total, "recon": recon, "kl": kl}


def train_vae(
    workspace: Workspace | str | Path,
    config: Config,
    *,
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """Train the β-VAE on ``workspace/expression``, keep the best epoch, score it on the test split.

    Returns the metrics it writes to ``vae/metrics.json`` (on other DDP ranks: a short summary). A
    workspace that already holds a VAE run is continued with ``resume`` (from ``vae/last/``, losing at
    most the epoch that was running), replaced with ``overwrite``, and otherwise refused
    (:class:`CheckpointError`). A resume refuses other prepared data, and any ``vae`` setting that
    differs from the checkpoint's unless :data:`MAY_DIFFER` lists it. ``max_seconds`` stops cleanly at
    the end of the first epoch that crosses it (the demo's budget). In a notebook::

        metrics = train_vae("runs/gtex", preset("small"), max_seconds=600)
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    ws.create()
    owns_group = not (dist.is_available() and dist.is_initialized())
    ddp, dev = init_distributed(device)
    try:
        run = RunFolder(
            ws.vae,
            "vae",
            section="vae",
            may_differ=MAY_DIFFER,
            data="prepared expression data",
            world=ddp,
            outputs=("metrics.json", "curves.png", "latents.parquet", "umap.png"),
        )
        run.claim(resume=resume, overwrite=overwrite)
        return _train(ws, config, run, dev, resume=resume, budget=Budget(config.vae.epochs, max_seconds))
    finally:
        if ddp.enabled and owns_group:
            shutdown_distributed()


@dataclass
class _Fit:
    """What one run trains and a resume restores: the model (and its DDP wrapper), optimiser, schedule, progress."""

    model: BetaVAE
    net: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: LRScheduler
    rank_batch: int  # this rank's share of vae.batch_size
    steps_per_epoch: int
    progress: dict[str, Any]  # epoch, best_val, best_epoch, bad_epochs, history


def _train(
    ws: Workspace, config: Config, run: RunFolder, dev: torch.device, *, resume: bool, budget: Budget
) -> dict[str, Any]:
    """The loop: an epoch, validation, best and last checkpoints, until the epochs, patience or time run out."""
    cfg, ddp = config.vae, run.world
    data = load_cohort(ws)
    x_train, x_val = data.x["train"].to(dev), data.x["val"].to(dev)
    fit = _new_fit(config, data, run, dev, resume=resume)
    progress = fit.progress
    stop_reason = "completed all epochs"
    train_seconds, train_samples = 0.0, 0
    while not budget.finished(progress["epoch"]):
        epoch = progress["epoch"]
        seed_everything(cfg.seed * 1_000_003 + epoch * 1_009 + ddp.rank)  # dropout and ε, resumable
        beta = cfg.beta * min(1.0, (epoch + 1) / cfg.kl_warmup_epochs) if cfg.kl_warmup_epochs else cfg.beta
        tick = time.perf_counter()
        train, lr, step, seen = _train_epoch(
            fit, x_train, epoch=epoch, beta=beta, config=cfg, ddp=ddp, device=dev, checkpoint=ws.vae_checkpoint
        )
        train_seconds += time.perf_counter() - tick
        train_samples += seen
        average_buffers(fit.model, ddp)
        val = evaluate_loss(fit.model, x_val, beta=cfg.beta)  # every rank: same weights, same numbers
        if not math.isfinite(val["loss"]):
            raise TrainingDivergedError(f"VAE validation loss became {val['loss']} after epoch {epoch + 1}")
        losses = {"train_loss": train[0], "train_recon": train[1], "train_kl": train[2]}
        losses.update(val_loss=val["loss"], val_recon=val["recon"], val_kl=val["kl"])
        progress["history"].append({"epoch": epoch + 1, "step": step, "lr": lr, "beta": beta, **losses})
        _end_epoch(ws, fit, run, config, data)
        if progress["bad_epochs"] >= cfg.patience:
            stop_reason = f"early stopping: no validation improvement for {cfg.patience} epochs"
            break
        if budget.out_of_time(ddp, dev):
            stop_reason = f"time limit of {budget.max_seconds:g} s"
            break
    speed = train_samples / train_seconds if train_seconds else None
    return _wrap_up(ws, config, data, fit.model, progress, ddp, dev, stop_reason, speed, budget)


def _new_fit(config: Config, data: Cohort, run: RunFolder, dev: torch.device, *, resume: bool) -> _Fit:
    """A fresh model (the same on every rank) and optimiser, or the ones ``vae/last/`` holds; the lr schedule."""
    cfg, ddp = config.vae, run.world
    seed_everything(cfg.seed)  # identical initial weights on every rank
    model = BetaVAE(len(data.genes), cfg).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rank_batch = max(2, cfg.batch_size // ddp.world_size)  # batch_size is the global batch
    n_train = len(data.x["train"])
    steps_per_epoch = sum(1 for _ in epoch_batches(n_train, rank_batch, seed=0, epoch=0, ddp=ddp))
    progress = {"epoch": 0, "best_val": math.inf, "best_epoch": 0, "bad_epochs": 0, "history": []}
    if resume:
        ckpt = run.restore(config, data_fingerprint=data.fingerprint)
        model.load_state_dict(ckpt.subset("model"))
        optimizer.load_state_dict(ckpt.state["optimizer"])
        progress = ckpt.meta["progress"]
        log.info("resuming after epoch %d of %d", progress["epoch"], cfg.epochs)
    schedule = warmup_cosine_schedule(
        optimizer,
        base_lr=cfg.lr,
        warmup_steps=cfg.warmup_steps,
        total_steps=cfg.epochs * steps_per_epoch,
        start_step=progress["epoch"] * steps_per_epoch,
    )
    net = DistributedDataParallel(model) if ddp.enabled else model
    return _Fit(model, net, optimizer, schedule, rank_batch, steps_per_epoch, progress)


def _end_epoch(ws: Workspace, fit: _Fit, run: RunFolder, config: Config, data: Cohort) -> None:
    """Count the epoch done and whether it improved; save it as best if so, and always as last."""
    progress, row = fit.progress, fit.progress["history"][-1]
    improved = row["val_loss"] < progress["best_val"]
    if improved:
        progress.update(best_val=row["val_loss"], best_epoch=row["epoch"], bad_epochs=0)
    else:
        progress["bad_epochs"] += 1
    progress["epoch"] = row["epoch"]
    if run.world.is_main:
        log.info(
            "epoch %d: train %.4f  val %.4f (recon %.4f)%s",
            row["epoch"],
            row["train_loss"],
            row["val_loss"],
            row["val_recon"],
            "  *best*" if improved else "",
        )
    if improved:
        _save_best(ws, run, config, data, fit.model, progress)
    _save_last(run, config, data, fit, progress)


def _train_epoch(
    fit: _Fit,
    x_train: torch.Tensor,
    *,
    epoch: int,
    beta: float,
    config: VAEConfig,
    ddp: Distributed,
    device: torch.device,
    checkpoint: Path,
) -> tuple[list[float], float, int, int]:
    """One epoch of steps on this rank's batches.

    Returns the mean [total, recon, kl] over its batches, the lr of its last step, the global step
    count after it and the samples all ranks trained on. A non-finite loss raises, naming the step.
    """
    optimizer = fit.optimizer
    fit.net.train()
    sums, n_batches, seen = torch.zeros(3, device=device), 0, 0
    step, lr = epoch * fit.steps_per_epoch, optimizer.param_groups[0]["lr"]
    batches = epoch_batches(len(x_train), fit.rank_batch, seed=config.seed, epoch=epoch, ddp=ddp)
    desc = f"vae epoch {epoch + 1}/{config.epochs}"
    bar = tqdm(batches, total=fit.steps_per_epoch, desc=desc, leave=False, disable=not ddp.is_main)
    for idx in bar:
        lr = optimizer.param_groups[0]["lr"]
        stats = train_step(fit.net, x_train[idx], optimizer, beta=beta, device=device, ddp=ddp)
        if not torch.isfinite(stats).all():
            kept = (
                f"the last good checkpoint is kept at {checkpoint}"
                if checkpoint.exists()
                else "no checkpoint had been written yet"
            )
            raise TrainingDivergedError(
                f"VAE loss became {stats[0].item()} at step {step} (epoch {epoch + 1}, lr {lr:.3g}); "
                f"training stopped and {kept}. Try a lower vae.lr or a longer vae.warmup_steps."
            )
        sums += stats
        n_batches += 1
        step += 1
        fit.schedule.step()
        seen += len(idx) * ddp.world_size
        bar.set_postfix(loss=f"{stats[0].item():.4f}")
    return (sums / max(1, n_batches)).tolist(), lr, step, seen


def _wrap_up(
    ws: Workspace,
    config: Config,
    data: Cohort,
    model: BetaVAE,
    progress: dict[str, Any],
    ddp: Distributed,
    dev: torch.device,
    stop_reason: str,
    speed: float | None,
    budget: Budget,
) -> dict[str, Any]:
    """This rank's summary; on rank 0 also the test metrics, latents and figures, written to metrics.json."""
    weights = model.state_dict()
    last_sha = fingerprint(*(weights[k] for k in sorted(weights)))  # compare ranks, or with vae/last/
    summary = {
        "rank": ddp.rank,
        "world_size": ddp.world_size,
        "device": str(dev),
        "stop_reason": stop_reason,
        "epochs_run": progress["epoch"],
        "best_epoch": progress["best_epoch"],
        "best_val_loss": progress["best_val"],
        "train_samples_per_second": speed,
        "last_weights_sha": last_sha,
    }
    if not ddp.is_main:
        return summary
    metrics = {**summary, **_finish(ws, config, data, progress["history"])}
    metrics["seconds"] = budget.seconds  # training and the wrap-up
    write_json_atomic(ws.vae_metrics, metrics)
    log.info(
        "test RMSE %.4f (z scale), MAPE %s; metrics in %s",
        metrics["test"]["rmse"] or math.nan,
        metrics["test"]["mape"],
        ws.vae_metrics,
    )
    return metrics


def _finish(ws: Workspace, config: Config, data: Cohort, history: list[dict[str, float]]) -> dict[str, Any]:
    """On the best weights: test metrics, latents for the GAN, curves and UMAP figures."""
    loaded = latent.load_vae(ws.vae_checkpoint)
    latents = latent.encode_cohort(loaded, data.matrix)
    with atomic_path(ws.latents, suffix=".parquet") as tmp:
        latents.to_parquet(tmp)
    test_ids = data.ids["test"]
    results: dict[str, Any] = {"test": {"rmse": None, "mape": None, "n": 0}, "silhouette_mu_test": None}
    if test_ids:
        x_test = data.matrix.loc[test_ids]
        recon = latent.reconstruct(loaded, x_test)
        results["test"] = latent.reconstruction_metrics(
            x_test,
            recon,
            data.samples.loc[test_ids, "tissue"],
            scaler=loaded.scaler,
            min_abs=config.vae.mape_min_abs,
            train_mean=data.matrix.loc[data.ids["train"]].mean(),
        )
        results["silhouette_mu_test"] = latent.silhouette(latents.loc[test_ids], data.samples.loc[test_ids, "tissue"])
    figures.plot_curves(history, ws.vae / "curves.png")
    if config.vae.umap_figure and test_ids:
        figures.umap_figure(loaded, latents, data.matrix, data.samples, ws.vae / "umap.png", seed=config.vae.seed)
    return {**results, "history": history}


def _weights(model: BetaVAE) -> dict[str, torch.Tensor]:
    return {f"model.{k}": v for k, v in model.state_dict().items()}


def _scaler_files(ws: Workspace) -> dict[str, bytes]:
    """The expression scaler's files, copied into the checkpoint so it stands alone."""
    names = ("scaler.json", "scaler.safetensors")
    if not all((ws.scaler / n).is_file() for n in names):
        log.warning("no scaler in %s: the checkpoint cannot inverse-scale profiles", ws.scaler)
        return {}
    return {n: (ws.scaler / n).read_bytes() for n in names}


def _save_best(
    ws: Workspace, run: RunFolder, config: Config, data: Cohort, model: BetaVAE, progress: dict[str, Any]
) -> None:
    """vae/checkpoint/: the best epoch's weights with the genes and scaler, what later stages load."""
    meta = {
        "kind": "beta_vae",
        "n_genes": len(data.genes),
        "epoch": progress["best_epoch"],
        "val_loss": progress["best_val"],
        "data_fingerprint": data.fingerprint,
        "seed": config.vae.seed,
    }
    files = {latent.GENES_FILE: ("\n".join(data.genes) + "\n").encode(), **_scaler_files(ws)}
    run.save(run.best_dir, tensors=_weights(model), config=config, meta=meta, files=files)


def _save_last(run: RunFolder, config: Config, data: Cohort, fit: _Fit, progress: dict[str, Any]) -> None:
    """vae/last/: the last epoch's weights, optimiser and progress, what ``resume`` continues."""
    meta = {
        "kind": "beta_vae_last",
        "n_genes": len(data.genes),
        "epoch": progress["epoch"],
        "data_fingerprint": data.fingerprint,
        "progress": progress,
    }
    run.save(
        run.last_dir,
        tensors=_weights(fit.model),
        config=config,
        meta=meta,
        state={"optimizer": fit.optimizer.state_dict()},
        files={latent.GENES_FILE: ("\n".join(data.genes) + "\n").encode()},
    )
