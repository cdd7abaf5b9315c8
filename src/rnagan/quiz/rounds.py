"""The one rule of both modes: an answer counts only for the tile the session is being shown, once.

Each page carries a server-issued nonce for its round; accepting an answer moves the session to the next
round with a new nonce in one compare-and-swap, so a replay, a second tab or a double click cannot count twice.
"""

from __future__ import annotations

import secrets

from sqlalchemy import update
from sqlalchemy.orm import Session

from rnagan.quiz.db import Player, Rater

# Refusal reason → HTTP status of the page that says so.
STATUS = {"malformed": 400, "locked": 429, "finished": 409, "duplicate": 409, "bad_nonce": 409, "wrong_tile": 409}


def problem(row: Player | Rater, tile: str | None, nonce: str | None, max_refusals: int) -> str | None:
    """Why this answer cannot be accepted, or None. A replayed request reads as a duplicate."""
    tiles = row.tiles
    if not tile or not nonce or len(tile) > 64 or len(nonce) > 64:
        return "malformed"
    if row.refused >= max_refusals:
        return "locked"
    if tile in tiles[: row.position]:
        return "duplicate"
    if row.position >= len(tiles):
        return "finished"
    if not secrets.compare_digest(nonce, row.nonce):
        return "bad_nonce"
    if tile != tiles[row.position]:
        return "wrong_tile"
    return None


def advance(db: Session, row: Player | Rater, nonce: str, **values: object) -> bool:
    """Move to the next round if it is still the round we read; False when another request got there first."""
    model = type(row)
    moved = db.execute(
        update(model)
        .where(model.id == row.id, model.position == row.position, model.nonce == nonce)
        .values(position=model.position + 1, nonce=secrets.token_urlsafe(16), **values)
        .execution_options(synchronize_session=False)
    )
    return moved.rowcount == 1
