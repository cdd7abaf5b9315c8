"""Request hygiene: body-size limit (413), security headers, CSRF tokens, the admin token.

Sessions themselves are Starlette's signed cookies (itsdangerous): the browser holds only opaque
tokens, every fact about a session lives in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages load nothing from elsewhere: styles are inline, the one script is served by the app itself.
HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
        b"script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, by declared length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _plain(send, 413, b"request body too large")
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, "request body too large")
            return message

        return wrapped


async def _plain(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + HEADERS})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Add the same security headers to every response (tiles included, so they stay identical)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + HEADERS
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def csrf_token(request: Request) -> str:
    """This browser session's CSRF token (made on first use); every form carries it back."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(request: Request, submitted: str | None) -> bool:
    expected = request.session.get("csrf")
    return bool(expected and submitted) and secrets.compare_digest(str(expected), str(submitted))


def admin_ok(request: Request, admin_token: str) -> bool:
    """Admin by a ``Bearer`` header, a ``?token=`` link (remembered in the signed session), or that session."""
    given = request.query_params.get("token") or request.headers.get("authorization", "").removeprefix("Bearer ")
    if given and secrets.compare_digest(given, admin_token):
        request.session["admin"] = True
        return True
    return request.session.get("admin") is True


def client_key(request: Request, secret: str) -> str:
    """A keyed hash of the client's address: enough to rate-limit it, not to recover it from the database."""
    host = request.client.host if request.client else ""
    return hmac.new(secret.encode(), host.encode(), hashlib.sha256).hexdigest()[:32]
