"""Can anything a browser receives, besides the pixels, tell real from synthetic? A classifier says.

Each tile becomes a feature row — byte length, the headers, features of the opaque id and its rank among
all ids, the median response time of its fetches — and a random forest is cross-validated on them, folds
grouped by tile so an id seen in training is never scored, and each fold holds as many real tiles as
synthetic ones. At chance, the exact interval of its accuracy contains 0.5. Timing is also measured on its
own: the difference of the median response time of real and synthetic tiles, with its interval.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GroupKFold, cross_val_predict

from rnagan.quiz.stats import Proportion, proportion

FEATURES = (
    "bytes",
    "status",
    "headers",
    "header_bytes",
    "header_crc",
    "id_length",
    "id_mean_ord",
    "id_digits",
    "id_upper",
    "id_symbols",
    "id_first",
    "id_last",
    "id_rank",
    "seconds",
)


@dataclass(frozen=True)
class Fetch:
    tile_id: str
    status: int
    headers: Mapping[str, str]
    body_length: int
    seconds: float


def fetch_all(
    get: Callable[[str], tuple[int, Mapping[str, str], bytes]], ids: list[str], repeats: int, seed: int = 0
) -> list[Fetch]:
    """Fetch every tile ``repeats`` times, each round in a fresh random order so that drift in the server's
    speed (warm-up, garbage collection) cannot line up with the source; ``get(path)`` → (status, headers, body)."""
    rng = random.Random(seed)
    fetches = []
    for _ in range(repeats):
        for tile_id in rng.sample(ids, len(ids)):
            start = time.perf_counter()
            status, headers, body = get(f"/tile/{tile_id}")
            fetches.append(Fetch(tile_id, status, headers, len(body), time.perf_counter() - start))
    return fetches


def detrend(fetches: list[Fetch], window: int = 21) -> list[Fetch]:
    """Each fetch's time relative to the median of the fetches around it, times the overall median.

    On a shared machine the server's speed drifts with other work; fetches close in time share that drift
    whatever their source, and a classifier would otherwise learn the drift's chance alignment with the labels.
    A difference that belongs to the tile survives: it is there in every window.
    """
    seconds = np.array([f.seconds for f in fetches])
    half = window // 2
    local = np.array([np.median(seconds[max(0, i - half) : i + half + 1]) for i in range(len(seconds))])
    scale = float(np.median(seconds))
    return [replace(f, seconds=float(s / m * scale)) for f, s, m in zip(fetches, seconds, local, strict=True)]


def per_tile(fetches: list[Fetch], detrended: bool = True) -> list[Fetch]:
    """One row per tile, timed by its median fetch: repeated fetches of a tile are not independent samples."""
    by_tile: dict[str, list[Fetch]] = {}
    for fetch in detrend(fetches) if detrended else fetches:
        by_tile.setdefault(fetch.tile_id, []).append(fetch)
    return [replace(group[0], seconds=float(np.median([f.seconds for f in group]))) for group in by_tile.values()]


def feature_rows(fetches: list[Fetch]) -> list[list[float]]:
    """One row per fetch: its own features and the rank of its id in sorted order (ids handed out in sequence)."""
    rank = {tile_id: i for i, tile_id in enumerate(sorted({f.tile_id for f in fetches}))}
    return [[*features(f)[:-1], rank[f.tile_id], f.seconds] for f in fetches]


def features(fetch: Fetch) -> list[float]:
    """Everything observable of one fetch except pixel content; ``date`` is left out (the clock, not the tile)."""
    block = "\n".join(f"{k.lower()}: {v}" for k, v in sorted(fetch.headers.items()) if k.lower() != "date")
    ident = fetch.tile_id
    return [
        fetch.body_length,
        fetch.status,
        len(fetch.headers),
        len(block),
        zlib.crc32(block.encode()) % 10_007,
        len(ident),
        float(np.mean([ord(c) for c in ident])),
        sum(c.isdigit() for c in ident),
        sum(c.isupper() for c in ident),
        sum(c in "-_" for c in ident),
        ord(ident[0]),
        ord(ident[-1]),
        fetch.seconds,
    ]


@dataclass(frozen=True)
class Difference:
    """Median response time of real minus synthetic tiles, in seconds, with its 95 % bootstrap interval."""

    seconds: float
    ci_low: float
    ci_high: float
    n_real: int
    n_synthetic: int


def latency_difference(tiles: list[Fetch], synthetic: list[bool], resamples: int = 4000, seed: int = 0) -> Difference:
    """The timing side channel measured directly: one time per tile, real against synthetic.

    Medians, not means: one stall of a shared machine moves a mean (and a t interval) by more than any
    difference between two dictionary lookups would.
    """
    is_synthetic = np.asarray(synthetic)
    seconds = np.array([f.seconds for f in tiles])
    real_s, synthetic_s = seconds[~is_synthetic], seconds[is_synthetic]
    rng = np.random.default_rng(seed)
    boot = np.median(rng.choice(real_s, (resamples, len(real_s))), axis=1) - np.median(
        rng.choice(synthetic_s, (resamples, len(synthetic_s))), axis=1
    )
    low, high = np.percentile(boot, [2.5, 97.5])
    estimate = float(np.median(real_s) - np.median(synthetic_s))
    return Difference(estimate, float(low), float(high), len(real_s), len(synthetic_s))


def classify(rows: list[list[float]], labels: list[int], groups: list[int], seed: int = 0) -> Proportion:
    """Out-of-fold accuracy of a random forest (5 folds by ``groups``), with its exact interval.

    Give each (real, synthetic) pair of tiles one group: every fold is then exactly balanced. Otherwise a
    classifier that learns nothing predicts each training fold's majority — the test fold's minority —
    and scores below chance.
    """
    x, y = np.asarray(rows, dtype=float), np.asarray(labels)
    model = RandomForestClassifier(n_estimators=50, random_state=seed, n_jobs=1)
    predicted = cross_val_predict(model, x, y, groups=groups, cv=GroupKFold(n_splits=5))
    return proportion(int((predicted == y).sum()), len(y))
