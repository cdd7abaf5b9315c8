"""Quiz pages: start a session, answer real or synthetic tile by tile, see the score and the tiles revealed."""

from __future__ import annotations

import json
import secrets

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from rnagan.quiz.db import Answer, Player, Tile, transaction
from rnagan.quiz.deps import EngineDep, PoolDep, SessionDep, SettingsDep
from rnagan.quiz.draws import quiz_sequence, session_rng
from rnagan.quiz.pages import refuse, render
from rnagan.quiz.rounds import STATUS, advance, problem
from rnagan.quiz.security import csrf_ok
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
    with transaction(engine) as db:
        if not csrf_ok(request, csrf):
            return refuse(request, db, "csrf", 403, back="/quiz")
        if request.session.get("plays", 0) >= settings.max_plays:
            return refuse(request, db, "too_many_plays", 429, back="/")
        player = Player(token=secrets.token_urlsafe(24), sequence="[]", nonce=secrets.token_urlsafe(16))
        db.add(player)
        db.flush()
        rng = session_rng(settings.seed, "player", player.id)
        player.sequence = json.dumps(quiz_sequence(pool, settings.rounds, rng))
        request.session["player"] = player.token
        request.session["plays"] = request.session.get("plays", 0) + 1
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
    player = _player(request, db)
    if player is None:
        return RedirectResponse("/quiz", status_code=303)
    if player.position < len(player.tiles):
        return RedirectResponse("/quiz/play", status_code=303)
    rows = db.execute(
        select(Answer.tile_id, Answer.answer, Answer.correct, Tile.source)
        .join(Tile, Tile.id == Answer.tile_id)
        .where(Answer.player_id == player.id)
        .order_by(Answer.position)
    ).all()
    k, n = sum(r.correct for r in rows), len(rows)
    can_replay = request.session.get("plays", 0) < settings.max_plays
    return render(request, "quiz_done.html", rows=rows, result=proportion(k, n), can_replay=can_replay)
