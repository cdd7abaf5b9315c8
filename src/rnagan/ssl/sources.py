"""Every tile source the project reads, as one lazy set of uint8 tiles with a label, group and origin each.

Sources (:func:`open_source` picks by what the path holds):

- a generated samples folder (``manifest.csv``, ``rnagan generate``): label = the profile's tissue,
  group = the profile; tiles of perturbed profiles are left out (twins of their base profile);
- a tile store (a workspace, its ``tiles/`` folder): label = the index's ``label`` column if present,
  else the sample's tissue from ``expression/samples.csv``; group = the sample;
- a folder per class of image files: label = the folder; group = a CSV's ``group`` column if one is
  given, else the ``cluster`` of a ``labels.csv`` beside the class folders (LC25000's layout: a source
  image and its rotations and flips share one; its ``label`` column names the class), else the file;
- ``lc25000``: the bundled lung tiles; group = the LC25000-clean cluster.

The group is what cross-validation keeps together, so no tile and its augmented copy land in two folds.
Only keys and paths are held: a cap or a draw picks them first, and a tile is decoded when a step
indexes it, so memory does not grow with the store (``benchmarks/ssl_memory.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rnagan.datasets.lc25000 import load_lc25000
from rnagan.errors import InputFileError
from rnagan.samples import has_manifest, manifest_tiles, read_manifest
from rnagan.slides.dataset import read_tile_index
from rnagan.slides.tilesets import Concat, FileTiles, StoreTiles, take
from rnagan.slides.tilesets import TileSet as LazyTiles  # TileSet below is the labelled set
from rnagan.workspace import Workspace, read_samples

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass
class TileSet:
    """Lazy uint8 tiles (N, 3, S, S) and, per tile, a label ("" if unknown), a group and an origin."""

    tiles: LazyTiles
    labels: np.ndarray
    groups: np.ndarray
    origin: np.ndarray

    def __len__(self) -> int:
        return len(self.tiles)

    def subset(self, index: np.ndarray | Sequence[int]) -> TileSet:
        index = np.asarray(index, dtype=np.int64)
        return TileSet(take(self.tiles, index), self.labels[index], self.groups[index], self.origin[index])

    def draw(self, limit: int | None, seed: int) -> TileSet:
        """At most ``limit`` tiles, drawn without replacement with ``seed`` (all of them if fewer); none decoded."""
        if limit is None or len(self) <= limit:
            return self
        return self.subset(np.sort(np.random.default_rng(seed).choice(len(self), limit, replace=False)))

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels.tolist()) - {""})


def concat(*sets: TileSet) -> TileSet:
    return TileSet(
        Concat([s.tiles for s in sets]) if len(sets) > 1 else sets[0].tiles,
        np.concatenate([s.labels for s in sets]),
        np.concatenate([s.groups for s in sets]),
        np.concatenate([s.origin for s in sets]),
    )


def _tile_set(tiles: LazyTiles, labels: Sequence[str], groups: Sequence[str], origin: str) -> TileSet:
    if not len(tiles):
        raise InputFileError("the tile source holds no tiles")
    n = len(tiles)
    return TileSet(tiles, np.asarray(labels, dtype=str), np.asarray(groups, dtype=str), np.full(n, origin))


def read_samples_folder(folder: str | Path, size: int) -> TileSet:
    """Generated tiles of one run (``samples/<run>/``), labelled by their profile's tissue; perturbed ones left out."""
    manifest = read_manifest(folder)
    manifest = manifest[manifest["perturbation"] == ""]
    tiles = manifest_tiles(folder, manifest, size)
    return _tile_set(tiles, manifest["tissue"].tolist(), manifest["profile"].tolist(), "synthetic")


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
    store = StoreTiles(workspace.tile_store, index["key"].tolist(), size)
    return _tile_set(store, labels.astype(str).tolist(), index["sample_id"].tolist(), "real")


