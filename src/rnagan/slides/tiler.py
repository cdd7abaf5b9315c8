"""Slides to tiles: a non-overlapping grid at a fixed µm per pixel, tissue and contrast filters,
a cap per slide, many slides in a process pool or on a Dask cluster, resumable.

One slide, step by step (:func:`tile_slide`):

1. :func:`tile_geometry`: the tile's footprint in level-0 pixels for the requested µm/px, the
   pyramid level to read it from and the read size (resized to ``tile_size`` when they differ).
2. A low-resolution image of the slide, :data:`MASK_CELLS` mask pixels per tile side, read in
   chunks (:func:`~rnagan.slides.reader.read_downsampled`), and its tissue mask
   (:mod:`rnagan.slides.tissue`).
3. The grid: every cell whose whole footprint lies inside level 0, right and bottom edges
   included. A cell's tissue fraction is the mean of its mask block (exact, vectorised).
4. Cells with enough tissue are shuffled with the seed and read in that order, skipping low-contrast
   tiles, until the cap. Reads go in batches sorted by position (fast on tiled files); the kept set
   is the same as reading one by one.
5. Tiles land in the LMDB store; the slide's index rows go to ``tiles/parts/<slide>.parquet`` and,
   last, its summary to ``tiles/parts/<slide>.json``: that file marks the slide as done.

On a Dask cluster (``tiling.cluster``) step 5 writes into the slide's own store part,
``tiles/parts/<slide>.lmdb``, since LMDB's lock does not hold across machines; this process merges
each part into the store as its slide finishes, then removes it.

Resuming: a rerun skips slides that have their ``.json`` marker and redoes the others after
deleting their keys from the store, so an interrupted slide leaves neither duplicates nor gaps.
Store parts left behind are merged first when their slide has its marker, dropped otherwise.
A slide that fails (unreadable, truncated, no µm/px) is reported with its error and skipped; the
others finish. ``tiles/index.parquet`` and ``tiles/summary.csv`` are rebuilt from the parts at the end.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

from rnagan.config import TilingConfig
from rnagan.errors import SlideError
from rnagan.executors import open_pool
from rnagan.fileio import atomic_path, write_json_atomic
from rnagan.slides.reader import MPP_TOLERANCE, SLIDE_SUFFIXES, SlideReader, open_slide, read_downsampled, resolve_mpp
from rnagan.slides.store import INDEX_COLUMNS, TileStore, encode_tile, tile_key
from rnagan.slides.tissue import is_low_contrast, tissue_mask
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)

MASK_CELLS = 16  # mask pixels per tile side: tissue fractions are exact to 1/256
READ_BATCH = 64  # tiles read, encoded and committed together
STORE_PART_SUFFIX = ".lmdb"  # tiles/parts/<slide>.lmdb: one slide's tiles, written on a cluster worker
WRITING = "-writing-"  # tiles/parts/<slide>.lmdb-writing-XXXX: a part still being written
THUMBNAIL_MIN_SIDE = 1024  # long side of the thumbnail when the slide is large enough
THUMBNAIL_MAX_SIDE = 2048

SUMMARY_COLUMNS = (
    "slide_id",
    "sample_id",
    "status",
    "width",
    "height",
    "slide_mpp",
    "tile_mpp",
    "level",
    "grid",
    "background",
    "low_contrast",
    "capped",
    "kept",
    "seconds",
    "error",
)


@dataclass(frozen=True)
class TileGeometry:
    """How one tile is read: ``read_size`` px at pyramid ``level`` → ``tile_size`` px at ``mpp`` µm/px.

    ``size0`` is the footprint (and grid step) in level-0 pixels.
    """

    level: int
    read_size: int
    size0: int
    tile_size: int
    mpp: float | None  # µm per pixel of the stored tile; None when tiling at native resolution without metadata


def tile_geometry(slide: SlideReader, config: TilingConfig) -> TileGeometry:
    """The read that gives ``config.tile_size`` px at ``config.mpp`` (or ``config.magnification``).

    With neither set, tiles are cut at level 0 as scanned. A requested resolution finer than the
    scan is refused rather than invented by upsampling.
    """
    target_mpp = (
        config.mpp
        if config.mpp is not None
        else (10.0 / config.magnification if config.magnification is not None else None)
    )
    if target_mpp is None:
        base_mpp, factor = slide.mpp or config.assume_mpp, 1.0
    else:
        base_mpp = resolve_mpp(slide, config.assume_mpp)
        factor = target_mpp / base_mpp  # level-0 pixels per output pixel
        if abs(factor - 1.0) <= MPP_TOLERANCE:
            factor = 1.0
        elif factor < 1.0:
            raise SlideError(
                f"{slide.path} is scanned at {base_mpp:.3g} µm/px, coarser than the requested "
                f"{target_mpp:.3g} µm/px: ask for a coarser tiling.mpp (or a lower magnification)"
            )
    level = slide.best_level_for_downsample(factor)
    level_downsample = slide.level_downsamples[level]
    read_size = round(config.tile_size * factor / level_downsample)
    if abs(read_size - config.tile_size) <= MPP_TOLERANCE * config.tile_size:
        read_size = config.tile_size
    size0 = round(read_size * level_downsample)
    mpp = base_mpp * size0 / config.tile_size if base_mpp is not None else None
    return TileGeometry(level=level, read_size=read_size, size0=size0, tile_size=config.tile_size, mpp=mpp)


@dataclass
class SlideTiling:
    """What :func:`tile_slide` did to one slide: its summary, index rows and thumbnail."""

    summary: dict[str, Any]
    index: pd.DataFrame
    thumbnail: Image.Image


def tile_slide(
    path: Path,
    store: TileStore,
    config: TilingConfig,
    *,
    slide_id: str | None = None,
    sample_id: str | None = None,
) -> SlideTiling:
    """Tile one slide into ``store`` (already writable); see the module docstring for the steps."""
    start = time.perf_counter()
    with open_slide(path) as slide:
        slide_id = slide_id or slide.slide_id
        sample_id = sample_id or slide_id
        geometry = tile_geometry(slide, config)
        width0, height0 = slide.dimensions
        view, view_downsample, mask = _view_and_mask(slide, geometry, config)
        n_x, n_y = width0 // geometry.size0, height0 // geometry.size0
        fractions, rows, cols = _candidates(mask, n_x, n_y, min(MASK_CELLS, geometry.size0), config)
        kept, low_contrast, position = _read_kept(slide, store, geometry, config, slide_id, fractions, rows, cols)

    index = pd.DataFrame(
        {
            "key": [tile_key(slide_id, c * geometry.size0, r * geometry.size0) for r, c, _ in kept],
            "slide_id": slide_id,
            "sample_id": sample_id,
            "x": np.array([c * geometry.size0 for _, c, _ in kept], dtype=np.int64),
            "y": np.array([r * geometry.size0 for r, _, _ in kept], dtype=np.int64),
            "level": np.int64(geometry.level),
            "mpp": np.float64(geometry.mpp if geometry.mpp is not None else np.nan),
            "tissue_fraction": np.array([f for _, _, f in kept], dtype=np.float32),
        }
    )
    summary = {
        "slide_id": slide_id,
        "sample_id": sample_id,
        "status": "done",
        "width": width0,
        "height": height0,
        "slide_mpp": slide.mpp,
        "tile_mpp": geometry.mpp,
        "level": geometry.level,
        "grid": int(n_x * n_y),
        "background": int(n_x * n_y - len(rows)),
        "low_contrast": low_contrast,
        "capped": int(len(rows) - position),
        "kept": len(kept),
        "seconds": round(time.perf_counter() - start, 3),
        "error": "",
    }
    thumbnail = draw_thumbnail(
        view, mask, [(c * geometry.size0, r * geometry.size0) for r, c, _ in kept], geometry.size0, view_downsample
    )
    return SlideTiling(summary=summary, index=index, thumbnail=thumbnail)


def _view_and_mask(
    slide: SlideReader, geometry: TileGeometry, config: TilingConfig
) -> tuple[np.ndarray, float, np.ndarray]:
    """A picture of the slide for people (and its downsample) and the tissue mask, ``MASK_CELLS`` per tile side."""
    cells = min(MASK_CELLS, geometry.size0)
    mask_downsample = geometry.size0 / cells
    width0, height0 = slide.dimensions
    # One read serves both: a picture large enough for a person, shrunk for the mask.
    view_downsample = min(mask_downsample, max(1.0, max(width0, height0) / THUMBNAIL_MIN_SIDE))
    view = read_downsampled(slide, view_downsample)
    mask_shape = (math.ceil(width0 / mask_downsample), math.ceil(height0 / mask_downsample))
    thumb = (
        view
        if view_downsample == mask_downsample
        else np.asarray(Image.fromarray(view).resize(mask_shape, Image.Resampling.BOX))
    )
    mask_mpp = (slide.mpp or config.assume_mpp or 0.5) * mask_downsample  # units for the µm sizes
    return view, view_downsample, tissue_mask(thumb, mask_mpp, config.tissue_method)


def _candidates(
    mask: np.ndarray, n_x: int, n_y: int, cells: int, config: TilingConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tissue fraction of every grid cell (n_y, n_x), and the rows and columns with enough, shuffled (seeded)."""
    fractions = mask[: n_y * cells, : n_x * cells].reshape(n_y, cells, n_x, cells).mean(axis=(1, 3))
    enough = fractions >= config.min_tissue_fraction
    if config.min_tissue_fraction == 0.0:
        enough = np.ones_like(enough)
    rows, cols = np.nonzero(enough)
    order = np.random.default_rng(config.seed).permutation(len(rows))
    return fractions, rows[order], cols[order]


