"""Backbones (torchvision ResNets from scratch, or a tiny CNN for the tests) and the classifier built on one.

Every stage feeds them the same input: uint8 tiles scaled to [0, 1] and normalised with ImageNet's
mean and std, the normalisation of lightly's SimCLR transform, so fine-tuning sees what pretraining saw.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from lightly.transforms.utils import IMAGENET_NORMALIZE
from torch import nn
from torchvision.models import resnet18, resnet50

_MEAN = torch.tensor(IMAGENET_NORMALIZE["mean"]).view(1, 3, 1, 1)
_STD = torch.tensor(IMAGENET_NORMALIZE["std"]).view(1, 3, 1, 1)


def normalize(tiles: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) → float, ImageNet-normalised (as lightly's SimCLRTransform)."""
    x = tiles.float() / 255.0
    return (x - _MEAN.to(x.device)) / _STD.to(x.device)


def _tiny() -> tuple[nn.Module, int]:
    """Four strided 3×3 convolutions (16→64 channels): fast enough for the tests, not for results."""
    layers: list[nn.Module] = []
    widths = (3, 16, 32, 64, 64)
    for c_in, c_out in pairwise(widths):
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), widths[-1]


def make_backbone(name: str) -> tuple[nn.Module, int]:
    """A randomly initialised backbone (N, 3, H, W) → (N, D) features, and D."""
    if name == "tiny":
        return _tiny()
    if name not in ("resnet18", "resnet50"):
        raise ValueError(f"unknown backbone {name!r}: use resnet18, resnet50 or tiny")
    model = resnet18() if name == "resnet18" else resnet50()
    dim = model.fc.in_features
    model.fc = nn.Identity()  # features, not ImageNet logits
    return model, dim


class Classifier(nn.Module):
    """Backbone + one linear layer with as many outputs as classes. It returns logits: cross-entropy applies
    the softmax itself (the published code of the paper had a softmax before it, and a wrong output count)."""

    def __init__(self, backbone: nn.Module, feature_dim: int, n_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(feature_dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))  # (N, n_classes) logits


def initial_backbone(name: str, seed: int) -> dict[str, torch.Tensor]:
    """The weights SimCLR starts from with ``seed`` (its model builds the backbone first, right after seeding)."""
    from rnagan.runtime import seed_everything

    seed_everything(seed)
    return make_backbone(name)[0].state_dict()


def is_statistic(name: str) -> bool:
    """Batch-norm running statistics: buffers that a forward pass re-estimates, not learned weights."""
    return name.endswith(("running_mean", "running_var", "num_batches_tracked"))


def weight_distance(weights: dict[str, torch.Tensor], start: dict[str, torch.Tensor]) -> dict[str, float]:
    """How far training moved the learned weights: ‖w − w₀‖ and ‖w − w₀‖ / ‖w₀‖ over every non-statistic tensor."""
    names = [n for n in start if not is_statistic(n)]
    moved = torch.sqrt(sum(((weights[n].float() - start[n].float()) ** 2).sum() for n in names))
    size = torch.sqrt(sum((start[n].float() ** 2).sum() for n in names))
    return {"l2": float(moved), "relative": float(moved / size)}
