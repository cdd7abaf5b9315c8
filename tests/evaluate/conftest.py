"""Fixtures of the evaluation tests: real LC25000 lung tiles (bundled, 64 px) and the FID network.

Tests needing the Inception weights are skipped, with the reason, when they are not installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnagan.datasets.lc25000 import lc25000_dir
from rnagan.errors import MissingWeightsError
from rnagan.evaluate.features import InceptionFeatures, iter_images, list_images

N_PER_CLASS = 24  # Inception runs at ~5 images/s on 2 CPU cores: keep the sets small


@pytest.fixture(scope="session")
def lung_tiles() -> dict[str, list[Path]]:
    """The first ``N_PER_CLASS`` unique tiles of benign lung and of adenocarcinoma."""
    return {label: list_images(lc25000_dir() / label)[:N_PER_CLASS] for label in ("lung_n", "lung_aca")}


@pytest.fixture(scope="session")
def inception() -> InceptionFeatures:
    try:
        return InceptionFeatures.load()
    except MissingWeightsError as err:
        pytest.skip(f"FID Inception weights not installed: {err}")


@pytest.fixture(scope="session")
def lung_features(inception: InceptionFeatures, lung_tiles: dict[str, list[Path]]) -> dict[str, np.ndarray]:
    return {label: inception.extract(iter_images(paths)) for label, paths in lung_tiles.items()}
