"""A set's measures, streamed ``chunk`` tiles at a time: no set is ever decoded whole.

Inception features are cached per chunk under a folder, keyed by content, so a rerun only pays for the chunks
it has not seen; FID statistics stream over every tile, and the measures that need feature rows keep a seeded
draw of at most ``cap`` of them, so memory stops growing with the cohort.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnagan.evaluate import artifacts, fid, probes
from rnagan.evaluate.features import RESIZE_MODE, InceptionFeatures
from rnagan.slides.tilesets import TileSet


class FeatureCache:
    """Inception features by chunk, keyed by a digest of (weights, resize, tile identities): reruns decode
    and extract nothing they did before, and no set is ever decoded whole."""

    def __init__(self, folder: Path, extractor: InceptionFeatures, chunk: int) -> None:
        self.folder = folder
        self.extractor = extractor
        self.chunk = chunk

    def chunks(self, tiles: TileSet) -> Iterator[np.ndarray]:
        for positions in tiles.spans(self.chunk):
            identity = [self.extractor.weights_sha1, RESIZE_MODE, *tiles.identities(positions)]
            digest = hashlib.sha256("\n".join(identity).encode()).hexdigest()
            path = self.folder / f"{digest[:24]}.npy"
            if path.is_file():
                yield np.load(path)
                continue
            features = self.extractor.extract(tiles[positions])
            self.folder.mkdir(parents=True, exist_ok=True)
            np.save(path, features)
            yield features

    def __call__(self, tiles: TileSet) -> np.ndarray:
        return np.concatenate(list(self.chunks(tiles)))


@dataclass
class PixelMeasures:
    """What evaluation reads from pixels rather than features, gathered in one streamed pass."""

    colour: np.ndarray  # (N, 6) per-channel mean and sd (:func:`probes.colour_features`)
    checkerboard: float  # the set score of :mod:`artifacts`

    @classmethod
    def of(cls, tiles: TileSet, periods: Sequence[int], chunk: int) -> PixelMeasures:
        colour, ratios = [], []
        for _, batch in tiles.chunks(chunk):
            colour.append(probes.colour_features(batch))
            ratios.append(artifacts.peak_ratios(batch, periods))
        return cls(np.concatenate(colour), artifacts.geometric_mean(np.concatenate(ratios)))


@dataclass
class Features:
    """A set's FID statistics over every tile, streamed, and the features of a seeded draw of at most ``cap``
    tiles (positions ``kept``, in order) for the measures that need rows: memory stops growing at ``cap``."""

    stats: fid.FeatureStats
    kept: np.ndarray
    rows: np.ndarray

    @classmethod
    def of(cls, tiles: TileSet, cache: FeatureCache, cap: int | None, seed: int) -> Features:
        n = len(tiles)
        drawn = cap is not None and n > cap
        kept = np.sort(np.random.default_rng(seed).choice(n, cap, replace=False)) if drawn else np.arange(n)
        rows: list[np.ndarray] = []

        def keeping(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            start = 0
            for chunk in chunks:
                inside = kept[(kept >= start) & (kept < start + len(chunk))]
                rows.append(chunk[inside - start])
                start += len(chunk)
                yield chunk

        stats = fid.FeatureStats.from_chunks(keeping(cache.chunks(tiles)))
        return cls(stats=stats, kept=kept, rows=np.concatenate(rows))
