"""Networks of the image stage: a ×scale super-resolution generator and a patch critic.

The upsampler predicts a residual over bicubic interpolation (its last convolution starts at zero), so
an untrained one is exactly bicubic and training only adds what bicubic lacks: the edges of nuclei,
chromatin, fibres (SRResNet, Ledig et al. 2017, without batch norm as EDSR, Lim et al. 2017). Both
networks are fully convolutional: they train on random crops and run on whole tiles of any size.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

if TYPE_CHECKING:
    from rnagan.config import ImageConfig


def conv3x3(in_ch: int, out_ch: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, padding=1, padding_mode="reflect")  # reflect: no pale frame at borders


class ResidualBlock(nn.Module):
    """x + 0.2·conv(act(conv(x))): EDSR's scaled residual, stable without normalisation."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(channels, channels), nn.LeakyReLU(0.2), conv3x3(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.body(x)


class Upsampler(nn.Module):
    """Low-resolution tile (N, 3, h, w) in [-1, 1] → (N, 3, scale·h, scale·w) in [-1, 1]."""

    def __init__(self, *, scale: int = 4, channels: int = 48, blocks: int = 6) -> None:
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"scale must be a power of two >= 2, got {scale}")
        self.scale = scale
        self.head = conv3x3(3, channels)
        self.body = nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))
        ups: list[nn.Module] = []
        width = channels
        for _ in range(int(math.log2(scale))):  # resize-then-conv per doubling: no checkerboard
            ups += [nn.Upsample(scale_factor=2, mode="nearest"), conv3x3(width, width // 2), nn.LeakyReLU(0.2)]
            width //= 2
        self.up = nn.Sequential(*ups)
        self.tail = conv3x3(width, 3)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    @classmethod
    def from_config(cls, config: ImageConfig) -> Upsampler:
        return cls(scale=config.scale, channels=config.channels, blocks=config.blocks)

    def forward(self, low: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(low, scale_factor=self.scale, mode="bicubic", align_corners=False)
        features = self.head(low)
        detail = self.tail(self.up(features + self.body(features)))
        return (base + detail).clamp(-1, 1)


class PatchCritic(nn.Module):
    """(N, 3, H, W) → (N, 1, H/8, W/8) realism logits, one per overlapping patch (pix2pix's PatchGAN).

    Spectrally normalised throughout (Miyato et al. 2018), for the hinge loss without a penalty term.
    """

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        widths = [3, channels, channels * 2, channels * 4]
        layers: list[nn.Module] = []
        for in_ch, out_ch in itertools.pairwise(widths):
            layers += [spectral_norm(nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
        layers.append(spectral_norm(nn.Conv2d(widths[-1], 1, 3, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
