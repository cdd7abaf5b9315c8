"""What handlers are given: writes committed before the response leaves, no database call on the event loop."""

from __future__ import annotations

import inspect
import typing

import anyio
import httpx
import pytest
from fastapi.routing import APIRouter
from fastapi.testclient import TestClient
from quiz_helpers import form_fields
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnagan.quiz import routes_admin, routes_quiz, routes_rate, routes_site
from rnagan.quiz.app import create_app
from rnagan.quiz.db import Player, Refusal
from rnagan.quiz.deps import EngineDep, SessionDep


def _rows_when_sent(app: ASGIApp, engine, seen: list[tuple[str, int, int]]) -> ASGIApp:
    """``app``, noting (request, players, refusals) as stored when each response starts, as another reader sees them."""

    async def spy(scope: Scope, receive: Receive, send: Send) -> None:
        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                with Session(engine) as db:
                    counts = [db.scalar(select(func.count()).select_from(model)) for model in (Player, Refusal)]
                seen.append((f"{scope['method']} {scope['path']}", *counts))
            await send(message)

        await app(scope, receive, noting)

    return spy


def test_a_write_is_committed_before_its_response_is_sent(study) -> None:
    """A browser that follows the redirect at once must find the write it follows, and a refusal is counted."""
    seen: list[tuple[str, int, int]] = []
    with TestClient(_rows_when_sent(create_app(*study), study[2], seen), base_url="http://127.0.0.1") as client:
        csrf = form_fields(client.get("/quiz").text)["csrf"]
        assert client.post("/quiz/start", data={"csrf": "forged"}).status_code == 403
        assert client.post("/quiz/start", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert seen == [("GET /quiz", 0, 0), ("POST /quiz/start", 0, 1), ("POST /quiz/start", 1, 1)]


def test_concurrent_writes_finish_with_one_worker_thread(study) -> None:
    """The write lock is taken in the handler's own thread, so its holder never waits for another one."""
    statuses: list[int] = []

    async def post(client: httpx.AsyncClient) -> None:
        statuses.append((await client.post("/quiz/start", data={"csrf": "forged"})).status_code)

    async def main() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1  # this event loop's pool only
        transport = httpx.ASGITransport(app=create_app(*study))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            with anyio.fail_after(10):
                async with anyio.create_task_group() as group:
                    for _ in range(4):
                        group.start_soon(post, client)

    anyio.run(main)
    with Session(study[2]) as db:
        assert statuses == [403] * 4 and db.scalar(select(func.count()).select_from(Refusal)) == 4


@pytest.mark.parametrize("router", [routes_quiz.router, routes_rate.router, routes_admin.router, routes_site.router])
def test_handlers_that_reach_the_database_are_plain_functions(router: APIRouter) -> None:
    """FastAPI runs plain functions in its thread pool; a coroutine would block the event loop on every query."""
    database = (EngineDep, SessionDep)
    for route in router.routes:
        hints = typing.get_type_hints(route.endpoint, include_extras=True).values()
        if any(hint in database for hint in hints):
            assert not inspect.iscoroutinefunction(route.endpoint), route.path