def _groups_from_csv(groups_csv: str | Path, root: Path, names: list[str]) -> list[str]:
    table = pd.read_csv(groups_csv, dtype=str)
    if not {"file", "group"} <= set(table.columns):
        raise InputFileError(f"{groups_csv} needs the columns file and group (file relative to {root})")
    mapping = dict(zip(table["file"], table["group"], strict=True))
    missing = [n for n in names if n not in mapping]
    if missing:
        raise InputFileError(f"{groups_csv} gives no group for {len(missing)} files, e.g. {missing[:3]}")
    return [mapping[n] for n in names]


def folder_labels(
    root: Path, files: Sequence[Path], groups_csv: str | Path | None = None
) -> tuple[list[str], list[str]]:
    """Each file's (label, group) under class folders: see the module docstring for the order of sources.

    A ``labels.csv`` with ``file`` and ``cluster`` columns (LC25000-clean's) groups a source image with its
    rotations and flips, and its ``label`` column, if any, overrides the folder (LC25000 keeps benign
    copies in ``lung_n_extra/``).
    """
    names = [p.relative_to(root).as_posix() for p in files]
    labels = [Path(n).parent.name for n in names]
    if groups_csv is not None:
        return labels, _groups_from_csv(groups_csv, root, names)
    table = pd.read_csv(root / "labels.csv", dtype=str) if (root / "labels.csv").is_file() else None
    if table is None or not {"file", "cluster"} <= set(table.columns):
        return labels, names
    rows = table.set_index("file")
    if "label" in rows.columns:
        labels = [rows["label"].get(n, label) for n, label in zip(names, labels, strict=True)]
    groups = [
        f"{label}/c{rows['cluster'][n]}" if n in rows.index else n for n, label in zip(names, labels, strict=True)
    ]
    return labels, groups


def read_class_folders(root: str | Path, size: int, *, groups: str | Path | None = None) -> TileSet:
    """``root/<class>/<tile>.png``: labels and groups as :func:`folder_labels` says."""
    root = Path(root)
    files = sorted(p for p in root.glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputFileError(f"{root} holds no class folders of images (expected {root}/<class>/<tile>.png)")
    labels, names = folder_labels(root, files, groups)
    return _tile_set(FileTiles([str(p) for p in files], size), labels, names, "real")


def read_lc25000(size: int, *, classes: Sequence[str] | None = None) -> TileSet:
    """The bundled LC25000 lung tiles (with the augmented benign copies), grouped by source image."""
    table = load_lc25000()
    if classes:
        table = table[table["label"].isin(classes)]
    files = FileTiles(table["path"].tolist(), size)
    return _tile_set(files, table["label"].tolist(), table["sample_id"].tolist(), "real")


def open_source(spec: str | Path, size: int, *, groups: str | Path | None = None) -> TileSet:
    """A tile source named by a path (samples folder, workspace or its ``tiles/``, class folders) or ``lc25000``.

    ``groups`` (a CSV of ``file``, ``group``) applies to class folders only: other sources name their groups.
    """
    path = Path(spec)
    if str(spec) != "lc25000" and not path.exists():
        raise InputFileError(f"tile source {path} does not exist (a samples folder, a workspace, class folders)")
    root = path.parent if path.name == "tiles" else path  # a workspace or its tiles/ folder
    kind = (
        "lc25000" if str(spec) == "lc25000"
        else "samples" if has_manifest(path)
        else "workspace" if Workspace(root).tile_index.is_file()
        else "folders"
    )  # fmt: skip
    if groups is not None and kind != "folders":
        raise InputFileError(f"a groups CSV applies to class folders; {spec} names its own groups")
    if kind == "lc25000":
        return read_lc25000(size)
    if kind == "samples":
        return read_samples_folder(path, size)
    if kind == "workspace":
        return read_workspace_tiles(Workspace(root), size)
    return read_class_folders(path, size, groups=groups)
