"""What a handler may ask for, by type: ``SettingsDep``, ``PoolDep``, ``EngineDep``, ``SessionDep``.

``create_app`` stores one :class:`Study` on ``app.state``; it is read here and nowhere else. Sessions are
blocking SQLAlchemy sessions, so a handler that takes one (or the engine) is a plain ``def``, which FastAPI
runs in its thread pool. ``SessionDep`` is for reading, closed before the response is sent
(``scope="function"``). Writes open ``db.transaction(engine)`` in the handler itself: its SQLite write
lock must be taken in the thread that does the work. Taken in a dependency, it would be held while the
handler waits for a worker thread, which writers waiting for that lock may all be holding: a deadlock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from rnagan.quiz.settings import QuizSettings
from rnagan.quiz.tiles import TilePool


@dataclass(frozen=True)
class Study:
    """A running study: its settings, its tile pool and its database."""

    settings: QuizSettings
    pool: TilePool
    engine: Engine


def _study(request: Request) -> Study:
    return request.app.state.study


# Coroutines, because nothing here blocks: FastAPI would hand a plain function to a thread.
async def _settings(request: Request) -> QuizSettings:
    return _study(request).settings


async def _pool(request: Request) -> TilePool:
    return _study(request).pool


async def _engine(request: Request) -> Engine:
    return _study(request).engine


def _session(request: Request) -> Iterator[Session]:
    with Session(_study(request).engine) as session:
        yield session


SettingsDep = Annotated[QuizSettings, Depends(_settings)]
PoolDep = Annotated[TilePool, Depends(_pool)]
EngineDep = Annotated[Engine, Depends(_engine)]
SessionDep = Annotated[Session, Depends(_session, scope="function")]
