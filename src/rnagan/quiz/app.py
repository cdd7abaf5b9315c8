"""The FastAPI application: ``create_app(settings, pool, engine)`` wires the pages, tiles and middleware.

Player and rater pages are ``async`` handlers that call the database directly: each call is a short
indexed query, SQLite serialises writers anyway, and on a small machine handing every request to a
thread costs more than it saves. Admin pages, which compute statistics, stay in the thread pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from rnagan import html
from rnagan.quiz.db import Refusal
from rnagan.quiz.security import BodyLimit, SecurityHeaders, csrf_token
from rnagan.quiz.tiles import TilePool

TEMPLATES = Jinja2Templates(env=html.environment())  # the package's one environment: autoescape on
QUIZ_TEMPLATES = html.TEMPLATE_DIR / "quiz"
MODES = ("quiz", "rate", "both")


@dataclass
class QuizSettings:
    """Everything a running study needs besides its tiles and database."""

    secret_key: str
    admin_token: str
    mode: str = "both"
    rounds: int = 20
    seed: int = 0
    rate_ids: list[str] = field(default_factory=list)  # the rating set; every rater rates all of it
    max_body: int = 16 * 1024
    max_comment: int = 2000
    max_refusals: int = 50  # refused requests a session may make before it is locked
    max_plays: int = 5  # quiz sessions one browser session may start
    secure_cookies: bool = False  # set behind HTTPS


def create_app(settings: QuizSettings, pool: TilePool, engine: Engine) -> ASGIApp:
    """The whole study as one ASGI app; tiles are answered before any session or routing work."""
    from rnagan.quiz import routes_admin, routes_quiz, routes_rate

    app = FastAPI(title="rnagan reader study", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings, app.state.pool, app.state.engine = settings, pool, engine
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
    app.add_api_route("/", _index, methods=["GET"], response_class=HTMLResponse)
    app.add_api_route("/healthz", _health, methods=["GET"], response_class=PlainTextResponse)
    app.add_api_route("/static/keys.js", _keys_js, methods=["GET"])
    return SecurityHeaders(BodyLimit(TileServer(app, pool), settings.max_body))


class TileServer:
    """``GET /tile/{opaque id}``: pre-encoded bytes from memory with the same headers for every tile.

    Answered in front of the session and routing layers, so no cookie or header can vary with the tile,
    and the work per tile is one dictionary lookup whatever its source.
    """

    PREFIX = "/tile/"

    def __init__(self, app: ASGIApp, pool: TilePool) -> None:
        self.app = app
        self.pool = pool
        self.headers = [
            (b"content-type", pool.content_type.encode()),
            (b"cache-control", b"no-store"),
            (b"content-length", str(len(next(iter(pool.tiles.values())).data)).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.PREFIX):
            await self.app(scope, receive, send)
            return
        tile = self.pool.tiles.get(scope["path"][len(self.PREFIX) :]) if scope["method"] == "GET" else None
        if tile is None:
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        await send({"type": "http.response.body", "body": tile.data})


def render(request: Request, name: str, status_code: int = 200, **context: object) -> HTMLResponse:
    context.setdefault("csrf", csrf_token(request))
    return TEMPLATES.TemplateResponse(request, f"quiz/{name}", context, status_code=status_code)


def refuse(request: Request, db: Session, reason: str, status_code: int, back: str = "/") -> HTMLResponse:
    """Count the refused request (in the caller's transaction) and say so; nothing of it is stored as an answer."""
    db.add(Refusal(reason=reason, route=request.url.path[:64]))
    return render(request, "message.html", status_code, title="Not accepted", reason=reason, back=back)


async def _index(request: Request) -> HTMLResponse:
    return render(request, "index.html", mode=request.app.state.settings.mode)


async def _health() -> str:
    return "ok"


async def _keys_js() -> Response:
    script = (QUIZ_TEMPLATES / "keys.js").read_bytes()
    return Response(script, media_type="text/javascript", headers={"cache-control": "max-age=3600"})
