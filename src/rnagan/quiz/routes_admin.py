"""Admin pages behind the token: live numbers of both studies, invites, comments, the JSON summary."""

from __future__ import annotations

import json
import secrets

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from rnagan.quiz.db import Player, Rater, transaction
from rnagan.quiz.deps import EngineDep, PoolDep, SettingsDep
from rnagan.quiz.draws import rating_order, session_rng
from rnagan.quiz.pages import refuse, render
from rnagan.quiz.results import ratings_frame, summary
from rnagan.quiz.security import admin_ok, csrf_ok
from rnagan.quiz.settings import QuizSettings

router = APIRouter()
MAX_INVITES_AT_ONCE = 50


def _denied(request: Request, settings: QuizSettings, engine: Engine) -> Response | None:
    """The refusal page for a request without the admin token, recorded in a transaction of its own."""
    if admin_ok(request, settings.admin_token):
        return None
    with transaction(engine) as db:
        return refuse(request, db, "admin_token", 401)


@router.get("/admin", response_class=HTMLResponse)
def admin(request: Request, settings: SettingsDep, pool: PoolDep, engine: EngineDep) -> Response:
    if (denied := _denied(request, settings, engine)) is not None:
        return denied
    if "token" in request.query_params:  # keep the token out of the address bar and history
        return RedirectResponse("/admin", status_code=303)
    with Session(engine) as db:
        raters = db.scalars(select(Rater).order_by(Rater.id)).all()
        players = db.scalar(select(func.count()).select_from(Player))
    comments = ratings_frame(engine).query("comment != ''")[["rater", "tile_id", "comment"]]
    base = str(request.base_url).rstrip("/")
    return render(
        request,
        "admin.html",
        summary=summary(engine),
        players=players,
        raters=raters,
        comments=comments.to_dict("records"),
        base=base,
        pool=pool,
        rate_total=len(settings.rate_ids),
    )


@router.get("/admin/summary.json")
def admin_summary(request: Request, settings: SettingsDep, engine: EngineDep) -> Response:
    if (denied := _denied(request, settings, engine)) is not None:
        return denied
    return JSONResponse(json.loads(json.dumps(summary(engine), default=str)))


@router.post("/admin/invites")
def create_invites(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    csrf: str | None = Form(None),
    label: str = Form(""),
    count: int = Form(1),
) -> Response:
    """One invite per rater: a random link that is that rater's credential and fixes their random order."""
    if (denied := _denied(request, settings, engine)) is not None:
        return denied
    with transaction(engine) as db:
        if not csrf_ok(request, csrf):
            return refuse(request, db, "csrf", 403, back="/admin")
        for i in range(max(1, min(count, MAX_INVITES_AT_ONCE))):
            name = label.strip()[:200] or "rater"
            rater = Rater(
                token=secrets.token_urlsafe(24),
                label=f"{name} {i + 1}" if count > 1 else name,
                sequence="[]",
                nonce=secrets.token_urlsafe(16),
            )
            db.add(rater)
            db.flush()
            rater.sequence = json.dumps(rating_order(settings.rate_ids, session_rng(settings.seed, "rater", rater.id)))
    return RedirectResponse("/admin", status_code=303)
