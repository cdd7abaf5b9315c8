"""Tile augmentation, on whole batches on the training device: dihedral flips and mild colour jitter.

Histology has no canonical orientation, so the 8 dihedral transforms (flips, 90° rotations) are exact
symmetries of a tile (no interpolation). Colour jitter stays mild because stain colour is part of what
a tissue class looks like. The GAN's loop augments real tiles with :func:`augment`; the evaluation's
tissue classifier flips its training tiles with :func:`random_flips`. :func:`diff_augment` is of
another kind: it transforms real and generated tiles alike just before the GAN's critic, and the
generator learns through it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF


def resize_tiles(tiles: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (..., 3, H, W) → uint8 (..., 3, size, size), antialiased bilinear: how the GAN sees stored tiles.

    Evaluation resizes real tiles with this same function, so real and generated tiles are compared at
    the size, and through the resampling, the generator learned from.
    """
    if tiles.shape[-2:] == (size, size):
        return tiles
    return TF.resize(tiles, [size, size], antialias=True)


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


def diff_augment(
    x: torch.Tensor, policy: Sequence[str], *, translation: float = 0.125, cutout: float = 0.5
) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020): random colour, translation and cutout, differentiable in ``x``.

    Applied to real *and* generated tiles before the critic, a critic cannot memorise a small training
    set, and the generator, whose tiles are augmented alike, still learns un-augmented tissue. ``x`` is
    float (N, 3, H, W) in [-1, 1]; every tile draws its own parameters from the global RNG. ``policy``
    lists "color", "translation" (shift by up to ``translation`` of the side, zeros coming in) and
    "cutout" (a square of ``cutout`` of the side set to 0), applied in that order.
    """
    n, c, h, w = x.shape

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, 1, 1, 1, device=x.device)

    if "color" in policy:
        x = x + uniform(-0.5, 0.5)  # brightness
        mean = x.mean(1, keepdim=True)
        x = (x - mean) * uniform(0.0, 2.0) + mean  # saturation
        mean = x.mean((1, 2, 3), keepdim=True)
        x = (x - mean) * uniform(0.5, 1.5) + mean  # contrast
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    if "translation" in policy:
        pad = int(h * translation + 0.5)
        shift = torch.randint(-pad, pad + 1, (n, 2, 1, 1), device=x.device)
        index = ((rows + pad + shift[:, 0]) * (w + 2 * pad) + cols + pad + shift[:, 1]).flatten(1)  # (N, H*W)
        padded = F.pad(x, [pad] * 4).flatten(2)  # (N, C, (H+2p)*(W+2p))
        x = padded.gather(2, index[:, None].expand(n, c, h * w)).view(n, c, h, w)
    if "cutout" in policy:
        half_h, half_w = int(h * cutout + 0.5) // 2, int(w * cutout + 0.5) // 2
        centre_y = torch.randint(0, h, (n, 1, 1), device=x.device)
        centre_x = torch.randint(0, w, (n, 1, 1), device=x.device)
        keep = ((rows - centre_y).abs() >= half_h) | ((cols - centre_x).abs() >= half_w)  # (N, H, W)
        x = x * keep[:, None].to(x.dtype)
    return x
