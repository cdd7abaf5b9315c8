"""The velocity network v_θ(x_t, t, c): diffusers' UNet2DModel with the condition in its time embedding.

The standardised μ is projected to the width of the U-Net's time embedding and added to it
(``class_embed_type="identity"``), so every residual block sees the profile through the same
scale-and-shift path that tells it the time. A learned null embedding stands for "no condition"
(classifier-free guidance); the ``none`` ablation has no condition path at all.
"""

from __future__ import annotations

import torch
from diffusers import UNet2DModel
from torch import nn

from rnagan.config import FlowConfig

# torchdiffeq integrates t in [0, 1]; the U-Net's sinusoidal embedding was designed for 0..1000 (DDPM's
# steps), and on [0, 1] its frequencies would barely move (SD3 scales its flow time the same way)
TIME_SCALE = 1000.0


class VelocityNet(nn.Module):
    """(x_t (N, 3, S, S), t (N,), c (N, d) or None, drop (N,) bool or None) → velocity (N, 3, S, S).

    Rows with ``drop`` set (or every row, when ``c`` is None) get the null embedding instead of their
    profile's. ``cond_dim=0`` builds the unconditional network (no embedding, ``c`` ignored).
    """

    def __init__(self, *, image_size: int, channels: list[int], layers_per_block: int, attention: bool, cond_dim: int):
        super().__init__()
        levels = len(channels)
        down = ["DownBlock2D"] * levels
        if attention:
            down[-1] = "AttnDownBlock2D"
        self.unet = UNet2DModel(
            sample_size=image_size,
            block_out_channels=tuple(channels),
            layers_per_block=layers_per_block,
            down_block_types=tuple(down),
            up_block_types=tuple(name.replace("Down", "Up") for name in reversed(down)),
            add_attention=attention,
            norm_num_groups=min(32, channels[0]),
            attention_head_dim=min(64, channels[-1]),
            class_embed_type="identity" if cond_dim else None,
        )
        embed_dim = channels[0] * 4  # UNet2DModel's time-embedding width
        self.cond_dim = cond_dim
        self.project = nn.Linear(cond_dim, embed_dim) if cond_dim else None
        self.null = nn.Parameter(torch.zeros(embed_dim)) if cond_dim else None

    @classmethod
    def from_config(cls, config: FlowConfig) -> VelocityNet:
        return cls(
            image_size=config.image_size,
            channels=config.channels,
            layers_per_block=config.layers_per_block,
            attention=config.attention,
            cond_dim=config.latent_dim if config.conditioning == "mu" else 0,
        )

    def embed(self, c: torch.Tensor | None, drop: torch.Tensor | None, n: int) -> torch.Tensor | None:
        """The condition's share of the time embedding (N, E): projected μ, or the null embedding."""
        if self.project is None or self.null is None:
            return None
        null = self.null.expand(n, -1)
        if c is None:
            return null
        projected = self.project(c)
        return projected if drop is None else torch.where(drop[:, None], null.to(projected.dtype), projected)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor | None = None, drop: torch.Tensor | None = None
    ) -> torch.Tensor:
        label = self.embed(c, drop, x.shape[0])
        return self.unet(x, t * TIME_SCALE, class_labels=label).sample
