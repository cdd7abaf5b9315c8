"""Fixtures of the quiz tests: one small study workspace per session, a fresh database and app per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from quiz_helpers import ADMIN, make_workspace

from rnagan.quiz.app import create_app
from rnagan.quiz.db import make_engine
from rnagan.quiz.serve import StudyOptions, open_study
from rnagan.workspace import Workspace


@pytest.fixture(scope="session")
def study_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("quiz") / "ws")


@pytest.fixture(scope="session")
def study_template(study_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory):
    """The tile pool is built once; each test gets a copy of the database it was registered in."""
    template = tmp_path_factory.mktemp("db") / "study.sqlite"
    options = StudyOptions(
        workspace=study_workspace.root,
        db=f"sqlite:///{template}",
        rounds=6,
        rate_per_group=2,
        admin_token=ADMIN,
        seed=1,
    )
    settings, pool, engine = open_study(options)
    engine.dispose()  # checkpoints the WAL into the file
    return settings, pool, template


@pytest.fixture
def study(study_template, tmp_path: Path):
    """(settings, pool, engine) over a fresh copy of the study database."""
    settings, pool, template = study_template
    shutil.copy(template, tmp_path / "study.sqlite")
    engine = make_engine(f"sqlite:///{tmp_path / 'study.sqlite'}")
    yield replace(settings), pool, engine
    engine.dispose()


@pytest.fixture
def client(study) -> Iterator[TestClient]:
    with TestClient(create_app(*study), base_url="http://127.0.0.1") as test_client:
        yield test_client
