"""Fixtures of the quiz tests: one small study workspace per session, a fresh database and app per test.

``study`` runs each test on SQLite and on a real PostgreSQL server (see ``postgres``); a module that needs
one database only overrides the ``database`` fixture.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from postgres import admin_url, with_database
from quiz_helpers import ADMIN, make_workspace
from sqlalchemy import text

from rnagan.quiz.app import create_app
from rnagan.quiz.db import make_engine
from rnagan.quiz.serve import StudyOptions, open_study
from rnagan.workspace import Workspace

DATABASES = ("sqlite", "postgresql")
NO_SERVER = "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql to run these"
_numbers = itertools.count()


REPORT = pytest.StashKey[list[str]]()


@pytest.fixture
def report(request: pytest.FixtureRequest):
    """``report(line)``: shown in pytest's summary even when output is captured (CI keeps the figures)."""
    return request.config.stash.setdefault(REPORT, []).append


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if lines := config.stash.get(REPORT, []):
        terminalreporter.section("quiz figures")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def study_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("quiz") / "ws")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | None]:
    with admin_url() as url:
        yield url


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest) -> str:
    return request.param


def _options(workspace: Workspace, db: str) -> StudyOptions:
    return StudyOptions(workspace=workspace.root, db=db, rounds=6, rate_per_group=2, admin_token=ADMIN, seed=1)


@pytest.fixture(scope="session")
def sqlite_template(study_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory):
    """The tile pool is built once; each test gets a copy of the database it was registered in."""
    template = tmp_path_factory.mktemp("db") / "study.sqlite"
    settings, pool, engine = open_study(_options(study_workspace, f"sqlite:///{template}"))
    engine.dispose()  # checkpoints the WAL into the file
    return settings, pool, template


@pytest.fixture(scope="session")
def postgres_template(study_workspace: Workspace, postgres_server: str | None):
    """The same study registered in a PostgreSQL database that each test's database is created from."""
    if postgres_server is None:
        pytest.skip(NO_SERVER)
    _admin(postgres_server, "DROP DATABASE IF EXISTS quiz_template", "CREATE DATABASE quiz_template")
    settings, pool, engine = open_study(_options(study_workspace, with_database(postgres_server, "quiz_template")))
    engine.dispose()  # CREATE DATABASE ... TEMPLATE needs the template without connections
    return settings, pool, postgres_server


def _admin(url: str, *statements: str) -> None:
    engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


@pytest.fixture
def study(database: str, request: pytest.FixtureRequest, tmp_path: Path):
    """(settings, pool, engine) over a fresh copy of the study database."""
    if database == "sqlite":
        settings, pool, template = request.getfixturevalue("sqlite_template")
        shutil.copy(template, tmp_path / "study.sqlite")
        engine = make_engine(f"sqlite:///{tmp_path / 'study.sqlite'}")
        yield replace(settings), pool, engine
        engine.dispose()
        return
    settings, pool, server = request.getfixturevalue("postgres_template")
    name = f"quiz_test_{next(_numbers)}"
    _admin(server, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name} TEMPLATE quiz_template")
    engine = make_engine(with_database(server, name))
    yield replace(settings), pool, engine
    engine.dispose()
    _admin(server, f"DROP DATABASE {name} WITH (FORCE)")  # a command under test may leave a connection open


@pytest.fixture
def client(study) -> Iterator[TestClient]:
    with TestClient(create_app(*study), base_url="http://127.0.0.1") as test_client:
        yield test_client
