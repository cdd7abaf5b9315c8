"""The FastAPI application: ``create_app(settings, pool, engine)`` assembles routers and middleware.

Handlers that touch the database are plain ``def`` functions (FastAPI runs them in its thread pool), so a
slow query on a network database never stalls the event loop; see ``deps`` for what they may ask for.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp

from rnagan.quiz import routes_admin, routes_quiz, routes_rate, routes_site
from rnagan.quiz.deps import Study
from rnagan.quiz.security import BodyLimit, SecurityHeaders
from rnagan.quiz.settings import QuizSettings
from rnagan.quiz.tile_server import TileServer
from rnagan.quiz.tiles import TilePool


def create_app(settings: QuizSettings, pool: TilePool, engine: Engine) -> ASGIApp:
    """The whole study as one ASGI app; tiles are answered before any session or routing work."""
    app = FastAPI(title="rnagan reader study", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.study = Study(settings, pool, engine)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="rnagan_quiz",
        max_age=30 * 24 * 3600,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    if settings.mode in ("quiz", "both"):
        app.include_router(routes_quiz.router)
    if settings.mode in ("rate", "both"):
        app.include_router(routes_rate.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_site.router)
    return SecurityHeaders(BodyLimit(TileServer(app, pool), settings.max_body))
