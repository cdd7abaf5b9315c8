"""Folders of generated tiles (``samples/<run>/``): the manifest's name and columns, reading it, contact sheets.

:func:`rnagan.generate.generate_tiles` writes such a folder; evaluation and the demo read it back.
Both sides use this module, so evaluation never imports the generation stage::

    tiles/<profile>/<j>.png   manifest.csv   contact_sheets/<profile>.png   panels/<profile>.png

A folder written with ``generate.tile_format: store`` holds its tiles in one LMDB tile store instead of one
PNG file each (a million small files break shared file systems): ``store.lmdb``, keyed ``<profile>/<j>_0``,
the manifest's ``key`` column naming each row's tile (its ``path`` is then empty). Every reader goes
through :func:`manifest_tiles`, so both kinds read the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchvision.utils import make_grid

from rnagan.errors import InputFileError
from rnagan.slides.tilesets import FileTiles, StoreTiles, TileSet

MANIFEST = "manifest.csv"
STORE = "store.lmdb"  # a store-format folder's tiles
TILE_FORMATS = ("png", "store")
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
    "key",
)


def has_manifest(folder: str | Path) -> bool:
    """Whether ``folder`` holds generated tiles (a manifest)."""
    return (Path(folder) / MANIFEST).is_file()


def read_manifest(folder: str | Path) -> pd.DataFrame:
    """The ``manifest.csv`` of a folder of generated tiles (``samples/<run>/``), ``path`` made absolute.

    One row per tile: the profile it was drawn from (and its base profile and perturbation, for
    perturbed twins), its source, tissue, split, seed and noise index, and the PNG file's path or the
    tile's key in the folder's store (a manifest written before stores has no ``key``: read as empty).
    """
    folder = Path(folder)
    if not has_manifest(folder):
        raise InputFileError(f"no generated tiles at {folder} ({MANIFEST} missing): run `rnagan generate` first")
    manifest = pd.read_csv(
        folder / MANIFEST,
        dtype={"profile": str, "base_profile": str, "perturbation": str, "tissue": str, "split": str, "key": str},
        keep_default_na=False,
    )
    if "key" not in manifest.columns:
        manifest["key"] = ""
    manifest["path"] = [str(folder.absolute() / p) if p else "" for p in manifest["path"].astype(str)]
    return manifest


def manifest_tiles(folder: str | Path, manifest: pd.DataFrame, size: int) -> TileSet:
    """The tiles of ``manifest``'s rows (from :func:`read_manifest` of ``folder``) as a lazy set at ``size`` px:
    from the folder's store where the rows name keys, else from their PNG files."""
    keys = manifest["key"].astype(str)
    if len(keys) and (keys != "").all():
        store = Path(folder) / STORE
        if not (store / "data.mdb").is_file():
            raise InputFileError(f"{folder}'s manifest names store keys but {store} is missing: regenerate the folder")
        return StoreTiles(store, keys.tolist(), size)
    if (keys != "").any():
        raise InputFileError(f"{Path(folder) / MANIFEST} mixes store keys and file paths: regenerate the folder")
    return FileTiles(manifest["path"].tolist(), size)


def sheet(tiles: torch.Tensor, columns: int | None = None) -> torch.Tensor:
    """uint8 (N, 3, H, W) → one uint8 (3, H', W') grid with white gutters."""
    columns = columns or max(1, int(np.ceil(np.sqrt(len(tiles)))))
    return make_grid(tiles, nrow=columns, padding=2, pad_value=255)
