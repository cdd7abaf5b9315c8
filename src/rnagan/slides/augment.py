"""Tile augmentation, on whole batches on the training device: dihedral flips and mild colour jitter.

Histology has no canonical orientation, so the 8 dihedral transforms (flips, 90° rotations) are exact
symmetries of a tile (no interpolation). Colour jitter stays mild because stain colour is part of what
a tissue class looks like. The GAN's loop augments real tiles with :func:`augment`; the evaluation's
tissue classifier flips its training tiles with :func:`random_flips`.
"""

from __future__ import annotations

import torch


def _coin(n: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    """(n,) booleans, each True with probability 1/2: from ``generator`` (on the CPU) or the device's RNG."""
    if generator is not None:
        return (torch.rand(n, generator=generator) < 0.5).to(device)
    return torch.rand(n, device=device) < 0.5


def random_flips(x: torch.Tensor, *, transpose: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """(N, C, H, W) → the same tiles, each flipped left-right, up-down and (``transpose``) transposed at random.

    The three coins are drawn per tile, independently; with ``transpose`` the 8 dihedral transforms are
    equally likely. ``generator`` (a CPU generator) makes the draws reproducible apart from the global RNG.
    """
    n = x.shape[0]
    hflip = _coin(n, x.device, generator)
    vflip = _coin(n, x.device, generator)
    swap = _coin(n, x.device, generator) if transpose else None
    x = torch.where(hflip[:, None, None, None], x.flip(-1), x)
    x = torch.where(vflip[:, None, None, None], x.flip(-2), x)
    if swap is not None:
        x = torch.where(swap[:, None, None, None], x.transpose(-1, -2), x)
    return x


def augment(tiles: torch.Tensor, *, flips: bool, jitter: float) -> torch.Tensor:
    """uint8 (N, 3, S, S) → float (N, 3, S, S) in [-1, 1], each tile randomly flipped/rotated/jittered.

    ``jitter`` ≈ 0.05 scales brightness, contrast and saturation by factors drawn from [1 − j, 1 + j].
    """
    x = tiles.float() / 255.0
    n = x.shape[0]
    if flips:
        x = random_flips(x)
    if jitter > 0:

        def factor() -> torch.Tensor:
            return 1.0 + jitter * (2 * torch.rand(n, 1, 1, 1, device=x.device) - 1)

        x = x * factor()  # brightness
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = mean + (x - mean) * factor()  # contrast
        gray = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
        x = gray + (x - gray) * factor()  # saturation
    return (x.clamp(0, 1) - 0.5) / 0.5
