"""SimCLR pretraining (Chen et al. 2020) through lightly: its transform, projection head and NT-Xent loss.

Paper preset: ResNet-50, SGD lr 0.06, momentum 0.9, weight decay 5e-4, cosine schedule, 100 epochs.
One visible loop; resumable (``last/`` holds model, optimiser, epoch and RNG state after every epoch);
``checkpoint/`` holds the backbone alone, which fine-tuning loads. Single process, or DDP::

    pretrain(tiles, preset("small"), Path("ssl/synthetic"))
    torchrun --nproc_per_node=2 -m rnagan ssl pretrain --source samples/rnagan --out ssl/synthetic

Under DDP every rank sees its share of each epoch, BatchNorm is synchronised and NT-Xent gathers the
other ranks' embeddings as negatives (``gather_distributed``), as one large batch would.
"""

from __future__ import annotations

import io
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from lightly.transforms import SimCLRTransform
from lightly.transforms.utils import IMAGENET_NORMALIZE
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision.transforms.functional import to_pil_image
from tqdm import tqdm

from rnagan.checkpoint import fingerprint, load_checkpoint, save_checkpoint
from rnagan.config import Config
from rnagan.errors import CheckpointError, InputFileError, TrainingDivergedError
from rnagan.fileio import write_bytes_atomic
from rnagan.runtime import (
    Distributed,
    autocast,
    init_distributed,
    rng_state,
    seed_everything,
    set_rng_state,
    shutdown_distributed,
    warmup_cosine_schedule,
)
from rnagan.ssl.backbone import make_backbone
from rnagan.ssl.sources import TileSet

log = logging.getLogger(__name__)
LAST, BEST = "last", "checkpoint"


class SimCLR(nn.Module):
    """Backbone + lightly's 2-layer projection head; (N, 3, S, S) → (N, projection_dim) embeddings."""

    def __init__(self, backbone_name: str, projection_dim: int) -> None:
        super().__init__()
        self.backbone, dim = make_backbone(backbone_name)
        self.head = SimCLRProjectionHead(dim, dim, projection_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class TwoViews(Dataset):
    """Each uint8 tile as two independent SimCLR views (crop, flips, jitter, grey, blur; normalised)."""

    def __init__(self, tiles: torch.Tensor, transform: SimCLRTransform) -> None:
        self.tiles, self.transform = tiles, transform

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, i: int) -> list[torch.Tensor]:
        return self.transform(to_pil_image(self.tiles[i]))


def simclr_transform(cfg: Any) -> SimCLRTransform:
    """lightly's SimCLR views at ``image_size``, plus vertical flips: tissue has no up."""
    return SimCLRTransform(
        input_size=cfg.image_size,
        min_scale=cfg.min_scale,
        cj_strength=cfg.color_jitter,
        vf_prob=0.5,
        normalize=IMAGENET_NORMALIZE,
    )


@dataclass
class _Run:
    """What a pretraining run carries from epoch to epoch (and through a resume)."""

    model: nn.Module
    optimiser: torch.optim.Optimizer
    epoch: int = 0
    step_losses: list[float] | None = None
    seconds: float = 0.0