def _read_kept(
    slide: SlideReader,
    store: TileStore,
    geometry: TileGeometry,
    config: TilingConfig,
    slide_id: str,
    fractions: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
) -> tuple[list[tuple[int, int, float]], int, int]:
    """Read candidates in shuffle order (in position order within a batch), drop low-contrast ones, store the rest.

    Stops at ``max_tiles_per_slide`` kept tiles. Returns the kept (row, col, tissue fraction) in shuffle
    order, the number dropped as low contrast, and how many candidates were looked at.
    """
    kept: list[tuple[int, int, float]] = []
    low_contrast = 0
    position = 0
    while len(kept) < config.max_tiles_per_slide and position < len(rows):
        need = min(config.max_tiles_per_slide - len(kept), READ_BATCH)
        batch = range(position, min(position + need, len(rows)))
        position = batch.stop
        records: list[tuple[int, int, int, float, bytes]] = []
        for i in sorted(batch, key=lambda i: (rows[i], cols[i])):
            row, col = int(rows[i]), int(cols[i])
            tile = _read_tile(slide, geometry, col * geometry.size0, row * geometry.size0)
            if config.low_contrast_filter and is_low_contrast(tile, config.low_contrast_fraction):
                low_contrast += 1
                continue
            data = encode_tile(tile, config.image_format, config.jpeg_quality)
            records.append((i, row, col, float(fractions[row, col]), data))
        records.sort()  # back to shuffle order
        store.put_many(
            (tile_key(slide_id, col * geometry.size0, row * geometry.size0), data) for _, row, col, _, data in records
        )
        kept.extend((row, col, fraction) for _, row, col, fraction, _ in records)
    return kept, low_contrast, position


