"""Conditioning fidelity by probes that do not share the ResNet's blind spot.

The ResNet of :mod:`rnagan.evaluate.classify` learns from 64 px real tiles and keys on stain
colour, which a generator learns first, so tiles of the right colour pass it without any tissue
in them. Two more probes, both trained on real tiles only, keep that honest:

- a **frozen-feature probe**: logistic regression on Inception pool features (the FID network,
  trained on ImageNet, never on these tiles), which name the class of real held-out tiles from
  texture and structure;
- a **colour control**: the same logistic regression on each tile's mean and spread of R, G and
  B alone. Its accuracy on generated tiles is the part of fidelity that colour explains; what a
  probe scores above it is morphology.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from rnagan.evaluate.classify import classification_metrics

SCORE_BLOCK = 1024  # rows scored at once
COLOUR_BLOCK = 64  # tiles widened to float at once


@dataclass
class LinearProbe:
    """Standardised features → multinomial logistic regression, with balanced class weights."""

    pipeline: Pipeline
    classes: list[str]

    @classmethod
    def fit(cls, features: np.ndarray, labels: Sequence[str], *, c: float = 0.05) -> LinearProbe:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000, class_weight="balanced"))
        model.fit(np.asarray(features, dtype=np.float64), np.asarray(labels, dtype=str))
        return cls(pipeline=model, classes=[str(c) for c in model.classes_])

    def score(self, features: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
        """Accuracy, macro F1, AUC and per-class accuracy of the probe on (features, labels)."""
        rows = np.asarray(features)
        blocks = [
            self.pipeline.predict_proba(rows[start : start + SCORE_BLOCK].astype(np.float64))
            for start in range(0, len(rows), SCORE_BLOCK)
        ]  # row by row the same probabilities, without a float64 copy of every row and another once scaled
        return classification_metrics(list(labels), np.concatenate(blocks), self.classes)


def colour_features(tiles: torch.Tensor) -> np.ndarray:
    """uint8 (N, 3, H, W) → (N, 6): per-channel mean and standard deviation, in [0, 1]."""
    blocks = []
    for block in tiles.split(COLOUR_BLOCK):  # float copies of a few MB, not of a whole 512-tile chunk
        sd, mean = torch.std_mean(block.float().flatten(2), dim=2)
        blocks.append(torch.cat([mean, sd], dim=1) / 255.0)
    return torch.cat(blocks).numpy()