def _loader(tiles: TileSet, cfg: Any, dist: Distributed, epoch: int) -> DataLoader:
    """This epoch's batches: the order depends on the seed and the epoch only (so a resumed run repeats it)."""
    dataset = TwoViews(tiles.tiles, simclr_transform(cfg))
    batch = min(cfg.pretrain_batch_size, len(dataset) // dist.world_size)
    sampler = DistributedSampler(dataset, dist.world_size, dist.rank, shuffle=True, seed=cfg.seed, drop_last=True)
    sampler.set_epoch(epoch)
    return DataLoader(dataset, batch, sampler=sampler, drop_last=True, num_workers=cfg.num_workers)


def _meta(run: _Run, config: Config, tiles: TileSet) -> dict[str, Any]:
    return {
        "kind": "simclr",
        "backbone": config.ssl.backbone,
        "image_size": config.ssl.image_size,
        "epoch": run.epoch,  # completed epochs
        "seconds": run.seconds,
        "n_tiles": len(tiles),
        "origins": {o: int((tiles.origin == o).sum()) for o in np.unique(tiles.origin)},
        "data_fingerprint": fingerprint(tiles.tiles[:: max(1, len(tiles) // 64)]),
        "step_losses": run.step_losses,
        "seed": config.ssl.seed,
    }


def _raw(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def _save_last(run: _Run, out: Path, config: Config, tiles: TileSet) -> None:
    """Everything a resume needs, at an epoch's end (so a resumed run repeats the next epoch exactly)."""
    state = {"optimiser": run.optimiser.state_dict(), "rng": rng_state()}
    tensors = {f"model.{k}": v for k, v in _raw(run.model).state_dict().items()}
    save_checkpoint(out / LAST, tensors=tensors, config=config, meta=_meta(run, config, tiles), state=state)


def _save_backbone(run: _Run, out: Path, config: Config, tiles: TileSet) -> None:
    """The backbone alone: what fine-tuning loads."""
    tensors = {f"backbone.{k}": v for k, v in _raw(run.model).backbone.state_dict().items()}
    save_checkpoint(out / BEST, tensors=tensors, config=config, meta=_meta(run, config, tiles))


def _out_of_time(started: float, max_seconds: float | None, dist: Distributed, dev: torch.device) -> bool:
    """Whether the budget is spent; under DDP the ranks agree (any rank over: all stop), or they would hang."""
    over = max_seconds is not None and time.monotonic() - started > max_seconds
    if not dist.enabled:
        return over
    flag = torch.tensor([float(over)], device=dev)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())


def _resume(run: _Run, out: Path, config: Config) -> None:
    ckpt = load_checkpoint(out / LAST, with_state=True)
    if ckpt.meta.get("kind") != "simclr" or ckpt.config.ssl.backbone != config.ssl.backbone:
        raise CheckpointError(
            f"{out / LAST} holds a {ckpt.config.ssl.backbone} SimCLR run; this run asks for {config.ssl.backbone}"
        )
    _raw(run.model).load_state_dict(ckpt.subset("model"))
    run.optimiser.load_state_dict(ckpt.state["optimiser"])
    set_rng_state(ckpt.state["rng"])
    run.epoch, run.step_losses, run.seconds = ckpt.meta["epoch"], ckpt.meta["step_losses"], ckpt.meta["seconds"]


def pretrain(
    tiles: TileSet,
    config: Config,
    out: str | Path,
    *,
    resume: bool = False,
    device: str = "auto",
    max_seconds: float | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """SimCLR on ``tiles`` (labels unused) → ``out/checkpoint`` (backbone), ``out/last`` (resumable), ``out/loss.png``.

    Stops at the step that passes ``max_seconds`` (``stopped_early``; the backbone is saved as it is, and
    ``resume`` restarts from the last completed epoch); the cosine schedule spans ``ssl.pretrain_epochs``.
    Returns the backbone checkpoint's meta.
    """
    cfg, out = config.ssl, Path(out)
    tiles = tiles.draw(cfg.pretrain_max_tiles, cfg.seed)
    dist, dev = init_distributed(device)
    if len(tiles) < 2 * dist.world_size:
        raise InputFileError(f"SimCLR needs at least 2 tiles per process, got {len(tiles)}")
    seed_everything(cfg.seed + dist.rank)
    model: nn.Module = SimCLR(cfg.backbone, cfg.projection_dim).to(dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    if dist.enabled:
        model = DistributedDataParallel(nn.SyncBatchNorm.convert_sync_batchnorm(model))
    optimiser = torch.optim.SGD(
        model.parameters(), lr=cfg.pretrain_lr, momentum=cfg.momentum, weight_decay=cfg.pretrain_weight_decay
    )
    run = _Run(model, optimiser, step_losses=[])
    if resume and (out / LAST).is_dir():
        _resume(run, out, config)
    steps_per_epoch = len(_loader(tiles, cfg, dist, 0))
    schedule = warmup_cosine_schedule(
        optimiser,
        base_lr=cfg.pretrain_lr,
        warmup_steps=0,
        total_steps=cfg.pretrain_epochs * steps_per_epoch,
        start_step=run.epoch * steps_per_epoch,
    )
    criterion = NTXentLoss(temperature=cfg.temperature, gather_distributed=dist.enabled)
    started, stopped_early = time.monotonic() - run.seconds, False
    bar = tqdm(total=cfg.pretrain_epochs * steps_per_epoch, initial=len(run.step_losses), disable=not progress)
    while run.epoch < cfg.pretrain_epochs and not stopped_early:
        for view0, view1 in _loader(tiles, cfg, dist, run.epoch):
            loss = _step(run, criterion, view0.to(dev), view1.to(dev), dev)
            schedule.step()
            run.step_losses.append(loss)
            bar.update()
            bar.set_postfix(epoch=run.epoch + 1, loss=f"{loss:.4f}")
            stopped_early = _out_of_time(started, max_seconds, dist, dev)
            if stopped_early:
                break  # the budget holds to the step; last/ keeps the previous epoch's end
        run.seconds = time.monotonic() - started
        if not stopped_early:
            run.epoch += 1
            if dist.is_main:
                _save_last(run, out, config, tiles)
    bar.close()
    if dist.is_main:
        _save_backbone(run, out, config, tiles)
        write_bytes_atomic(out / "loss.png", loss_curve_png(run.step_losses, steps_per_epoch))
    dist.barrier()
    shutdown_distributed()
    return {**load_checkpoint(out / BEST).meta, "stopped_early": stopped_early, "steps_per_epoch": steps_per_epoch}


def _step(run: _Run, criterion: nn.Module, view0: torch.Tensor, view1: torch.Tensor, dev: torch.device) -> float:
    """One optimiser step on a batch of view pairs; the NT-Xent loss (float)."""
    if dev.type == "cuda":
        view0, view1 = (v.to(memory_format=torch.channels_last) for v in (view0, view1))
    with autocast(dev):
        loss = criterion(run.model(view0).float(), run.model(view1).float())
    if not math.isfinite(loss.item()):
        raise TrainingDivergedError(f"the SimCLR loss became {loss.item()} at epoch {run.epoch + 1}")
    run.optimiser.zero_grad(set_to_none=True)
    loss.backward()
    run.optimiser.step()
    return loss.item()


def contrastive_loss(model: nn.Module, tiles: TileSet, config: Config, *, seed: int = 0) -> float:
    """Mean NT-Xent over ``tiles`` with views drawn from ``seed``: the same views before and after training."""
    cfg = config.ssl
    criterion = NTXentLoss(temperature=cfg.temperature)
    torch.manual_seed(seed)
    transform = simclr_transform(cfg)
    pairs = [transform(to_pil_image(t)) for t in tiles.tiles]
    view0, view1 = torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
    was_training = model.training
    model.eval()
    with torch.no_grad():
        loss = float(criterion(model(view0), model(view1)))
    model.train(was_training)
    return loss


def loss_curve_png(step_losses: list[float], steps_per_epoch: int) -> bytes:
    """The NT-Xent loss per step and its mean per epoch, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    steps = np.arange(1, len(step_losses) + 1)
    ax.plot(steps, step_losses, lw=0.8, alpha=0.5, label="step")
    n_epochs = len(step_losses) // max(1, steps_per_epoch)
    if n_epochs:
        means = np.asarray(step_losses[: n_epochs * steps_per_epoch]).reshape(n_epochs, -1).mean(axis=1)
        ax.plot(np.arange(1, n_epochs + 1) * steps_per_epoch, means, "o-", label="epoch mean")
    ax.set(xlabel="step", ylabel="NT-Xent loss", title="SimCLR pretraining")
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def load_backbone(path: str | Path, backbone_name: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A pretrained backbone's state dict and meta; it must be the backbone the caller builds."""
    ckpt = load_checkpoint(path)
    if ckpt.meta.get("kind") != "simclr":
        raise CheckpointError(f"{path} is not a SimCLR backbone checkpoint (run `rnagan ssl pretrain`)")
    if ckpt.meta["backbone"] != backbone_name:
        raise CheckpointError(f"{path} holds a {ckpt.meta['backbone']} backbone; ssl.backbone is {backbone_name}")
    return ckpt.subset("backbone"), ckpt.meta
