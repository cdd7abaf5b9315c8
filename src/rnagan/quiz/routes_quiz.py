"""Quiz pages: start a play, answer real or synthetic tile by tile, see the score and each round's truth.

The quiz only ever shows tiles of the quiz pool (``split``), so nothing it reveals is a rating tile.
"""

from __future__ import annotations

import json
import secrets
import time

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rnagan.quiz.db import Answer, Player, Tile, transaction
from rnagan.quiz.deps import EngineDep, PoolDep, SessionDep, SettingsDep
from rnagan.quiz.draws import play_sequence, session_rng
from rnagan.quiz.pages import refuse, render
from rnagan.quiz.rounds import STATUS, advance, problem
from rnagan.quiz.security import client_key, csrf_ok
from rnagan.quiz.stats import proportion

router = APIRouter()
CHOICES = ("real", "synthetic")


def _player(request: Request, db: Session) -> Player | None:
    token = request.session.get("player")
    return db.scalars(select(Player).where(Player.token == token)).first() if token else None


@router.get("/quiz", response_class=HTMLResponse)
def start_page(request: Request, settings: SettingsDep, db: SessionDep) -> HTMLResponse:
    player = _player(request, db)
    active = player is not None and player.position < len(player.tiles)
    return render(request, "quiz_start.html", active=active, rounds=settings.rounds)


@router.post("/quiz/start")
def start(
    request: Request, settings: SettingsDep, pool: PoolDep, engine: EngineDep, csrf: str | None = Form(None)
) -> Response:
    """The player's next play, drawn from their own fixed order; a play in progress is continued, never redrawn."""
    with transaction(engine) as db:
        if not csrf_ok(request, csrf):
            return refuse(request, db, "csrf", 403, back="/quiz")
        current = _player(request, db)
        if current is not None and current.position < len(current.tiles):
            return RedirectResponse("/quiz/play", status_code=303)
        participant = request.session.get("participant") or secrets.token_urlsafe(16)
        plays = db.scalar(select(func.count()).where(Player.participant == participant))
        if plays >= settings.max_plays:
            return refuse(request, db, "too_many_plays", 429, back="/")
        address = client_key(request, settings.secret_key)
        since = time.time() - 3600
        recent = db.scalar(select(func.count()).where(Player.address == address, Player.created_at > since))
        if recent >= settings.starts_per_address:
            return refuse(request, db, "rate_limited", 429, back="/")
        rng = session_rng(settings.seed, "player", participant)
        player = Player(
            token=secrets.token_urlsafe(24),
            participant=participant,
            play=plays,
            address=address,
            sequence=json.dumps(play_sequence(pool, settings.quiz_ids, settings.rounds, rng, plays)),
            nonce=secrets.token_urlsafe(16),
        )
        try:
            with db.begin_nested():
                db.add(player)
        except IntegrityError:  # the same player's other request started this play first
            return refuse(request, db, "duplicate", 409, back="/quiz")
        request.session["participant"] = participant
        request.session["player"] = player.token
    return RedirectResponse("/quiz/play", status_code=303)


@router.get("/quiz/play", response_class=HTMLResponse)
def play(request: Request, db: SessionDep) -> Response:
    player = _player(request, db)
    if player is None:
        return RedirectResponse("/quiz", status_code=303)
    tiles = player.tiles
    if player.position >= len(tiles):
        return RedirectResponse("/quiz/done", status_code=303)
    return render(
        request,
        "quiz_play.html",
        tile=tiles[player.position],
        nonce=player.nonce,
        round=player.position + 1,
        rounds=len(tiles),
        correct=player.correct,
        answered=player.position,
    )


@router.post("/quiz/answer")
def answer(
    request: Request,
    settings: SettingsDep,
    pool: PoolDep,
    engine: EngineDep,
    csrf: str | None = Form(None),
    tile: str | None = Form(None),
    nonce: str | None = Form(None),
    choice: str | None = Form(None, alias="answer"),
) -> Response:
    """Accept the answer only for the tile this session is being shown, with that page's nonce, once."""
    with transaction(engine) as db:
        if not csrf_ok(request, csrf):
            return refuse(request, db, "csrf", 403, back="/quiz/play")
        player = _player(request, db)
        if player is None:
            return refuse(request, db, "no_session", 401, back="/quiz")
        reason = "malformed" if choice not in CHOICES else problem(player, tile, nonce, settings.max_refusals)
        if reason is None:
            correct = choice == pool.tiles[tile].ref.source
            if advance(db, player, nonce, correct=Player.correct + int(correct)):
                db.add(
                    Answer(player_id=player.id, position=player.position, tile_id=tile, answer=choice, correct=correct)
                )
                return RedirectResponse("/quiz/play", status_code=303)
            reason = "duplicate"  # another request with this nonce won the race
        player.refused += 1
        return refuse(request, db, reason, STATUS[reason], back="/quiz/play")


@router.get("/quiz/done", response_class=HTMLResponse)
def done(request: Request, settings: SettingsDep, db: SessionDep) -> Response:
    """The score and each round's truth; no tile id or image: the tiles were on screen during play."""
    player = _player(request, db)
    if player is None:
        return RedirectResponse("/quiz", status_code=303)
    if player.position < len(player.tiles):
        return RedirectResponse("/quiz/play", status_code=303)
    rows = db.execute(
        select(Answer.answer, Answer.correct, Tile.source)
        .join(Tile, Tile.id == Answer.tile_id)
        .where(Answer.player_id == player.id)
        .order_by(Answer.position)
    ).all()
    k, n = sum(r.correct for r in rows), len(rows)
    plays = db.scalar(select(func.count()).where(Player.participant == player.participant))
    return render(request, "quiz_done.html", rows=rows, result=proportion(k, n), can_replay=plays < settings.max_plays)
