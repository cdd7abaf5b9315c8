"""Tiles that already exist as image files, into the store; and tiles out of the store, as PNG files.

Import (:func:`import_tiles`) takes a folder of images, or a table naming them, and writes them to
the workspace's store and index like tiled slides, so training code sees one kind of input.
Index rows of imported tiles:

- ``slide_id``, ``sample_id``: from the table; without a table, the file's first sub-folder
  (``lung_n/x.jpeg`` → ``lung_n``, the ``ImageFolder`` convention, which is also its ``label``).
- ``x``: the file's position (0, 1, 2...) among its slide's files sorted by path; ``y`` = 0.
  Keys are therefore ``slide_id/<n>_0``: stable while the folder is unchanged, unique per slide.
- ``level`` = 0, ``mpp`` from the table's ``mpp`` column if any, else NaN; ``tissue_fraction`` NaN
  (not measured: the tiles were chosen by whoever made them).
- ``source`` (the file's path) and every other column of the table (e.g. ``label``) are kept.

Re-importing a slide id replaces its tiles. Export (:func:`export_tiles`) writes
``DEST/<slide_id>/<x>_<y>.png``, mirroring the keys, for FID tools and for people.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from rnagan.errors import InputFileError
from rnagan.fileio import atomic_path, write_json_atomic
from rnagan.slides.store import INDEX_COLUMNS, TileStore, decode_tile, encode_tile, tile_key
from rnagan.slides.tiler import SUMMARY_COLUMNS, parts_dir, rebuild_index
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_BATCH = 256


def import_tiles(
    folder_or_table: str | Path | pd.DataFrame,
    workspace: Workspace,
    *,
    table: pd.DataFrame | None = None,
    tile_size: int | None = None,
    image_format: str = "lz4",
) -> pd.DataFrame:
    """Import image files as tiles; returns the index rows written (see the module docstring).

    ``folder_or_table``: a folder (all images below it) or a table with a ``path`` column.
    ``table``: with a folder, the files to take and their ``sample_id`` (required), ``slide_id``
    (default: the sample id) and any extra columns; ``path`` is relative to the folder.
    ``tile_size``: resize every tile to this many pixels square (default: keep sizes).
    JPEG files imported as ``jpeg`` without resizing keep their bytes (no second compression).
    """
    folder, files = _resolve_files(folder_or_table, table)
    workspace.create()
    parts = parts_dir(workspace)
    parts.mkdir(parents=True, exist_ok=True)
    files = files.sort_values(["slide_id", "path"], kind="stable").reset_index(drop=True)
    files["x"] = files.groupby("slide_id").cumcount().astype(np.int64)
    files["y"] = np.int64(0)
    files["key"] = [tile_key(s, x, 0) for s, x in zip(files["slide_id"], files["x"], strict=True)]
    files["source"] = files.pop("path").astype(str)

    with TileStore(workspace.tile_store, readonly=False) as store:
        for slide_id, rows in files.groupby("slide_id", sort=True):
            (parts / f"{slide_id}.json").unlink(missing_ok=True)  # not done until the marker is back
            store.delete_prefix(f"{slide_id}/")
            for start in range(0, len(rows), _BATCH):
                chunk = rows.iloc[start : start + _BATCH]
                store.put_many(
                    (key, _encoded(_absolute(folder, source), tile_size, image_format))
                    for key, source in zip(chunk["key"], chunk["source"], strict=True)
                )
            index = _index_rows(rows)
            with atomic_path(parts / f"{slide_id}.parquet", suffix=".parquet") as tmp:
                index.to_parquet(tmp, index=False)
            marker = dict.fromkeys(SUMMARY_COLUMNS)
            marker.update(
                slide_id=slide_id, sample_id=str(rows["sample_id"].iloc[0]), status="imported", kept=len(rows), error=""
            )
            write_json_atomic(parts / f"{slide_id}.json", marker)
    rebuild_index(workspace)
    log.info("imported %d tiles of %d slides into %s", len(files), files["slide_id"].nunique(), workspace.tiles)
    return _index_rows(files)


def _resolve_files(
    folder_or_table: str | Path | pd.DataFrame, table: pd.DataFrame | None
) -> tuple[Path | None, pd.DataFrame]:
    """(folder the paths are relative to, table with path, slide_id, sample_id and extra columns)."""
    if isinstance(folder_or_table, pd.DataFrame):
        folder, table = None, folder_or_table
    else:
        folder = Path(folder_or_table)
        if not folder.is_dir():
            raise InputFileError(f"tile folder {folder} does not exist")
    if table is None:
        assert folder is not None
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise InputFileError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
        relative = [p.relative_to(folder) for p in paths]
        groups = [r.parts[0] if len(r.parts) > 1 else folder.name for r in relative]
        files = pd.DataFrame(
            {"path": [str(r) for r in relative], "slide_id": groups, "sample_id": groups, "label": groups}
        )
        return folder, files
    missing = [c for c in ("path", "sample_id") if c not in table.columns]
    if missing:
        raise InputFileError(f"the import table lacks the column(s) {missing}; it needs path and sample_id")
    files = table.copy()
    if "slide_id" not in files.columns:
        files["slide_id"] = files["sample_id"]
    files["slide_id"] = files["slide_id"].astype(str)
    files["sample_id"] = files["sample_id"].astype(str)
    files = files.drop(columns=[c for c in ("key", "x", "y") if c in files.columns])
    absent = [p for p in files["path"] if not _absolute(folder, p).is_file()]
    if absent:
        raise InputFileError(f"{len(absent)} files of the import table do not exist, e.g. {absent[0]}")
    return folder, files


def _absolute(folder: Path | None, path: str | Path) -> Path:
    path = Path(path)
    return path if folder is None or path.is_absolute() else folder / path


def _encoded(path: Path, tile_size: int | None, image_format: str) -> bytes:
    """The file's tile as stored: its own bytes when they already are what we would write."""
    try:
        with Image.open(path) as image:
            same_format = image.format == {"png": "PNG", "jpeg": "JPEG"}.get(image_format)
            if same_format and image.mode == "RGB" and (tile_size is None or image.size == (tile_size,) * 2):
                return path.read_bytes()
            rgb = image.convert("RGB")
            if tile_size is not None and rgb.size != (tile_size, tile_size):
                rgb = rgb.resize((tile_size, tile_size), Image.Resampling.BICUBIC)
            return encode_tile(np.asarray(rgb), image_format)
    except OSError as err:
        raise InputFileError(f"cannot read tile image {path}: {err}") from None


