"""Can anything a browser receives, besides the pixels, tell real from synthetic? A classifier says.

Each tile becomes a feature row — byte length, the headers, features of the opaque id, the median response
time of its fetches — and a random forest is cross-validated on them, folds grouped by tile so an id seen in training is
never scored, and each fold holds as many real tiles as synthetic ones. At chance, the exact interval of
its accuracy contains 0.5.
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


def per_tile(fetches: list[Fetch]) -> list[Fetch]:
    """One row per tile, timed by its median fetch: repeated fetches of a tile are not independent samples."""
    by_tile: dict[str, list[Fetch]] = {}
    for fetch in fetches:
        by_tile.setdefault(fetch.tile_id, []).append(fetch)
    return [replace(group[0], seconds=float(np.median([f.seconds for f in group]))) for group in by_tile.values()]


def features(fetch: Fetch) -> list[float]:
    """Everything observable except pixel content; ``date`` is left out (it is the clock, not the tile)."""
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
