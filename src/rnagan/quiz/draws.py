"""What each player and rater is shown: balanced quiz plays, and a rater's own order of the rating set.

A player's tiles are fixed on the server when the player is first seen: one seeded order of the quiz pool,
of which play k shows the k-th slice. No play repeats a tile the player was already told the truth of,
and starting over cannot draw a fresh set.
"""

from __future__ import annotations

import random
from collections import defaultdict

from rnagan.quiz.tiles import TilePool


def plays_available(pool: TilePool, quiz_ids: list[str], rounds: int) -> int:
    """How many plays one player can have before a tile would repeat."""
    real = sum(pool.tiles[t].ref.source == "real" for t in quiz_ids)
    return min(real // (rounds // 2), (len(quiz_ids) - real) // (rounds - rounds // 2))


def play_sequence(pool: TilePool, quiz_ids: list[str], rounds: int, player: random.Random, play: int) -> list[str]:
    """Play ``play`` (from 0) of the player whose generator is ``player``: half real, half synthetic, shuffled."""
    real, synthetic = _orders(pool, quiz_ids, player)
    n_real, n_synthetic = rounds // 2, rounds - rounds // 2
    sequence = real[play * n_real : (play + 1) * n_real] + synthetic[play * n_synthetic : (play + 1) * n_synthetic]
    random.Random(player.random() + play).shuffle(sequence)
    return sequence


def _orders(pool: TilePool, quiz_ids: list[str], rng: random.Random) -> tuple[list[str], list[str]]:
    """The player's order of the real tiles, and of the synthetic ones taking one generator after another."""
    by_generator: dict[str, list[str]] = defaultdict(list)
    real = []
    for tile_id in quiz_ids:
        ref = pool.tiles[tile_id].ref
        (real if ref.source == "real" else by_generator[ref.generator]).append(tile_id)
    real = rng.sample(real, len(real))
    queues = [rng.sample(ids, len(ids)) for _, ids in sorted(by_generator.items())]
    rng.shuffle(queues)
    synthetic: list[str] = []
    while any(queues):
        for queue in queues:
            if queue:
                synthetic.append(queue.pop())
    return real, synthetic


def rating_order(rate_ids: list[str], rng: random.Random) -> list[str]:
    """Every rater rates the same set (so raters can be compared and agreement measured), each in their own order."""
    return rng.sample(rate_ids, len(rate_ids))


def session_rng(seed: int, kind: str, number: int | str) -> random.Random:
    """The generator for one player or rater: reproducible from ``--seed`` and the player's or row's id alone."""
    return random.Random(f"{seed}:{kind}:{number}")