def _index_rows(files: pd.DataFrame) -> pd.DataFrame:
    index = files.copy()
    index["level"] = np.int64(0)
    if "mpp" not in index.columns:
        index["mpp"] = np.nan
    index["mpp"] = index["mpp"].astype(np.float64)
    index["tissue_fraction"] = np.float32(np.nan)
    extra = [c for c in index.columns if c not in INDEX_COLUMNS]
    return index[[*INDEX_COLUMNS, *extra]].reset_index(drop=True)


def export_tiles(
    source: Workspace | str | Path,
    dest: str | Path,
    *,
    index: pd.DataFrame | None = None,
    keys: Iterable[str] | None = None,
) -> list[Path]:
    """Write tiles as ``dest/<slide_id>/<x>_<y>.png``; returns the files written.

    ``source``: a workspace, or the path of a store. ``keys`` (default: every key in ``index``,
    else every key in the store) chooses the tiles. PNG values are copied byte for byte.
    """
    store_path = source.tile_store if isinstance(source, Workspace) else Path(source)
    dest = Path(dest)
    written: list[Path] = []
    with TileStore(store_path) as store:
        if keys is None:
            keys = index["key"].astype(str).tolist() if index is not None else list(store.keys())
        for key in keys:
            data = store.get_bytes(key)
            if not data.startswith(b"\x89PNG"):
                data = encode_tile(decode_tile(data), "png")
            path = dest / f"{key}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append(path)
    log.info("exported %d tiles to %s", len(written), dest)
    return written
