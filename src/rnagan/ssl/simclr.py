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
from dataclasses import dataclass, field
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

from rnagan import runs
from rnagan.checkpoint import Checkpoint, fingerprint, load_checkpoint
from rnagan.config import Config, SSLConfig
from rnagan.errors import CheckpointError, InputFileError, TrainingDivergedError
from rnagan.fileio import write_bytes_atomic
from rnagan.runs import Budget, RunFolder
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
from rnagan.slides.tilesets import TileSet as LazyTiles  # ssl.sources.TileSet is the labelled set
from rnagan.ssl.backbone import make_backbone
from rnagan.ssl.sources import TileSet

log = logging.getLogger(__name__)
# What a resumed pretraining may change besides the run layer's MAY_DIFFER: the ssl settings of the later
# stages (fine-tuning, the experiment's arms and budget), which pretraining never reads.
MAY_DIFFER = runs.MAY_DIFFER | {
    "finetune_epochs",
    "finetune_batch_size",
    "finetune_lr",
    "finetune_weight_decay",
    "folds",
    "val_fraction",
    "label_fractions",
    "finetune_patience",
    "arms",
    "seeds",
}


class SimCLR(nn.Module):
    """Backbone + lightly's 2-layer projection head; (N, 3, S, S) → (N, projection_dim) embeddings."""

    def __init__(self, backbone_name: str, projection_dim: int) -> None:
        super().__init__()
        self.backbone, dim = make_backbone(backbone_name)
        self.head = SimCLRProjectionHead(dim, dim, projection_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class TwoViews(Dataset):
    """Each uint8 tile, decoded when drawn, as two independent SimCLR views (crop, flips, jitter, grey, blur)."""

    def __init__(self, tiles: LazyTiles, transform: SimCLRTransform) -> None:
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
class _Trainer:
    """What a pretraining run carries from epoch to epoch (and through a resume)."""

    model: nn.Module
    optimiser: torch.optim.Optimizer
    epoch: int = 0  # completed epochs
    step_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0  # spent training, over every resume


def _loader(tiles: TileSet, cfg: SSLConfig, world: Distributed, epoch: int) -> DataLoader:
    """This epoch's batches: the order depends on the seed and the epoch only (so a resumed run repeats it)."""
    dataset = TwoViews(tiles.tiles, simclr_transform(cfg))
    batch = min(cfg.pretrain_batch_size, len(dataset) // world.world_size)
    sampler = DistributedSampler(dataset, world.world_size, world.rank, shuffle=True, seed=cfg.seed, drop_last=True)
    sampler.set_epoch(epoch)
    return DataLoader(dataset, batch, sampler=sampler, drop_last=True, num_workers=cfg.num_workers)


def _data_fingerprint(tiles: TileSet) -> str:
    """Which tiles a run pretrains on (64 of them, evenly spaced): a resume on others is refused."""
    return fingerprint(tiles.tiles[:: max(1, len(tiles) // 64)])


def _meta(trainer: _Trainer, config: Config, tiles: TileSet) -> dict[str, Any]:
    return {
        "kind": "simclr",
        "backbone": config.ssl.backbone,
        "image_size": config.ssl.image_size,
        "epoch": trainer.epoch,
        "seconds": trainer.seconds,
        "n_tiles": len(tiles),
        "origins": {o: int((tiles.origin == o).sum()) for o in np.unique(tiles.origin)},
        "data_fingerprint": _data_fingerprint(tiles),
        "step_losses": trainer.step_losses,
        "seed": config.ssl.seed,
    }


def _raw(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def _save_last(trainer: _Trainer, run: RunFolder, config: Config, tiles: TileSet) -> None:
    """Everything a resume needs, at an epoch's end (so a resumed run repeats the next epoch exactly)."""
    state = {"optimiser": trainer.optimiser.state_dict(), "rng": rng_state()}
    tensors = {f"model.{k}": v for k, v in _raw(trainer.model).state_dict().items()}
    run.save(run.last_dir, tensors=tensors, config=config, meta=_meta(trainer, config, tiles), state=state)


def _save_backbone(trainer: _Trainer, run: RunFolder, config: Config, tiles: TileSet) -> None:
    """The backbone alone: what fine-tuning loads."""
    tensors = {f"backbone.{k}": v for k, v in _raw(trainer.model).backbone.state_dict().items()}
    run.save(run.best_dir, tensors=tensors, config=config, meta=_meta(trainer, config, tiles))


def pretrain(
    tiles: TileSet,
    config: Config,
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    max_seconds: float | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """SimCLR on ``tiles`` (labels unused) → ``out/checkpoint`` (backbone), ``out/last`` (resumable), ``out/loss.png``.

    Returns the backbone checkpoint's meta, with ``stopped_early`` and ``steps_per_epoch``. A folder
    that already holds a run is continued with ``resume`` (from ``out/last``, the last completed
    epoch), replaced with ``overwrite``, and otherwise refused (:class:`CheckpointError`); a resume
    refuses other tiles, and any ``ssl`` setting that differs from the checkpoint's unless
    :data:`MAY_DIFFER` lists it. Stops at the step that passes ``max_seconds``, counting the seconds
    of the runs it resumes (``stopped_early``; the backbone is saved as it is); the cosine schedule
    spans ``ssl.pretrain_epochs``. In a notebook::

        meta = pretrain(open_source("lc25000", 224), preset("small"), "ssl/real", max_seconds=600)
    """
    cfg, out = config.ssl, Path(out)
    tiles = tiles.draw(cfg.pretrain_max_tiles, cfg.seed)
    world, dev = init_distributed(device)
    try:
        run = RunFolder(
            out, str(out), section="ssl", may_differ=MAY_DIFFER, data="tiles", world=world, outputs=("loss.png",)
        )
        run.claim(resume=resume, overwrite=overwrite)
        if len(tiles) < 2 * world.world_size:
            raise InputFileError(f"SimCLR needs at least 2 tiles per process, got {len(tiles)}")
        trainer = _new_trainer(cfg, world, dev)
        if resume:
            _resume(trainer, run.restore(config, data_fingerprint=_data_fingerprint(tiles)))
        steps_per_epoch = len(_loader(tiles, cfg, world, 0))
        budget = Budget(cfg.pretrain_epochs, max_seconds, spent=trainer.seconds)
        stopped_early = _train(trainer, tiles, config, run, dev, budget, steps_per_epoch, progress=progress)
        _save_backbone(trainer, run, config, tiles)
        if world.is_main:
            write_bytes_atomic(out / "loss.png", loss_curve_png(trainer.step_losses, steps_per_epoch))
        world.barrier()
    finally:
        shutdown_distributed()
    return {**load_checkpoint(run.best_dir).meta, "stopped_early": stopped_early, "steps_per_epoch": steps_per_epoch}


def _new_trainer(cfg: SSLConfig, world: Distributed, dev: torch.device) -> _Trainer:
    """SimCLR (synchronised BatchNorm and DDP under torchrun) and its SGD optimiser."""
    seed_everything(cfg.seed + world.rank)
    model: nn.Module = SimCLR(cfg.backbone, cfg.projection_dim).to(dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    if world.enabled:
        model = DistributedDataParallel(nn.SyncBatchNorm.convert_sync_batchnorm(model))
    optimiser = torch.optim.SGD(
        model.parameters(), lr=cfg.pretrain_lr, momentum=cfg.momentum, weight_decay=cfg.pretrain_weight_decay
    )
    return _Trainer(model, optimiser)


def _resume(trainer: _Trainer, ckpt: Checkpoint) -> None:
    """Weights, optimiser, RNG and position at the end of the checkpoint's epoch."""
    _raw(trainer.model).load_state_dict(ckpt.subset("model"))
    trainer.optimiser.load_state_dict(ckpt.state["optimiser"])
    set_rng_state(ckpt.state["rng"])
    trainer.epoch, trainer.step_losses = ckpt.meta["epoch"], ckpt.meta["step_losses"]
    trainer.seconds = ckpt.meta["seconds"]


def _train(
    trainer: _Trainer,
    tiles: TileSet,
    config: Config,
    run: RunFolder,
    dev: torch.device,
    budget: Budget,
    steps_per_epoch: int,
    *,
    progress: bool,
) -> bool:
    """The loop: epochs of steps, ``last/`` after each, until the epochs or the time run out; True if the time did."""
    cfg, world = config.ssl, run.world
    schedule = warmup_cosine_schedule(
        trainer.optimiser,
        base_lr=cfg.pretrain_lr,
        warmup_steps=0,
        total_steps=cfg.pretrain_epochs * steps_per_epoch,
        start_step=trainer.epoch * steps_per_epoch,
    )
    criterion = NTXentLoss(temperature=cfg.temperature, gather_distributed=world.enabled)
    bar = tqdm(total=cfg.pretrain_epochs * steps_per_epoch, initial=len(trainer.step_losses), disable=not progress)
    stopped_early = False
    while not (stopped_early or budget.finished(trainer.epoch)):
        for view0, view1 in _loader(tiles, cfg, world, trainer.epoch):
            loss = _step(trainer, criterion, view0.to(dev), view1.to(dev), dev)
            schedule.step()
            trainer.step_losses.append(loss)
            bar.update()
            bar.set_postfix(epoch=trainer.epoch + 1, loss=f"{loss:.4f}")
            stopped_early = budget.out_of_time(world, dev)
            if stopped_early:
                break  # the budget holds to the step; last/ keeps the previous epoch's end
        trainer.seconds = budget.seconds
        if not stopped_early:
            trainer.epoch += 1
            _save_last(trainer, run, config, tiles)
    bar.close()
    return stopped_early


def _step(
    trainer: _Trainer, criterion: nn.Module, view0: torch.Tensor, view1: torch.Tensor, dev: torch.device
) -> float:
    """One optimiser step on a batch of view pairs; the NT-Xent loss (float)."""
    if dev.type == "cuda":
        view0, view1 = (v.to(memory_format=torch.channels_last) for v in (view0, view1))
    with autocast(dev):
        loss = criterion(trainer.model(view0).float(), trainer.model(view1).float())
    if not math.isfinite(loss.item()):
        raise TrainingDivergedError(f"the SimCLR loss became {loss.item()} at epoch {trainer.epoch + 1}")
    trainer.optimiser.zero_grad(set_to_none=True)
    loss.backward()
    trainer.optimiser.step()
    return loss.item()


def contrastive_loss(model: nn.Module, tiles: TileSet, config: Config, *, seed: int = 0) -> float:
    """Mean NT-Xent over ``tiles`` with views drawn from ``seed``: the same views before and after training."""
    cfg = config.ssl
    criterion = NTXentLoss(temperature=cfg.temperature)
    torch.manual_seed(seed)
    transform = simclr_transform(cfg)
    pairs = [transform(to_pil_image(t)) for t in tiles.tiles[:]]
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
