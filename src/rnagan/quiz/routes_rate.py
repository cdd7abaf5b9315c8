"""Blinded rating pages: join by invite, rate each tile (tissue, quality 1–5, artifacts, comment), resume any time.

Raters are told the tiles will be used to train models and are never told that some are synthetic.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from rnagan.quiz.db import Rater, Rating, transaction
from rnagan.quiz.deps import EngineDep, PoolDep, SessionDep, SettingsDep
from rnagan.quiz.pages import refuse, render
from rnagan.quiz.rounds import STATUS, advance, problem
from rnagan.quiz.security import csrf_ok

router = APIRouter()
UNSURE = "unsure"
QUALITY = ("1", "2", "3", "4", "5")
ARTIFACTS = {"yes": True, "no": False}


def _rater(request: Request, db: Session, token: str | None = None) -> Rater | None:
    token = token or request.session.get("rater")
    return db.scalars(select(Rater).where(Rater.token == token)).first() if token else None


@router.get("/rate/join/{token}", response_class=HTMLResponse)
def join_page(request: Request, token: str, engine: EngineDep) -> HTMLResponse:
    with transaction(engine) as db:
        rater = _rater(request, db, token)
        if rater is None:
            return refuse(request, db, "bad_invite", 404)
        return render(request, "rate_join.html", token=token, total=len(rater.tiles), done=rater.position)


@router.post("/rate/join/{token}")
def join(request: Request, token: str, engine: EngineDep, csrf: str | None = Form(None)) -> Response:
    with transaction(engine) as db:
        rater = _rater(request, db, token)
        if rater is None:
            return refuse(request, db, "bad_invite", 404)
        if not csrf_ok(request, csrf):
            return refuse(request, db, "csrf", 403, back=f"/rate/join/{token}")
        rater.joined_at = rater.joined_at or time.time()
        request.session["rater"] = token
    return RedirectResponse("/rate", status_code=303)


@router.get("/rate", response_class=HTMLResponse)
def rate_page(request: Request, settings: SettingsDep, pool: PoolDep, db: SessionDep) -> Response:
    rater = _rater(request, db)
    if rater is None:
        return render(
            request,
            "message.html",
            401,
            title="Invite needed",
            back="/",
            reason="open the invite link you were given to start or resume rating",
        )
    tiles = rater.tiles
    if rater.position >= len(tiles):
        return render(request, "rate_done.html", total=len(tiles))
    return render(
        request,
        "rate_item.html",
        tile=tiles[rater.position],
        nonce=rater.nonce,
        number=rater.position + 1,
        total=len(tiles),
        tissues=pool.tissues(),
        max_comment=settings.max_comment,
    )


@router.post("/rate/answer")
def rate(
    request: Request,
    settings: SettingsDep,
    pool: PoolDep,
    engine: EngineDep,
    csrf: str | None = Form(None),
    tile: str | None = Form(None),
    nonce: str | None = Form(None),
    tissue: str | None = Form(None),
    quality: str | None = Form(None),
    artifacts: str | None = Form(None),
    comment: str = Form(""),
) -> Response:
    """One rating per rater and tile, only for the tile on the rater's screen, with that page's nonce."""
    with transaction(engine) as db:
        if not csrf_ok(request, csrf):
            return refuse(request, db, "csrf", 403, back="/rate")
        rater = _rater(request, db)
        if rater is None:
            return refuse(request, db, "no_session", 401)
        valid = tissue in [*pool.tissues(), UNSURE] and quality in QUALITY and artifacts in ARTIFACTS
        too_long = len(comment) > settings.max_comment
        reason = "malformed" if not valid or too_long else problem(rater, tile, nonce, settings.max_refusals)
        if reason is None:
            if advance(db, rater, nonce):
                db.add(
                    Rating(
                        rater_id=rater.id,
                        position=rater.position,
                        tile_id=tile,
                        tissue=tissue,
                        quality=int(quality),
                        artifacts=ARTIFACTS[artifacts],
                        comment=comment.strip(),
                    )
                )
                return RedirectResponse("/rate", status_code=303)
            reason = "duplicate"
        rater.refused += 1
        return refuse(request, db, reason, STATUS[reason], back="/rate")
