"""Folders of generated tiles (``samples/<run>/``): the manifest's name and columns, reading it, contact sheets.

:func:`rnagan.generate.generate_tiles` writes such a folder; evaluation and the demo read it back.
Both sides use this module, so evaluation never imports the generation stage::

    tiles/<profile>/<j>.png   manifest.csv   contact_sheets/<profile>.png   panels/<profile>.png
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchvision.utils import make_grid

from rnagan.errors import InputFileError

MANIFEST = "manifest.csv"
COVERAGE = "coverage.json"
DIRECTIONS = "directions.json"  # the directions of the folder's edited twins (rnagan.directions)
MANIFEST_COLUMNS = (
    "profile",
    "base_profile",
    "perturbation",
    "source",
    "tissue",
    "split",
    "seed",
    "noise_index",
    "path",
)


def has_manifest(folder: str | Path) -> bool:
    """Whether ``folder`` holds generated tiles (a manifest)."""
    return (Path(folder) / MANIFEST).is_file()


def read_manifest(folder: str | Path) -> pd.DataFrame:
    """The ``manifest.csv`` of a folder of generated tiles (``samples/<run>/``), ``path`` made absolute.

    One row per tile: the profile it was drawn from (and its base profile and perturbation, for
    perturbed twins), its source, tissue, split, seed and noise index, and the PNG file's path.
    """
    folder = Path(folder)
    if not has_manifest(folder):
        raise InputFileError(f"no generated tiles at {folder} ({MANIFEST} missing): run `rnagan generate` first")
    manifest = pd.read_csv(
        folder / MANIFEST,
        dtype={"profile": str, "base_profile": str, "perturbation": str, "tissue": str, "split": str},
        keep_default_na=False,
    )
    manifest["path"] = [str(folder.absolute() / p) for p in manifest["path"]]
    return manifest


def sheet(tiles: torch.Tensor, columns: int | None = None) -> torch.Tensor:
    """uint8 (N, 3, H, W) → one uint8 (3, H', W') grid with white gutters."""
    columns = columns or max(1, int(np.ceil(np.sqrt(len(tiles)))))
    return make_grid(tiles, nrow=columns, padding=2, pad_value=255)
