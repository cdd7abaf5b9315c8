"""Memorisation: is any generated tile a near-copy of a real training tile?

Synthetic tiles are advertised as shareable in place of patients' tissue, so for each generated
tile we find its nearest real training tile in Inception feature space (cosine distance) and
compare the distribution of those distances with the same distances for held-out real tiles
(real test → real train). A generator that generalises sits in the same range as unseen real
tissue; a tile far below the real range (under its ``quantile``) is flagged as a likely copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _normalise(features: np.ndarray) -> np.ndarray:
    feats = np.asarray(features, dtype=np.float64)
    return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)


def nearest_neighbours(
    queries: np.ndarray, references: np.ndarray, *, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distance to, and index of, the nearest reference row for every query row."""
    q, r = _normalise(queries), _normalise(references)
    distances = np.empty(len(q))
    indices = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), chunk):
        similarity = q[start : start + chunk] @ r.T
        best = similarity.argmax(axis=1)
        indices[start : start + chunk] = best
        distances[start : start + chunk] = 1.0 - similarity[np.arange(len(best)), best]
    return np.clip(distances, 0.0, 2.0), indices


@dataclass(frozen=True)
class MemorisationResult:
    """Per generated tile: distance to and index of its nearest training tile; flags and summary."""

    distances: np.ndarray
    nearest: np.ndarray
    reference_distances: np.ndarray
    threshold: float
    flagged: np.ndarray

    def summary(self, quantile: float) -> dict[str, float | int]:
        return {
            "n_generated": len(self.distances),
            "n_reference": len(self.reference_distances),
            "median_distance_generated": float(np.median(self.distances)),
            "median_distance_real_test": float(np.median(self.reference_distances)),
            "threshold": self.threshold,
            "threshold_quantile": quantile,
            "n_flagged": int(self.flagged.sum()),
            "fraction_flagged": float(self.flagged.mean()),
            "fraction_expected_by_chance": quantile,
        }

    def closest(self, k: int) -> list[tuple[int, int, float]]:
        """The ``k`` generated tiles closest to a training tile: (generated index, train index, distance)."""
        order = np.argsort(self.distances)[:k]
        return [(int(i), int(self.nearest[i]), float(self.distances[i])) for i in order]


def memorisation_check(
    generated: np.ndarray, train: np.ndarray, test: np.ndarray, *, quantile: float = 0.01
) -> MemorisationResult:
    """Flag generated tiles nearer to a training tile than ``quantile`` of real test tiles are."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    distances, nearest = nearest_neighbours(generated, train)
    reference, _ = nearest_neighbours(test, train)
    threshold = float(np.quantile(reference, quantile))
    return MemorisationResult(
        distances=distances,
        nearest=nearest,
        reference_distances=reference,
        threshold=threshold,
        flagged=distances < threshold,
    )