def _read_tile(slide: SlideReader, geometry: TileGeometry, x0: int, y0: int) -> np.ndarray:
    """RGB uint8 (tile_size, tile_size, 3) whose top-left is (x0, y0) in level-0 px."""
    size = (geometry.read_size, geometry.read_size)
    tile = slide.read_region((x0, y0), geometry.level, size)
    if geometry.read_size != geometry.tile_size:
        # Bicubic with antialiasing, as Pillow's default in the reference code.
        image = Image.fromarray(tile).resize((geometry.tile_size,) * 2, Image.Resampling.BICUBIC)
        tile = np.asarray(image)
    return tile


def draw_thumbnail(
    view: np.ndarray, mask: np.ndarray, tiles: Iterable[tuple[int, int]], size0: int, downsample: float
) -> Image.Image:
    """The slide with its tissue tinted green, the mask outline and kept tiles (blue squares).

    ``view`` is the slide at ``downsample`` level-0 px per pixel; ``mask`` may be coarser (it is
    stretched onto ``view``); ``tiles`` are top-left corners in level-0 px, ``size0`` px wide.
    """
    height, width = view.shape[:2]
    if mask.shape != (height, width):
        mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST))
    image = view.astype(np.float32)
    image[mask] = 0.75 * image[mask] + 0.25 * np.array([0, 200, 0], dtype=np.float32)
    image[mask & ~_eroded(mask)] = (0, 140, 0)
    canvas = Image.fromarray(image.astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    side = size0 / downsample
    for x, y in tiles:
        left, top = x / downsample, y / downsample
        draw.rectangle((left, top, left + side - 1, top + side - 1), outline=(20, 60, 220), width=2)
    if max(canvas.size) > THUMBNAIL_MAX_SIDE:
        canvas.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE), Image.Resampling.BOX)
    return canvas


