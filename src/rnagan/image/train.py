"""Train the image stage: a ×scale upsampler on random crops of a tile store's real tiles (no expression needed).

::

    rnagan image train -w runs/lung            # image/checkpoint (EMA upsampler), image/last, image/log.jsonl

The objective is a pixel loss (L1) against the real crop, joined after ``adversarial_after`` steps by the
hinge loss of a patch critic (Isola et al. 2017), the pixel loss's blur being what the critic penalises.
Every logged record carries bicubic's L1 on the same batch: the baseline the upsampler has to beat.
What every trainer shares (the new/resume/overwrite guard, the resume check, checkpoints, logs, the
budget) is :mod:`rnagan.runs`.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.utils import save_image
from tqdm import tqdm

from rnagan import runs
from rnagan.checkpoint import Checkpoint, fingerprint
from rnagan.config import Config, ImageConfig
from rnagan.image.data import CropBatches, training_tiles
from rnagan.image.model import PatchCritic, Upsampler
from rnagan.runs import Budget, RunFolder, RunLog
from rnagan.runtime import autocast, evaluating, pick_device, rng_state, seed_everything, set_rng_state
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)

# A resumed run may also change its learning rate and betas (set again on the optimisers).
MAY_DIFFER = runs.MAY_DIFFER | {"lr", "betas"}


@dataclass
class _Trainer:
    """Everything a step changes, and so everything a checkpoint holds."""

    upsampler: Upsampler
    ema: Upsampler
    critic: PatchCritic
    opt_up: torch.optim.Optimizer
    opt_critic: torch.optim.Optimizer
    step: int = 0
    seconds: float = 0.0  # training time before this process (a resumed run)

    @classmethod
    def new(cls, config: ImageConfig, device: torch.device) -> _Trainer:
        layout = torch.channels_last if device.type == "cuda" else torch.contiguous_format  # tensor cores want NHWC
        upsampler = Upsampler.from_config(config).to(device, memory_format=layout)
        critic = PatchCritic(config.critic_channels).to(device, memory_format=layout)
        return cls(
            upsampler=upsampler,
            ema=copy.deepcopy(upsampler).requires_grad_(False),
            critic=critic,
            opt_up=torch.optim.Adam(upsampler.parameters(), lr=config.lr, betas=config.betas),
            opt_critic=torch.optim.Adam(critic.parameters(), lr=config.lr, betas=config.betas),
        )

    def restore(self, ckpt: Checkpoint, config: ImageConfig) -> None:
        self.upsampler.load_state_dict(ckpt.subset("live"))
        self.ema.load_state_dict(ckpt.subset("upsampler"))
        self.critic.load_state_dict(ckpt.subset("critic"))
        self.opt_up.load_state_dict(ckpt.state["opt_up"])
        self.opt_critic.load_state_dict(ckpt.state["opt_critic"])
        for optimizer in (self.opt_up, self.opt_critic):
            for group in optimizer.param_groups:
                group["lr"], group["betas"] = config.lr, config.betas
        set_rng_state(ckpt.state["rng"])
        self.step, self.seconds = int(ckpt.meta["step"]), float(ckpt.meta["seconds"])


def train_image_stage(
    workspace: Workspace,
    config: Config,
    *,
    split: str | None = "train",
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
) -> Path:
    """Train the image stage on ``workspace``'s tile store and return its checkpoint folder (``image/checkpoint``).

    ``split`` keeps to the tiles of that split's samples where the workspace has splits (so no held-out
    tile is trained on); None takes every tile. ``config.image`` sets the networks, the losses and the
    number of steps; an existing run is refused unless ``resume`` or ``overwrite``.
    """
    cfg = config.image
    folder = RunFolder(
        workspace.image, "image", section="image", may_differ=MAY_DIFFER, log="log.jsonl", outputs=("samples", "tb")
    )
    folder.claim(resume=resume, overwrite=overwrite)
    tiles = training_tiles(workspace, split=split)
    data_fingerprint = fingerprint("\n".join(tiles["key"].astype(str)))
    seed_everything(cfg.seed)
    dev = pick_device(device)
    trainer = _Trainer.new(cfg, dev)
    if resume:
        trainer.restore(folder.restore(config, data_fingerprint=data_fingerprint), cfg)
    batches = CropBatches(
        workspace, tiles, crop_size=cfg.crop_size, scale=cfg.scale, batch_size=cfg.batch_size, seed=cfg.seed
    )
    log.info(
        "image stage: %d tiles, %d steps of %d crops of %d px", len(tiles), cfg.steps, cfg.batch_size, cfg.crop_size
    )
    _train(trainer, batches, folder, config, data_fingerprint, dev, resume=resume)
    return workspace.image / "checkpoint"


def _train(
    trainer: _Trainer,
    batches: CropBatches,
    folder: RunFolder,
    config: Config,
    data_fingerprint: str,
    device: torch.device,
    *,
    resume: bool,
) -> None:
    cfg, budget = config.image, Budget(config.image.steps, spent=trainer.seconds)
    logbook = RunLog(folder, step=trainer.step, resume=resume)
    preview = batches.batch(-1)  # one fixed batch for the sample sheets
    with tqdm(total=cfg.steps, initial=trainer.step, unit="step", disable=None, dynamic_ncols=True) as bar:
        while not budget.finished(trainer.step):
            low, high = (x.to(device) for x in batches.batch(trainer.step))
            losses = _step(trainer, low, high, cfg, device)
            trainer.step += 1
            bar.update(1)
            done = budget.finished(trainer.step)
            if trainer.step % cfg.log_every == 0 or done:
                logbook.write({"step": trainer.step, **losses})
                bar.set_postfix(l1=f"{losses['l1']:.4f}", bicubic=f"{losses['bicubic_l1']:.4f}")
            if trainer.step % cfg.sample_every == 0 or done:
                _save_samples(trainer, preview, folder.path / "samples", device)
            if trainer.step % cfg.checkpoint_every == 0 or done:
                _save(trainer, folder, config, data_fingerprint, seconds=budget.seconds)
    logbook.close()


def _step(
    trainer: _Trainer, low: torch.Tensor, high: torch.Tensor, cfg: ImageConfig, device: torch.device
) -> dict[str, float]:
    """One critic update (once adversarial) and one upsampler update; the losses, and bicubic's L1 beside them."""
    adversarial = cfg.adversarial_weight > 0 and trainer.step >= cfg.adversarial_after
    with autocast(device):
        fake = trainer.upsampler(low)
    losses: dict[str, float] = {}
    if adversarial:
        with autocast(device):
            critic_loss = F.relu(1 - trainer.critic(high)).mean() + F.relu(1 + trainer.critic(fake.detach())).mean()
        trainer.opt_critic.zero_grad(set_to_none=True)
        critic_loss.backward()
        trainer.opt_critic.step()
        losses["critic"] = critic_loss.item()
    with autocast(device):
        l1 = (fake.float() - high).abs().mean()
        loss = cfg.l1_weight * l1
        if adversarial:
            adversarial_loss = -trainer.critic(fake).mean()
            loss = loss + cfg.adversarial_weight * adversarial_loss
            losses["adversarial"] = adversarial_loss.item()
    trainer.opt_up.zero_grad(set_to_none=True)
    loss.backward()
    trainer.opt_up.step()
    with torch.no_grad():
        for e, p in zip(trainer.ema.parameters(), trainer.upsampler.parameters(), strict=True):
            e.lerp_(p, 1.0 - cfg.ema_decay)
        bicubic = F.interpolate(low, scale_factor=cfg.scale, mode="bicubic", align_corners=False).clamp(-1, 1)
        losses["bicubic_l1"] = (bicubic - high).abs().mean().item()
    return {"l1": l1.item(), **losses}


