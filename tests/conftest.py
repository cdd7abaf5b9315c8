"""Shared fixtures: paths to bundled real data, the tiny preset, a fresh workspace."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import torch

from rnagan.config import Config, preset
from rnagan.workspace import Workspace

TEST_DATA = Path(__file__).parent / "data"

# One torch thread for every test: the networks here are tiny, and on a busy 2-core machine OpenMP's hand-offs
# make two threads many times slower than one (150 toy GAN steps: 110 s against 12 s; the unit tier: 16 min against 6).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def test_data() -> Path:
    return TEST_DATA


@pytest.fixture(scope="session")
def bundled_data() -> Path:
    return Path(str(resources.files("rnagan.datasets") / "data"))


@pytest.fixture(scope="session")
def real_slide(bundled_data: Path) -> Path:
    """The real CC0 H&E slide CMU-1-Small-Region.svs (Aperio, 0.499 µm/px)."""
    return bundled_data / "CMU-1-Small-Region.svs"


@pytest.fixture(scope="session")
def gtex_lung_counts(test_data: Path) -> Path:
    """Real GTEx v8 lung read counts: 30 samples × 818 chr21 genes (227 in the gene space)."""
    return test_data / "gtex_lung.first30.chr21.csv.gz"


@pytest.fixture(scope="session")
def gencode_chr21_gtf(test_data: Path) -> Path:
    return test_data / "gencode.v26.annotation.chr21.gtf.gz"


@pytest.fixture
def tiny() -> Config:
    return preset("tiny")


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws").create()