def _eroded(mask: np.ndarray) -> np.ndarray:
    """One step of erosion (4-connected); pixels outside the image count as mask, so its edge is no outline."""
    return ndi.binary_erosion(mask, border_value=1)


# ---- many slides -----------------------------------------------------------------------------


def find_slides(paths: Iterable[str | Path]) -> list[Path]:
    """Slide files given directly, or found (not recursively) in given folders, in sorted order.

    A folder holding ``.dcm`` files is one DICOM slide.
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise SlideError(f"{path} does not exist")
        if path.is_file() or any(p.suffix.lower() == ".dcm" for p in path.iterdir()):
            found.append(path)
        else:
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in SLIDE_SUFFIXES))
    return found


def slide_id_of(path: Path) -> str:
    """A slide's id: its file name without extension (GTEx: ``GTEX-1117F-0126.svs`` → ``GTEX-1117F-0126``)."""
    return path.stem if path.is_file() and path.suffix else path.name


def parts_dir(workspace: Workspace) -> Path:
    """Per-slide index parts and done markers (``<slide>.parquet``, ``<slide>.json``)."""
    return workspace.tiles / "parts"


def _run_jobs(jobs: list[tuple], n_workers: int, cluster: str | None, workspace: Workspace) -> Iterator[dict[str, Any]]:
    """Each slide job's summary as it finishes: in this process, in ``n_workers`` fresh ones, or on a Dask cluster.

    On a cluster each slide is tiled into its own store part, merged here as it finishes.
    """
    if not jobs:
        return
    if n_workers == 1 and cluster is None:
        for job in jobs:
            yield _tile_slide_job(*job, False)
        return
    shared = [workspace.root, *{Path(job[0]).parent for job in jobs}]
    with open_pool(n_workers, cluster, shared_paths=shared) as pool:
        log.info("tiling %d slides on %s", len(jobs), pool.where)
        futures = {pool.executor.submit(_tile_slide_job, *job, not pool.local): job for job in jobs}
        for future in as_completed(futures):
            job = futures.pop(future)  # released: Dask would recompute a held result whose worker died
            try:
                summary = future.result()
            except pool.lost_worker as err:  # a library crashed the process, not just raised
                summary = _failed(job[1], job[2], f"worker process died: {err}")
            settle_store_part(workspace, job[1])
            yield summary


