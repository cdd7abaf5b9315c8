"""Use a trained image stage: load its EMA upsampler and lift tiles to its scale."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from rnagan.checkpoint import load_checkpoint
from rnagan.errors import CheckpointError
from rnagan.image.data import to_uint8, to_unit
from rnagan.image.model import Upsampler
from rnagan.runtime import evaluating, pick_device

BUNDLED = "bundled"  # the name that picks the image stage shipped in the package


def bundled_image_stage() -> Path:
    """The image stage shipped in the package (how it was made: its meta.json)."""
    return Path(str(resources.files("rnagan.datasets") / "data" / "image_stage"))


def load_upsampler(checkpoint: str | Path, device: str = "cpu") -> Upsampler:
    """The EMA upsampler of an ``image/checkpoint`` folder (or ``"bundled"``), in eval mode on ``device``."""
    path = bundled_image_stage() if str(checkpoint) == BUNDLED else Path(checkpoint)
    ckpt = load_checkpoint(path)
    if ckpt.meta.get("kind") != "image_stage":
        raise CheckpointError(f"{ckpt.path} is not an image stage checkpoint (meta kind {ckpt.meta.get('kind')!r})")
    upsampler = Upsampler.from_config(ckpt.config.image)
    try:
        upsampler.load_state_dict(ckpt.subset("upsampler"))
    except RuntimeError as err:
        raise CheckpointError(f"{ckpt.path}: the upsampler weights do not match its config.yaml: {err}") from None
    return upsampler.to(pick_device(device)).eval().requires_grad_(False)


def upsample_tiles(upsampler: Upsampler, tiles: torch.Tensor, *, batch_size: int = 16) -> torch.Tensor:
    """uint8 (N, 3, h, w) → uint8 (N, 3, scale·h, scale·w), ``batch_size`` tiles at a time."""
    device = next(upsampler.parameters()).device
    with evaluating(upsampler):
        parts = [to_uint8(upsampler(to_unit(chunk.to(device)))).cpu() for chunk in tiles.split(batch_size)]
    return torch.cat(parts)
