"""The study's database: tiles, quiz players and answers, raters and ratings, refused requests.

SQLite (WAL) by default, PostgreSQL by URL (driver: ``pip install rnagan[postgres]``); both get the same
tables from the same models. Uniqueness rules that protect the data — one answer per player and round, one
play number per player, one rating per rater and tile — are constraints here, so they hold even when two
requests race.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
import weakref
from collections.abc import Iterable, Iterator

from sqlalchemy import (
    Boolean,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from rnagan.errors import InputFileError
from rnagan.quiz.tiles import TileRef


class Base(DeclarativeBase):
    pass


class Tile(Base):
    """A tile's opaque id (kept across restarts, so answers and rating orders stay valid) and its truth."""

    __tablename__ = "tiles"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    generator: Mapped[str] = mapped_column(String(64))
    tissue: Mapped[str] = mapped_column(String(128))


class Meta(Base):
    """Settings that must survive a restart: the cookie-signing secret and the admin token."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Player(Base):
    """One quiz play: whose it is, its tile sequence, the round it is on, and the nonce of the page it was shown.

    ``participant`` is the player's random id (kept in the signed session cookie), ``address`` a keyed hash of
    the client address: the play limits are counts of these rows, not of anything the browser keeps.
    """

    __tablename__ = "players"
    __table_args__ = (UniqueConstraint("participant", "play"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    participant: Mapped[str] = mapped_column(String(64), index=True)
    play: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(64), index=True)
    sequence: Mapped[str] = mapped_column(Text)  # JSON list of tile ids
    position: Mapped[int] = mapped_column(Integer, default=0)
    nonce: Mapped[str] = mapped_column(String(64))
    correct: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float, default=time.time)

    @property
    def tiles(self) -> list[str]:
        return json.loads(self.sequence)


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("player_id", "position"), UniqueConstraint("player_id", "tile_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    player_id: Mapped[int] = mapped_column(ForeignKey("players.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    tile_id: Mapped[str] = mapped_column(ForeignKey("tiles.id"))
    answer: Mapped[str] = mapped_column(String(16))  # "real" or "synthetic"
    correct: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[float] = mapped_column(Float, default=time.time)


class Rater(Base):
    """One invite = one rater; the invite token is the rater's credential, so the link resumes on any device."""

    __tablename__ = "raters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    label: Mapped[str] = mapped_column(String(200))
    sequence: Mapped[str] = mapped_column(Text)  # JSON list of tile ids, this rater's own random order
    position: Mapped[int] = mapped_column(Integer, default=0)
    nonce: Mapped[str] = mapped_column(String(64))
    refused: Mapped[int] = mapped_column(Integer, default=0)
    joined_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float, default=time.time)

    @property
    def tiles(self) -> list[str]:
        return json.loads(self.sequence)


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("rater_id", "tile_id"), UniqueConstraint("rater_id", "position"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    tile_id: Mapped[str] = mapped_column(ForeignKey("tiles.id"))
    tissue: Mapped[str] = mapped_column(String(128))
    quality: Mapped[int] = mapped_column(Integer)
    artifacts: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float, default=time.time)


class Refusal(Base):
    """A request refused (replayed, forged, duplicate, malformed, CSRF...): counted, never stored as an answer."""

    __tablename__ = "refusals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), index=True)
    route: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float, default=time.time)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL (readers never block the writer) and a generous busy timeout."""
    if not url.startswith("sqlite"):
        # One connection per request thread (anyio's 40); plain postgresql:// means psycopg 3, the extra's driver.
        url = url.replace("postgresql://", "postgresql+psycopg://", 1).replace(
            "postgres://", "postgresql+psycopg://", 1
        )
        return create_engine(url, pool_size=40, max_overflow=0, pool_timeout=60, pool_pre_ping=True)
    # One pooled connection per request thread (anyio's 40): no connection is opened per request.
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=40, max_overflow=0, pool_timeout=60
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash; WAL keeps it consistent
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    _WRITE_LOCKS[engine] = threading.Lock()
    return engine


# SQLite allows one writer at a time, and a writer that finds the lock taken sleeps in growing steps
# (its busy handler), which turns a short queue into long stalls. Writers of this process therefore
# queue on a lock of ours, which wakes the next one at once. Other databases take concurrent writers.
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session in one transaction, committed on success, rolled back on error."""
    lock = _WRITE_LOCKS.get(engine) or contextlib.nullcontext()
    with lock, Session(engine) as session, session.begin():
        yield session


def init_db(engine: Engine) -> None:
    """Create the tables; refuse a database whose tables lack columns of these models (made by an older version)."""
    Base.metadata.create_all(engine)
    found = inspect(engine)
    for table in Base.metadata.sorted_tables:
        missing = {c.name for c in table.columns} - {c["name"] for c in found.get_columns(table.name)}
        if missing:
            where = engine.url.render_as_string(hide_password=True)
            raise InputFileError(
                f"{where}: table {table.name} lacks {', '.join(sorted(missing))} (made by an older rnagan)"
                ": export its results with `rnagan quiz results` and start a new database"
            )


def sync_tiles(engine: Engine, refs: Iterable[TileRef]) -> dict[str, str]:
    """Stable key → opaque id for every ref: ids already in the database are kept, new tiles get fresh ones."""
    refs = list(refs)
    with transaction(engine) as session:
        known = dict(session.execute(select(Tile.key, Tile.id)).all())
        for ref in refs:
            if ref.key not in known:
                known[ref.key] = secrets.token_urlsafe(16)
                session.add(
                    Tile(id=known[ref.key], key=ref.key, source=ref.source, generator=ref.generator, tissue=ref.tissue)
                )
    return {ref.key: known[ref.key] for ref in refs}


def meta_value(engine: Engine, key: str, default: str) -> str:
    """The stored value of ``key``; ``default`` is stored first if there is none (e.g. a fresh secret)."""
    with transaction(engine) as session:
        row = session.get(Meta, key)
        if row is None:
            row = Meta(key=key, value=default)
            session.add(row)
        return row.value