def _save(trainer: _Trainer, folder: RunFolder, config: Config, data_fingerprint: str, *, seconds: float) -> None:
    """``last``: every network, optimiser and RNG state; ``checkpoint``: the EMA upsampler later stages load."""
    meta = {"kind": "image_stage", "step": trainer.step, "data_fingerprint": data_fingerprint, "seconds": seconds}
    ema = {f"upsampler.{k}": v for k, v in trainer.ema.state_dict().items()}
    live = {f"live.{k}": v for k, v in trainer.upsampler.state_dict().items()}
    critic = {f"critic.{k}": v for k, v in trainer.critic.state_dict().items()}
    state = {"opt_up": trainer.opt_up.state_dict(), "opt_critic": trainer.opt_critic.state_dict(), "rng": rng_state()}
    folder.save(folder.last_dir, tensors={**ema, **live, **critic}, config=config, meta=meta, state=state)
    folder.save(folder.best_dir, tensors=ema, config=config, meta=meta)


def _save_samples(
    trainer: _Trainer, preview: tuple[torch.Tensor, torch.Tensor], out: Path, device: torch.device
) -> None:
    """samples/step_N.png: rows of bicubic | EMA upsampler | real crop, for the fixed preview batch."""
    low, high = (x.to(device) for x in preview)
    with evaluating(trainer.ema):
        sharp = trainer.ema(low)
    bicubic = F.interpolate(low, scale_factor=trainer.ema.scale, mode="bicubic", align_corners=False).clamp(-1, 1)
    rows = torch.stack([bicubic, sharp, high], dim=1).flatten(0, 1)
    out.mkdir(parents=True, exist_ok=True)
    save_image((rows.float().cpu() + 1) / 2, out / f"step_{trainer.step:06d}.png", nrow=3, padding=2)
