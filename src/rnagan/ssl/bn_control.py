"""The control arm ``synthetic-bn``: SimCLR's starting weights with only batch-norm statistics of the synthetic tiles.

A pretrained arm that beats scratch may do so through what it learned or merely through batch-norm
running statistics re-estimated on H&E-like tiles. This arm gets the second and not the first: the same
initial weights as SimCLR, the same drawn tiles, forward passes in training mode without a gradient, and
a cumulative average (``momentum=None``) so every tile counts once. The difference ``synthetic`` minus
``synthetic-bn`` is what SimCLR's gradient steps added.
"""

from __future__ import annotations

import torch
from torch import nn

from rnagan.config import SSLConfig
from rnagan.ssl.backbone import initial_backbone, make_backbone, normalize
from rnagan.ssl.sources import TileSet


def bn_statistics_init(
    tiles: TileSet, cfg: SSLConfig, *, device: torch.device, batch_size: int = 64
) -> dict[str, torch.Tensor]:
    """``initial_backbone`` with every batch-norm layer's running mean and variance estimated on ``tiles``."""
    backbone, _ = make_backbone(cfg.backbone)
    backbone.load_state_dict(initial_backbone(cfg.backbone, cfg.seed))
    norms = [m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for layer in norms:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over every batch
    backbone.to(device).train()
    drawn = tiles.draw(cfg.pretrain_max_tiles, cfg.seed)  # the tiles SimCLR draws from the same pool
    with torch.no_grad():
        for start in range(0, len(drawn), batch_size):
            batch = drawn.tiles[start : start + batch_size]
            if len(batch) > 1:  # training-mode batch norm needs two tiles
                backbone(normalize(batch.to(device)))
    for layer in norms:
        layer.momentum = 0.1
    return {k: v.cpu() for k, v in backbone.state_dict().items()}
