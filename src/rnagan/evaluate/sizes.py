"""The tile size an evaluation works at: the runs' tiles', checked against the size their checkpoints were trained at.

The caller's config may name another size (``gan train --preset small`` makes 64 px tiles, a plain ``evaluate``
says ``paper``, 256 px); comparing 256 px real tiles with 64 px generated ones would still give numbers, all
wrong. So real tiles are resized to the runs' size, and runs of different sizes are refused together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from rnagan.checkpoint import CONFIG
from rnagan.config import config_from_yaml
from rnagan.errors import CheckpointError, ConfigError, InputFileError
from rnagan.fileio import resolve_dir
from rnagan.samples import has_manifest, manifest_tiles, read_manifest
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)


def run_image_size(workspace: Workspace, run: str) -> int:
    """The tile size (px) ``run`` is evaluated at: its generated tiles' own, checked against the size it was trained
    at (``gan/<run>/checkpoint/config.yaml``). An image stage lifts tiles and ``generate.tile_size`` resizes them
    to the real tiles' side, so any size from the trained one up is a run's own; a smaller one is left from an
    older run and refused."""
    path = resolve_dir(workspace.gan_run(run) / "checkpoint") / CONFIG
    drawn = tiles_size(workspace.samples_run(run)) if has_manifest(workspace.samples_run(run)) else None
    if not path.is_file():  # tiles generated elsewhere: their own size is all there is to go by
        if drawn is None:
            raise InputFileError(f"run {run} has neither a checkpoint ({path}) nor generated tiles")
        log.warning("run %s has no checkpoint config at %s: evaluating at its tiles' own size, %d px", run, path, drawn)
        return drawn
    try:
        trained = config_from_yaml(path.read_text(), source=str(path)).gan.image_size
    except ConfigError as err:
        raise CheckpointError(f"run {run} has an unreadable checkpoint config: {err}") from None
    if drawn is None:
        return trained
    if drawn < trained:
        raise InputFileError(
            f"run {run}'s generated tiles are {drawn} px but it was trained at {trained} px: "
            f"regenerate them (`rnagan generate --run {run}`)"
        )
    return drawn


def tiles_size(folder: Path) -> int:
    """The size (px) of the generated tiles in ``folder`` (``rnagan generate`` writes one size per folder)."""
    manifest = read_manifest(folder)
    return int(manifest_tiles(folder, manifest.iloc[:1], 0).stored(0).shape[-1])


def evaluation_image_size(workspace: Workspace, runs: Sequence[str], default: int) -> int:
    """The one size every run in ``runs`` was trained at; ``default`` (the caller's config) when ``runs`` is empty."""
    return common_size([(run, run_image_size(workspace, run)) for run in runs], default)


def common_size(sizes: Sequence[tuple[str, int]], default: int) -> int:
    """The one size of every (run, size) pair; ``default`` (the caller's config) when there are none."""
    if not sizes:
        return default
    (first, size), *rest = sizes
    other = next(((run, other_size) for run, other_size in rest if other_size != size), None)
    if other is not None:
        raise InputFileError(
            f"runs {first} ({size} px) and {other[0]} ({other[1]} px) make tiles of different sizes: "
            "evaluate them apart"
        )
    if size != default:
        log.info("evaluating at %d px, the size of the runs' tiles (the config says %d px)", size, default)
    return size
