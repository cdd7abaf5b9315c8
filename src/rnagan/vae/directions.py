"""Directions in the latent space along which a per-sample score rises, dosed in the data's own spread.

A fold change on a few genes barely moves μ (the encoder averages over thousands of genes), so editing
a profile and re-encoding it changes little a viewer could see. A direction learned from the training
samples moves μ the way μ itself moves between samples that differ in the score:

    u ∝ Σ_i (s_i − s̄)(μ_i − μ̄)        (the regression of μ on the score, made a unit vector)

For a 0/1 class label this is the difference of the class mean and the mean of the rest (the paper's
tissue shift). It follows how the training μ co-vary with the score rather than the least-squares
coefficient of the score on μ, which may point where μ hardly varies and so off the data the generator
saw. A dose is in units of the spread of the training μ along u (their projections' standard
deviation): +1 moves a profile as far along u as a typical sample lies from the mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnagan.errors import InputFileError


@dataclass(frozen=True)
class Direction:
    """A unit vector in μ and the spread of the training μ along it (what one dose unit means)."""

    name: str
    unit: np.ndarray  # (d,) float64, norm 1
    spread: float  # sd of the training μ projected on ``unit``
    source: str  # what the score was: "genes (spatial counts)", "label tissue", "random (seed 0)", ...
    samples: int  # training samples it was learned from
    genes: tuple[str, ...] = field(default=())  # the genes scored, for a gene-set direction

    def shift(self, mu: np.ndarray, dose: float) -> np.ndarray:
        """``mu`` (N, d) moved ``dose`` spreads along the direction; dose 0 returns ``mu`` unchanged, bit for bit."""
        mu = np.asarray(mu, dtype=np.float32)
        if dose == 0:
            return mu.copy()
        return (mu + (dose * self.spread * self.unit).astype(np.float32)).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "samples": self.samples,
            "spread": self.spread,
            "genes": list(self.genes),
            "unit": [float(v) for v in self.unit],
        }


def learn_direction(
    name: str, mu: np.ndarray, score: np.ndarray, *, source: str, genes: tuple[str, ...] = ()
) -> Direction:
    """The direction in which ``mu`` (N, d) moves as ``score`` (N,) rises (module docstring); NaN scores dropped."""
    mu = np.asarray(mu, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    keep = np.isfinite(score)
    mu, score = mu[keep], score[keep]
    if len(score) < 3 or np.ptp(score) == 0:
        raise InputFileError(
            f"direction {name!r}: its score is constant or known on fewer than 3 training samples: no direction"
        )
    centred = mu - mu.mean(axis=0)
    covariance = centred.T @ (score - score.mean()) / (len(score) - 1)
    return _direction(name, covariance, centred, source=source, genes=genes)


def random_direction(name: str, mu: np.ndarray, *, seed: int) -> Direction:
    """A seeded direction drawn uniformly on the sphere, dosed like any other: the control for a learned one."""
    mu = np.asarray(mu, dtype=np.float64)
    vector = np.random.default_rng(seed).standard_normal(mu.shape[1])
    return _direction(name, vector, mu - mu.mean(axis=0), source=f"random (seed {seed})")


def _direction(
    name: str, vector: np.ndarray, centred: np.ndarray, *, source: str, genes: tuple[str, ...] = ()
) -> Direction:
    norm = float(np.linalg.norm(vector))
    if norm == 0 or not np.isfinite(norm):
        raise InputFileError(f"direction {name!r}: μ does not co-vary with its score at all")
    unit = vector / norm
    spread = float(np.std(centred @ unit, ddof=1))
    return Direction(name=name, unit=unit, spread=spread, source=source, samples=len(centred), genes=genes)
