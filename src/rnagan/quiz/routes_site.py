"""Pages of every mode: the index, the health check and the one script the pages load."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from rnagan.quiz.deps import SettingsDep
from rnagan.quiz.pages import QUIZ_TEMPLATES, render

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, settings: SettingsDep) -> HTMLResponse:
    return render(request, "index.html", mode=settings.mode)


@router.get("/healthz", response_class=PlainTextResponse)
async def health() -> str:
    return "ok"


@router.get("/static/keys.js")
def keys_js() -> Response:
    """A plain function: it reads a file, so it runs in the thread pool."""
    script = (QUIZ_TEMPLATES / "keys.js").read_bytes()
    return Response(script, media_type="text/javascript", headers={"cache-control": "max-age=3600"})
