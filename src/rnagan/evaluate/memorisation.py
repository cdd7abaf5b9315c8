"""Memorisation: is any generated tile a near-copy of a real training tile?

Synthetic tiles are advertised as shareable in place of patients' tissue, so for each generated
tile we find its nearest real training tile in Inception feature space (cosine distance) and
compare the distribution of those distances with the same distances for held-out real tiles
(real test → real train). A generator that generalises sits in the same range as unseen real
tissue; a tile far below the real range (under its ``quantile``) is flagged as a likely copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

QUERY_BLOCK = 1024  # query rows compared at once: memory of a comparison is this × a reference chunk


def _unit_rows(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, in float64 (a new array: the caller's rows are left as they are)."""
    feats = np.array(features, dtype=np.float64)
    feats /= np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    return feats


def nearest_neighbours(
    queries: np.ndarray, references: np.ndarray | Iterable[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distance to, and index of, the nearest reference row for every query row.

    ``references`` is one array or an iterable of row chunks (indices then count across chunks), so a
    training set of any size is searched with one chunk in memory at a time; queries are compared
    ``QUERY_BLOCK`` rows at a time, so memory does not grow with their number beyond the queries themselves.
    """
    best = np.full(len(queries), -np.inf)
    indices = np.zeros(len(queries), dtype=np.int64)
    offset = 0
    for chunk in [references] if isinstance(references, np.ndarray) else references:
        unit_chunk = _unit_rows(chunk)
        for start in range(0, len(queries), QUERY_BLOCK):
            block = slice(start, start + QUERY_BLOCK)
            similarity = _unit_rows(queries[block]) @ unit_chunk.T  # (block rows, chunk rows)
            local = similarity.argmax(axis=1)
            value = similarity[np.arange(len(local)), local]
            better = value > best[block]
            best[block] = np.where(better, value, best[block])
            indices[block] = np.where(better, local + offset, indices[block])
        offset += len(chunk)
    if offset == 0:
        raise ValueError("no reference rows to search")
    return np.clip(1.0 - best, 0.0, 2.0), indices


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
    generated: np.ndarray, train: np.ndarray | Iterable[np.ndarray], test: np.ndarray, *, quantile: float = 0.01
) -> MemorisationResult:
    """Flag generated tiles nearer to a training tile than ``quantile`` of real test tiles are.

    ``train``: the training tiles' features, as one array or streamed in chunks (read once).
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    both, nearest_both = nearest_neighbours(np.concatenate([generated, test]), train)  # one pass over train
    distances, nearest, reference = both[: len(generated)], nearest_both[: len(generated)], both[len(generated) :]
    threshold = float(np.quantile(reference, quantile))
    return MemorisationResult(
        distances=distances,
        nearest=nearest,
        reference_distances=reference,
        threshold=threshold,
        flagged=distances < threshold,
    )
