"""HTML pages: every page is rendered with the session's CSRF token, and every refusal is counted."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from rnagan import html
from rnagan.quiz.db import Refusal
from rnagan.quiz.security import csrf_token

TEMPLATES = Jinja2Templates(env=html.environment())  # the package's one environment: autoescape on
QUIZ_TEMPLATES = html.TEMPLATE_DIR / "quiz"


def render(request: Request, name: str, status_code: int = 200, **context: object) -> HTMLResponse:
    context.setdefault("csrf", csrf_token(request))
    return TEMPLATES.TemplateResponse(request, f"quiz/{name}", context, status_code=status_code)


def refuse(request: Request, db: Session, reason: str, status_code: int, back: str = "/") -> HTMLResponse:
    """Count the refused request (in the caller's transaction) and say so; nothing of it is stored as an answer."""
    db.add(Refusal(reason=reason, route=request.url.path[:64]))
    return render(request, "message.html", status_code, title="Not accepted", reason=reason, back=back)
