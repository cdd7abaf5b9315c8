"""The rating set and the quiz pool, disjoint by construction.

The quiz tells its players the truth of every tile it shows; the rating form must never be answerable from
it. So tiles are grouped first — tiles of one source image (slide or profile) and tiles with identical
bytes are one group — and whole groups are drawn for the rating set; the quiz gets only the other groups.
The split depends on the sources and the seed alone, so it is the same in every mode and after a restart.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

from rnagan.errors import InputFileError
from rnagan.quiz.tiles import TilePool


@dataclass(frozen=True)
class Split:
    rate_ids: list[str]  # every rater rates all of them
    quiz_ids: list[str]  # the only tiles a quiz ever shows


def groups(pool: TilePool) -> list[list[str]]:
    """Tile ids in groups that must stay on one side: same source image, or the same served bytes."""
    parent = {tile_id: tile_id for tile_id in pool.tiles}

    def root(tile_id: str) -> str:
        while parent[tile_id] != tile_id:
            parent[tile_id] = parent[parent[tile_id]]
            tile_id = parent[tile_id]
        return tile_id

    first: dict[object, str] = {}
    for tile in pool.tiles.values():
        for link in (("image", tile.ref.image), ("bytes", hash(tile.data))):
            if link in first:
                parent[root(tile.id)] = root(first[link])
            else:
                first[link] = tile.id
    members: dict[str, list[str]] = defaultdict(list)
    for tile_id in sorted(pool.tiles, key=lambda t: pool.tiles[t].ref.key):  # keys: the same in every database
        members[root(tile_id)].append(tile_id)
    return sorted(members.values(), key=lambda group: pool.tiles[group[0]].ref.key)


def split(pool: TilePool, rate_per_group: int, seed: int, quiz_needed: bool = True) -> Split:
    """Whole groups, in a seeded order, go to the rating set until each (generator, tissue) has its quota."""
    cells: dict[str, tuple[str, str]] = {t.id: (t.ref.generator, t.ref.tissue) for t in pool.tiles.values()}
    wanted = {cell: rate_per_group for cell in set(cells.values())}
    rng = random.Random(f"{seed}:split")
    reserved: list[str] = []
    quiz: list[str] = []
    grouped = groups(pool)
    for group in rng.sample(grouped, len(grouped)):
        if any(wanted[cells[t]] > 0 for t in group):
            reserved += group
            for tile_id in group:
                wanted[cells[tile_id]] -= 1
        else:
            quiz += group
    by_cell: dict[tuple[str, str], list[str]] = defaultdict(list)
    for tile_id in reserved:
        by_cell[cells[tile_id]].append(tile_id)
    # Reserved tiles beyond a cell's quota are shown to no one: their group is on the rating side.
    rate = [t for cell in sorted(by_cell) for t in rng.sample(by_cell[cell], min(rate_per_group, len(by_cell[cell])))]
    sources = {pool.tiles[t].ref.source for t in quiz}
    if quiz_needed and sources != {"real", "synthetic"}:
        raise InputFileError(
            "after the rating set is reserved the quiz has no "
            f"{' and no '.join(sorted({'real', 'synthetic'} - sources))} tiles left: "
            "lower --rate-per-group or give more source images"
        )
    return Split(rate_ids=rate, quiz_ids=sorted(quiz))