def tile_slides(
    slides: list[Path],
    workspace: Workspace,
    config: TilingConfig,
    *,
    sample_ids: dict[str, str] | None = None,
    workers: int | None = None,
    cluster: str | None = None,
) -> pd.DataFrame:
    """Tile ``slides`` into ``workspace`` in parallel, resuming earlier runs; one summary row per slide.

    ``sample_ids`` maps slide id → sample id (default: the slide id). ``workers`` processes
    (default ``config.workers``, else all cores); one slide per process at a time. ``cluster``
    (default ``config.cluster``): a Dask scheduler's address, whose workers tile instead (see
    :mod:`rnagan.executors`). Status is ``done``, ``skipped`` (finished by an earlier run) or
    ``failed`` (with the error).
    """
    workspace.create()
    parts = parts_dir(workspace)
    parts.mkdir(parents=True, exist_ok=True)
    workspace.thumbnails.mkdir(parents=True, exist_ok=True)
    slides = [Path(s) for s in slides]
    ids = [slide_id_of(s) for s in slides]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise SlideError(f"several slides share the id(s) {duplicated}: slide ids are file names without extension")
    sample_ids = sample_ids or {}
    cluster = cluster or config.cluster
    _settle_store_parts(workspace, unfinished=True)  # left by an interrupted cluster run

    results: dict[str, dict[str, Any]] = {}
    todo: list[tuple[Path, str, str]] = []
    for path, slide_id in zip(slides, ids, strict=True):
        done = _read_marker(parts / f"{slide_id}.json")
        if done is not None:
            results[slide_id] = {**done, "status": "skipped"}
        else:
            todo.append((path, slide_id, sample_ids.get(slide_id, slide_id)))
    if results:
        log.info("%d of %d slides already tiled: skipped", len(results), len(slides))

    n_workers = max(1, min(workers or config.workers or os.cpu_count() or 1, len(todo) or 1))
    jobs = [
        (str(path), slide_id, sample_id, str(workspace.root), config.model_dump()) for path, slide_id, sample_id in todo
    ]
    for summary in _run_jobs(jobs, n_workers, cluster, workspace):
        results[summary["slide_id"]] = _logged(summary)

    _settle_store_parts(workspace)  # a slide Dask ran twice (its worker lost after finishing) leaves a second part
    rebuild_index(workspace)
    _write_summary(workspace, [r for r in results.values() if r["status"] == "failed"])
    rows = [results[i] for i in ids]
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _tile_slide_job(
    path: str, slide_id: str, sample_id: str, root: str, config: dict[str, Any], to_part: bool
) -> dict[str, Any]:
    """One slide in a worker: tile it (into the store, or a store part), then write its index part,
    thumbnail and done marker (last)."""
    workspace = Workspace(root)
    parts = parts_dir(workspace)
    try:
        with _slide_store(workspace, slide_id, to_part) as tiles:
            result = tile_slide(Path(path), tiles, TilingConfig(**config), slide_id=slide_id, sample_id=sample_id)
        with atomic_path(workspace.thumbnails / f"{slide_id}.png", suffix=".png") as tmp:
            result.thumbnail.save(tmp, format="PNG")
        with atomic_path(parts / f"{slide_id}.parquet", suffix=".parquet") as tmp:
            result.index.to_parquet(tmp, index=False)
        write_json_atomic(parts / f"{slide_id}.json", result.summary)
        return result.summary
    except Exception as err:  # one bad slide must not stop the others: report it and move on
        return _failed(slide_id, sample_id, f"{type(err).__name__}: {err}")


@contextmanager
def _slide_store(workspace: Workspace, slide_id: str, to_part: bool) -> Iterator[TileStore]:
    """Where one slide's tiles go, cleared of the slide's keys before and, when tiling fails, after.

    ``to_part``: a fresh LMDB of its own, renamed to :func:`store_part` only when complete, so the
    merger never reads a part that a second attempt at the slide is still writing.
    """
    target = workspace.tile_store
    if to_part:
        target = Path(tempfile.mkdtemp(dir=parts_dir(workspace), prefix=f"{slide_id}{STORE_PART_SUFFIX}{WRITING}"))
    try:
        with TileStore(target, readonly=False) as tiles:
            tiles.delete_prefix(slide_id + "/")  # leftovers of an interrupted run
            try:
                yield tiles
            except BaseException:
                tiles.delete_prefix(slide_id + "/")
                raise
    except BaseException:
        if to_part:
            shutil.rmtree(target, ignore_errors=True)
        raise
    if to_part:
        try:
            target.rename(store_part(workspace, slide_id))
        except OSError:  # an earlier attempt's equal part is waiting to be merged, or a rerun swept this one
            shutil.rmtree(target, ignore_errors=True)


def store_part(workspace: Workspace, slide_id: str) -> Path:
    """The LMDB a cluster worker tiles one slide into: one writer per file, so no lock is shared across machines."""
    return parts_dir(workspace) / f"{slide_id}{STORE_PART_SUFFIX}"


