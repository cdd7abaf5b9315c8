"""Every tile source the project reads, as one in-memory set of uint8 tiles with a label, group and origin each.

Sources (:func:`open_source` picks by what the path holds):

- a generated samples folder (``manifest.csv``, ``rnagan generate``): label = the profile's tissue,
  group = the profile; tiles of perturbed profiles are left out (twins of their base profile);
- a tile store (a workspace, its ``tiles/`` folder): label = the index's ``label`` column if present,
  else the sample's tissue from ``expression/samples.csv``; group = the sample;
- a folder per class of image files: label = the folder, group = the file name's stem;
- ``lc25000``: the bundled lung tiles; group = the LC25000-clean cluster (a source image and its copies).

The group is what cross-validation keeps together, so no tile and its augmented copy land in two folds.
Tiles are resized once to ``size`` and held in memory: 10,000 tiles of 224 px take 1.5 GB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from rnagan.datasets.lc25000 import load_lc25000
from rnagan.errors import InputFileError
from rnagan.samples import has_manifest, read_manifest
from rnagan.slides.dataset import read_tile_index
from rnagan.slides.store import TileStore
from rnagan.workspace import Workspace, read_samples

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass
class TileSet:
    """uint8 tiles (N, 3, S, S) and, per tile, a label ("" if unknown), a group and an origin (real/synthetic)."""

    tiles: torch.Tensor
    labels: np.ndarray
    groups: np.ndarray
    origin: np.ndarray

    def __len__(self) -> int:
        return len(self.tiles)

    def subset(self, index: np.ndarray | Sequence[int]) -> TileSet:
        index = np.asarray(index, dtype=np.int64)
        return TileSet(self.tiles[torch.from_numpy(index)], self.labels[index], self.groups[index], self.origin[index])

    def draw(self, limit: int | None, seed: int) -> TileSet:
        """At most ``limit`` tiles, drawn without replacement with ``seed`` (all of them if fewer)."""
        if limit is None or len(self) <= limit:
            return self
        return self.subset(np.sort(np.random.default_rng(seed).choice(len(self), limit, replace=False)))

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels.tolist()) - {""})


def concat(*sets: TileSet) -> TileSet:
    return TileSet(
        torch.cat([s.tiles for s in sets]),
        np.concatenate([s.labels for s in sets]),
        np.concatenate([s.groups for s in sets]),
        np.concatenate([s.origin for s in sets]),
    )


def _resize(image: Image.Image, size: int) -> torch.Tensor:
    """A PIL image → uint8 (3, size, size); PIL's resampling filters antialias when shrinking."""
    image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous()


def _read_image(path: str, size: int) -> torch.Tensor:
    with Image.open(path) as image:
        return _resize(image, size)


def _tile_set(images: list[torch.Tensor], labels: Sequence[str], groups: Sequence[str], origin: str) -> TileSet:
    if not images:
        raise InputFileError("the tile source holds no tiles")
    n = len(images)
    return TileSet(
        torch.stack(images), np.asarray(labels, dtype=str), np.asarray(groups, dtype=str), np.full(n, origin)
    )


def read_samples_folder(folder: str | Path, size: int) -> TileSet:
    """Generated tiles of one run (``samples/<run>/``), labelled by their profile's tissue; perturbed ones left out."""
    manifest = read_manifest(folder)
    manifest = manifest[manifest["perturbation"] == ""]
    images = [_read_image(p, size) for p in manifest["path"]]
    return _tile_set(images, manifest["tissue"].tolist(), manifest["profile"].tolist(), "synthetic")


def read_workspace_tiles(workspace: Workspace, size: int, *, splits: Sequence[str] | None = None) -> TileSet:
    """Real tiles of a workspace's store, labelled by the index's ``label`` column or their sample's tissue."""
    index = read_tile_index(workspace.tile_index).astype({"sample_id": str})
    if workspace.samples_table.is_file():
        samples = read_samples(workspace).reset_index()[["sample_id", "tissue", "split"]]
        index = index.merge(samples.astype(str), on="sample_id", how="inner")
    if splits is not None:
        if "split" not in index.columns:
            raise InputFileError(f"{workspace.samples_table} is missing: cannot select the splits {list(splits)}")
        index = index[index["split"].isin(splits)]
    labels = index["label"] if "label" in index.columns else index.get("tissue", pd.Series("", index=index.index))
    with TileStore(workspace.tile_store) as store:
        images = [_resize(Image.fromarray(store.get(key)), size) for key in index["key"]]
    return _tile_set(images, labels.astype(str).tolist(), index["sample_id"].tolist(), "real")


def read_class_folders(root: str | Path, size: int) -> TileSet:
    """``root/<class>/<tile>.png``: the folder names the class, the file stem the group."""
    files = sorted(p for p in Path(root).glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputFileError(f"{root} holds no class folders of images (expected {root}/<class>/<tile>.png)")
    images = [_read_image(str(p), size) for p in files]
    return _tile_set(images, [p.parent.name for p in files], [f"{p.parent.name}/{p.stem}" for p in files], "real")


def read_lc25000(size: int, *, classes: Sequence[str] | None = None) -> TileSet:
    """The bundled LC25000 lung tiles (with the augmented benign copies), grouped by source image."""
    table = load_lc25000()
    if classes:
        table = table[table["label"].isin(classes)]
    images = [_read_image(p, size) for p in table["path"]]
    return _tile_set(images, table["label"].tolist(), table["sample_id"].tolist(), "real")


def open_source(spec: str | Path, size: int) -> TileSet:
    """A tile source named by a path (samples folder, workspace or its ``tiles/``, class folders) or ``lc25000``."""
    if str(spec) == "lc25000":
        return read_lc25000(size)
    path = Path(spec)
    if not path.exists():
        raise InputFileError(f"tile source {path} does not exist (a samples folder, a workspace, class folders)")
    if has_manifest(path):
        return read_samples_folder(path, size)
    root = path.parent if path.name == "tiles" else path  # a workspace or its tiles/ folder
    if Workspace(root).tile_index.is_file():
        return read_workspace_tiles(Workspace(root), size)
    return read_class_folders(path, size)
