"""RNA-GAN networks: a DCGAN-style generator and a conditional (projection) critic.

Both networks are built from one channel ladder: the critic has ``base_channels`` at full resolution
and doubles them at each halving (capped at ``max_channels``) down to 4×4; the generator mirrors it.
With ``image_size=256, base_channels=64, max_channels=1024`` that is the paper's DCGAN
(torchgan ``DCGANGenerator``/``DCGANDiscriminator``, as the published code used) up to the head.

Deliberate differences from the published networks, each for a stated reason:

- the critic has **no batch norm** (the gradient penalty is defined per sample, and batch norm makes
  a sample's score depend on its batch; Gulrajani et al. 2017, §4) and a **linear output** (a WGAN
  critic estimates a difference of expectations; the published LeakyReLU head clips it);
- the critic can see the condition through a **projection** term (Miyato & Koyama 2018, eq. 3):
  ``D(x, y) = ψ(φ(x)) + ⟨V y, φ(x)⟩``, the standard way to condition a critic on a continuous vector;
- the generator can upsample by **resize-then-convolution** (Odena et al. 2016, "Deconvolution and
  checkerboard artifacts") as well as by the paper's transposed convolutions;
- the critic's layers can be **spectrally normalised** (Miyato et al. 2018), which bounds its slope
  without a penalty term, for the hinge objective.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

if TYPE_CHECKING:
    from rnagan.config import GANConfig

Upsample = Literal["transposed", "resize"]


def channel_ladder(image_size: int, base_channels: int, max_channels: int) -> list[int]:
    """Channels at resolutions image_size, image_size/2, ..., 4 (critic order; the generator reverses it)."""
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
    n_halvings = int(math.log2(image_size // 4))
    return [min(max_channels, base_channels * 2**k) for k in range(n_halvings + 1)]


def up_block(in_ch: int, out_ch: int, upsample: Upsample) -> nn.Sequential:
    """Double the resolution: (N, in_ch, r, r) -> (N, out_ch, 2r, 2r), then BN and ReLU (DCGAN)."""
    if upsample == "transposed":
        conv: nn.Module = nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=False)
    elif upsample == "resize":
        conv = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
        )
    else:
        raise ValueError(f"unknown upsample {upsample!r}: use 'transposed' or 'resize'")
    return nn.Sequential(conv, nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class Generator(nn.Module):
    """z (N, in_dim) -> image (N, 3, S, S) in [-1, 1].

    ``in_dim`` is the conditioning code plus any extra noise channels; how μ and noise are put together
    is the objective's business (``rnagan.gan.objective.generator_input``), not the network's.
    """

    def __init__(
        self, in_dim: int, *, image_size: int, base_channels: int, max_channels: int, upsample: Upsample = "resize"
    ) -> None:
        super().__init__()
        ladder = channel_ladder(image_size, base_channels, max_channels)[::-1]  # 4x4 first
        self.in_dim, self.image_size = in_dim, image_size
        self.stem = nn.Sequential(
            nn.Linear(in_dim, ladder[0] * 16, bias=False),  # a 4x4 "transposed conv" on a 1x1 input
            nn.Unflatten(1, (ladder[0], 4, 4)),
            nn.BatchNorm2d(ladder[0]),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.Sequential(*(up_block(a, b, upsample) for a, b in itertools.pairwise(ladder)))
        self.to_rgb = nn.Conv2d(ladder[-1], 3, 3, padding=1)

    @classmethod
    def from_config(cls, config: GANConfig) -> Generator:
        """The generator ``config`` describes: input μ's width plus the extra noise channels."""
        return cls(
            config.latent_dim + config.noise_dim,
            image_size=config.image_size,
            base_channels=config.base_channels,
            max_channels=config.max_channels,
            upsample=config.upsample,
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.stem(z)  # (N, C_4, 4, 4)
        h = self.blocks(h)  # (N, C_S, S, S)
        return torch.tanh(self.to_rgb(h))  # (N, 3, S, S)


class MinibatchStd(nn.Module):
    """(N, C, H, W) → (N, C + 1, H, W): one more channel, the mean standard deviation of the features over
    each group of ``group_size`` consecutive samples (ProGAN/StyleGAN), so the critic can see a lack of variety."""

    def __init__(self, group_size: int) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        group = math.gcd(n, self.group_size)  # a batch that does not split evenly gets smaller groups
        grouped = x.float().reshape(group, n // group, -1)  # sample i is in group i % (n // group)
        spread = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=1)  # (n // group,)
        channel = spread.repeat(group).reshape(n, 1, 1, 1).expand(n, 1, h, w).to(x.dtype)
        return torch.cat([x, channel], dim=1)


class Critic(nn.Module):
    """image (N, 3, S, S) [+ condition y (N, cond_dim)] -> score (N,); no batch-dependent normalisation
    unless ``minibatch_std`` > 0 (then each score also depends on its group's variety, by design).

    ``cond_dim=0`` gives the unconditional (blind) critic of the paper and of the baseline;
    ``spectral_norm`` normalises every layer's weight by its largest singular value.
    """

    def __init__(
        self,
        *,
        image_size: int,
        base_channels: int,
        max_channels: int,
        cond_dim: int = 0,
        spectral_norm: bool = False,
        minibatch_std: int = 0,
    ) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda layer: layer)
        ladder = channel_ladder(image_size, base_channels, max_channels)
        layers: list[nn.Module] = [sn(nn.Conv2d(3, ladder[0], 3, padding=1)), nn.LeakyReLU(0.2)]
        for a, b in itertools.pairwise(ladder):
            layers += [sn(nn.Conv2d(a, b, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
        if minibatch_std:
            layers.append(MinibatchStd(minibatch_std))
        self.features = nn.Sequential(*layers)
        feat = ladder[-1]
        self.phi = nn.Sequential(
            nn.Flatten(), sn(nn.Linear((feat + bool(minibatch_std)) * 16, feat)), nn.LeakyReLU(0.2)
        )
        self.psi = sn(nn.Linear(feat, 1))
        self.cond_dim = cond_dim
        # V of the projection term; no bias, so y = 0 (the training mean) adds nothing.
        self.embed = sn(nn.Linear(cond_dim, feat, bias=False)) if cond_dim > 0 else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)  # (N, C_4 [+ 1], 4, 4)
        h = self.phi(h)  # (N, C_4)
        score = self.psi(h).squeeze(1)  # (N,)
        if self.embed is not None:
            if y is None:
                raise ValueError("this critic is conditional: pass the condition y (N, cond_dim)")
            score = score + (self.embed(y) * h).sum(dim=1)  # projection ⟨V y, φ(x)⟩
        return score
