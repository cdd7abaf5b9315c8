"""Fréchet Inception Distance and unbiased Kernel Inception Distance, in float64.

FID = ‖μ₁−μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁Σ₂)^½ (Heusel et al. 2017). The usual code takes
``scipy.linalg.sqrtm`` of the non-symmetric product Σ₁Σ₂, which returns complex numbers and
warns or crashes when fewer images than feature dimensions make Σ singular (the reference code
adds 1e-6·I and hopes). We use the identity tr (Σ₁Σ₂)^½ = ‖F₁ᵀF₂‖_* (nuclear norm) for any
factors Σ = FFᵀ: with n ≤ 2048 images F is the centred features / √(n−1), otherwise the
eigen-factor of Σ with negative round-off clipped. Only real symmetric algebra, exact at every n.

KID (Bińkowski et al. 2018) is the unbiased MMD² with the cubic polynomial kernel
k(x, y) = (xᵀy/d + 1)³, averaged over random subsets; its expectation is 0 for equal
distributions, so small negative values are expected and kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class FeatureStats:
    """Mean, covariance (float64) and a factor of the covariance (Σ = factor @ factor.T) of n feature rows."""

    mu: np.ndarray
    sigma: np.ndarray
    factor: np.ndarray
    n: int

    @classmethod
    def from_features(cls, features: np.ndarray) -> FeatureStats:
        feats = np.asarray(features, dtype=np.float64)
        if feats.ndim != 2 or feats.shape[0] < 2:
            raise ValueError(f"need at least 2 feature rows (n, d), got shape {feats.shape}")
        n, d = feats.shape
        mu = feats.mean(axis=0)
        centred = feats - mu
        sigma = centred.T @ centred / (n - 1)
        if n <= d:
            return cls(mu=mu, sigma=sigma, factor=centred.T / np.sqrt(n - 1), n=n)  # (d, n): exact
        return cls.from_moments(mu, sigma, n)

    @classmethod
    def from_moments(cls, mu: np.ndarray, sigma: np.ndarray, n: int) -> FeatureStats:
        """Statistics from a mean and covariance, factored by eigendecomposition (negative round-off clipped)."""
        values, vectors = np.linalg.eigh(sigma)
        keep = values > values.max() * 1e-12
        return cls(mu=mu, sigma=sigma, factor=vectors[:, keep] * np.sqrt(values[keep]), n=n)

    @classmethod
    def from_chunks(cls, chunks: Iterable[np.ndarray]) -> FeatureStats:
        """Statistics of feature rows that arrive chunk by chunk, never held together: each chunk's moments are
        merged into the running ones (:class:`FeatureMoments`), exact in float64."""
        return FeatureMoments.merge_all(FeatureMoments.from_features(chunk) for chunk in chunks).to_stats()

    def save(self, path: str | Path) -> None:
        np.savez(path, mu=self.mu, sigma=self.sigma, factor=self.factor, n=self.n)

    @classmethod
    def load(cls, path: str | Path) -> FeatureStats:
        with np.load(path) as data:
            return cls(mu=data["mu"], sigma=data["sigma"], factor=data["factor"], n=int(data["n"]))


@dataclass(frozen=True)
class FeatureMoments:
    """Count, mean and centred scatter Σᵢ (xᵢ − x̄)(xᵢ − x̄)ᵀ of feature rows, in float64: FID's sufficient
    statistics. They merge in any order and grouping, exact to float64 round-off (Chan, Golub & LeVeque 1979),
    so shards of a set reduced anywhere give the whole set's statistics without its rows meeting in one process.

    Scatter about each part's own mean, never raw sums of xxᵀ: Inception features sit far from zero, and
    Σ xxᵀ/n − x̄x̄ᵀ would cancel most of the digits the covariance needs.
    """

    n: int
    mean: np.ndarray  # (d,)
    scatter: np.ndarray  # (d, d)

    @classmethod
    def from_features(cls, features: np.ndarray) -> FeatureMoments:
        """Moments of an (n, d) block of rows; any n ≥ 0, so a shard of one row or none merges like any other."""
        feats = np.asarray(features, dtype=np.float64)
        if feats.ndim != 2:
            raise ValueError(f"feature rows must be an (n, d) array, got shape {feats.shape}")
        if not len(feats):
            return cls(0, np.zeros(feats.shape[1]), np.zeros((feats.shape[1], feats.shape[1])))
        mean = feats.mean(axis=0)
        centred = feats - mean
        return cls(len(feats), mean, centred.T @ centred)

    @property
    def total(self) -> np.ndarray:
        """The sum of the rows."""
        return self.mean * self.n

    def merge(self, other: FeatureMoments) -> FeatureMoments:
        """The moments of both parts' rows together: Chan et al.'s pairwise update."""
        if self.mean.shape != other.mean.shape:
            raise ValueError(f"feature sizes differ: {self.mean.shape} vs {other.mean.shape}")
        if not other.n:
            return self
        if not self.n:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        scatter = self.scatter + other.scatter + np.outer(delta, delta) * (self.n * other.n / n)
        return FeatureMoments(n, self.mean + delta * (other.n / n), scatter)

    __add__ = merge

    @classmethod
    def merge_all(cls, parts: Iterable[FeatureMoments]) -> FeatureMoments:
        """Every part merged, one at a time as they arrive (a stream holds one part and the running total)."""
        total: FeatureMoments | None = None
        for part in parts:
            total = part if total is None else total.merge(part)
        if total is None:
            raise ValueError("need at least 2 feature rows, got none")
        return total

    def to_stats(self) -> FeatureStats:
        """Mean and unbiased covariance, factored for :func:`frechet_distance`."""
        if self.n < 2:
            raise ValueError(f"need at least 2 feature rows, got {self.n}")
        return FeatureStats.from_moments(self.mean, self.scatter / (self.n - 1), self.n)

    def save(self, path: str | Path) -> None:
        """Write to ``.npz`` (plain arrays, read back without pickle): how a shard hands its part on."""
        np.savez(path, n=self.n, mean=self.mean, scatter=self.scatter)

    @classmethod
    def load(cls, path: str | Path) -> FeatureMoments:
        with np.load(path, allow_pickle=False) as data:
            return cls(int(data["n"]), data["mean"], data["scatter"])


def trace_sqrt_product(factor1: np.ndarray, factor2: np.ndarray) -> float:
    """tr (Σ₁Σ₂)^½ for Σᵢ = Fᵢ Fᵢᵀ: the eigenvalues of Σ₁Σ₂ are the squared singular values of F₁ᵀF₂."""
    return float(np.linalg.svd(factor1.T @ factor2, compute_uv=False).sum())


def frechet_distance(stats1: FeatureStats, stats2: FeatureStats) -> float:
    """FID between two feature sets' statistics; ≥ 0 up to round-off (clipped at 0)."""
    if stats1.mu.shape != stats2.mu.shape:
        raise ValueError(f"feature sizes differ: {stats1.mu.shape} vs {stats2.mu.shape}")
    diff = stats1.mu - stats2.mu
    value = (
        diff @ diff
        + np.trace(stats1.sigma)
        + np.trace(stats2.sigma)
        - 2.0 * trace_sqrt_product(stats1.factor, stats2.factor)
    )
    return max(float(value), 0.0)


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    return frechet_distance(FeatureStats.from_features(features1), FeatureStats.from_features(features2))


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with the cubic kernel: diagonal terms left out of the within-set means."""
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"unbiased MMD needs at least 2 rows per set, got {m} and {n}")
    kxx, kyy, kxy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


def kernel_inception_distance(
    features1: np.ndarray, features2: np.ndarray, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID mean and standard deviation over ``subsets`` random subsets (without replacement)."""
    x, y = np.asarray(features1), np.asarray(features2)
    size = min(subset_size, len(x), len(y))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):  # each subset drawn, then widened to float64: no float64 copy of every row
        xs = x[rng.choice(len(x), size, replace=False)].astype(np.float64)
        values.append(mmd2_unbiased(xs, y[rng.choice(len(y), size, replace=False)].astype(np.float64)))
    return float(np.mean(values)), float(np.std(values))
