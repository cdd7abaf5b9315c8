"""Both databases get the same tables from the same models; an older database is refused, not half-used."""

from __future__ import annotations

from pathlib import Path

import pytest
from postgres import with_database
from sqlalchemy import inspect, text

from rnagan.errors import InputFileError
from rnagan.quiz.db import init_db, make_engine


def _columns(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    found = inspect(engine)
    tables = {name: sorted(c["name"] for c in found.get_columns(name)) for name in found.get_table_names()}
    engine.dispose()
    return tables


def test_sqlite_and_postgresql_get_the_same_tables(sqlite_template, postgres_template) -> None:
    sqlite = _columns(f"sqlite:///{sqlite_template[2]}")
    postgresql = _columns(with_database(postgres_template[2], "quiz_template"))
    assert sqlite == postgresql and {"players", "answers", "ratings", "tiles"} <= set(sqlite)


def test_a_plain_postgresql_url_uses_the_extras_driver() -> None:
    engine = make_engine("postgresql://user@127.0.0.1:1/study")
    assert engine.dialect.driver == "psycopg"


def test_a_database_of_an_older_version_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE players (id INTEGER PRIMARY KEY, token VARCHAR(64))"))
    with pytest.raises(InputFileError, match=r"players lacks .*participant"):
        init_db(engine)
