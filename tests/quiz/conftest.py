"""Fixtures of the quiz tests: one small study workspace per session, a fresh database and app per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from quiz_helpers import ADMIN, make_workspace

from rnagan.quiz.app import create_app
from rnagan.quiz.serve import StudyOptions, open_study
from rnagan.workspace import Workspace


@pytest.fixture(scope="session")
def study_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("quiz") / "ws")


@pytest.fixture
def study(study_workspace: Workspace, tmp_path: Path):
    """(settings, pool, engine) of a fresh database over the shared workspace."""
    options = StudyOptions(
        workspace=study_workspace.root,
        db=f"sqlite:///{tmp_path / 'study.sqlite'}",
        rounds=6,
        rate_per_group=2,
        admin_token=ADMIN,
        seed=1,
    )
    return open_study(options)


@pytest.fixture
def client(study) -> Iterator[TestClient]:
    with TestClient(create_app(*study), base_url="http://127.0.0.1") as test_client:
        yield test_client
