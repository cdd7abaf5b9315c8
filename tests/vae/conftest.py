"""Fixtures for the β-VAE tests: a prepared workspace, one shared tiny training run."""

from __future__ import annotations

import pytest
from vae_data import tiny_config, write_prepared

from rnagan.workspace import Workspace


@pytest.fixture
def prepared(workspace: Workspace) -> Workspace:
    write_prepared(workspace)
    return workspace


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict]:
    """One tiny training run shared by every read-only test."""
    from rnagan.vae.train import train_vae

    ws = Workspace(tmp_path_factory.mktemp("vae") / "ws").create()
    write_prepared(ws)
    metrics = train_vae(ws, tiny_config(epochs=30, patience=30), device="cpu")
    return ws, metrics