def _settle_store_parts(workspace: Workspace, *, unfinished: bool = False) -> None:
    """Settle every store part; ``unfinished``: also remove parts left half-written by a killed worker."""
    for part in sorted(parts_dir(workspace).glob(f"*{STORE_PART_SUFFIX}")):
        settle_store_part(workspace, part.name.removesuffix(STORE_PART_SUFFIX))
    if unfinished:
        for part in parts_dir(workspace).glob(f"*{STORE_PART_SUFFIX}{WRITING}*"):
            shutil.rmtree(part, ignore_errors=True)


def settle_store_part(workspace: Workspace, slide_id: str) -> None:
    """Move a finished slide's store part into the workspace's store, or drop an unfinished one.

    Idempotent, so a run killed halfway through a merge merges again on resuming: the slide's keys
    are deleted from the store first, the part is removed last.
    """
    part = store_part(workspace, slide_id)
    if not part.is_dir():
        return
    if (parts_dir(workspace) / f"{slide_id}.json").is_file() and (part / "data.mdb").is_file():
        with TileStore(part) as source, TileStore(workspace.tile_store, readonly=False) as target:
            target.delete_prefix(slide_id + "/")
            keys = list(source.keys(slide_id + "/"))
            for start in range(0, len(keys), READ_BATCH):
                target.put_many((key, source.get_bytes(key)) for key in keys[start : start + READ_BATCH])
    shutil.rmtree(part)


def _failed(slide_id: str, sample_id: str, error: str) -> dict[str, Any]:
    summary = dict.fromkeys(SUMMARY_COLUMNS)
    summary.update(slide_id=slide_id, sample_id=sample_id, status="failed", error=error)
    return summary


def _logged(summary: dict[str, Any]) -> dict[str, Any]:
    if summary["status"] == "failed":
        log.error("slide %s failed: %s", summary["slide_id"], summary["error"])
    else:
        log.info("slide %s: kept %d tiles in %.1f s", summary["slide_id"], summary["kept"], summary["seconds"])
    return summary


def rebuild_index(workspace: Workspace) -> pd.DataFrame:
    """``tiles/index.parquet`` as the union of every finished part (slides and imports), by slide id."""
    parts = parts_dir(workspace)
    frames = [
        pd.read_parquet(part) for part in sorted(parts.glob("*.parquet")) if (parts / f"{part.stem}.json").is_file()
    ]
    frames = [f for f in frames if len(f)]
    index = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(INDEX_COLUMNS))
    with atomic_path(workspace.tile_index, suffix=".parquet") as tmp:
        index.to_parquet(tmp, index=False)
    return index


def _read_marker(marker: Path) -> dict[str, Any] | None:
    """A finished slide's record; None when absent, or damaged (removed, with a warning: the slide is redone)."""
    if not marker.is_file():
        return None
    try:
        record = json.loads(marker.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        record = None
    if not isinstance(record, dict) or "slide_id" not in record:
        log.warning("%s is damaged: its slide will be tiled again", marker)
        marker.unlink()
        return None
    return record


def _write_summary(workspace: Workspace, failed: list[dict[str, Any]]) -> None:
    """``tiles/summary.csv``: every finished slide's marker, plus this run's failures."""
    parts = parts_dir(workspace)
    rows = [row for marker in sorted(parts.glob("*.json")) if (row := _read_marker(marker)) is not None]
    done = {row["slide_id"] for row in rows}
    rows += [f for f in failed if f["slide_id"] not in done]
    table = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    with atomic_path(workspace.tiling_summary, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)


def summary_totals(summary: pd.DataFrame) -> dict[str, float]:
    """Totals over a summary table (for the CLI's last line and the benchmark)."""
    numeric = summary[["grid", "background", "low_contrast", "capped", "kept", "seconds"]].fillna(0)
    totals = {k: float(v) for k, v in numeric.sum().items()}
    totals["slides"] = len(summary)
    totals["failed"] = int((summary["status"] == "failed").sum())
    totals["tiles_per_second"] = totals["kept"] / totals["seconds"] if totals["seconds"] else math.nan
    return totals
