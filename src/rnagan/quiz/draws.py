"""What each player and rater is shown: a balanced quiz stream, and a rater's own order of the rating set."""

from __future__ import annotations

import random
from collections import defaultdict

from rnagan.quiz.tiles import TilePool


def quiz_sequence(pool: TilePool, rounds: int, rng: random.Random) -> list[str]:
    """Half real, half synthetic (the synthetic half spread evenly over generators), in random order."""
    n_real = rounds // 2
    real = rng.sample(pool.ids("real"), min(n_real, len(pool.ids("real"))))
    synthetic = _spread(pool, rounds - len(real), rng)
    sequence = real + synthetic
    rng.shuffle(sequence)
    return sequence


def _spread(pool: TilePool, n: int, rng: random.Random) -> list[str]:
    """``n`` synthetic tiles, taking one per generator in turn so no generator dominates a session."""
    by_generator: dict[str, list[str]] = defaultdict(list)
    for tile in pool.tiles.values():
        if tile.ref.source == "synthetic":
            by_generator[tile.ref.generator].append(tile.id)
    queues = [rng.sample(ids, len(ids)) for _, ids in sorted(by_generator.items())]
    rng.shuffle(queues)
    chosen: list[str] = []
    while len(chosen) < n and any(queues):
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop())
    return chosen


def rating_order(rate_ids: list[str], rng: random.Random) -> list[str]:
    """Every rater rates the same set (so raters can be compared and agreement measured), each in their own order."""
    return rng.sample(rate_ids, len(rate_ids))


def session_rng(seed: int, kind: str, number: int) -> random.Random:
    """The generator for one player or rater: reproducible from ``--seed`` and the row number alone."""
    return random.Random(f"{seed}:{kind}:{number}")
