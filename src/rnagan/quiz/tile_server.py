"""Tiles are served in front of the whole app, so nothing but the pixels can differ between two tiles."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from rnagan.quiz.tiles import TilePool


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
