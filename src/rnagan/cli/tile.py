"""``rnagan tile`` (slides → tile store) and ``rnagan tiles import/export`` (image files ↔ store)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from rnagan.cli._common import (
    DEFAULT_WORKSPACE,
    ConfigOpt,
    PresetOpt,
    SetOpt,
    WorkspaceOpt,
    open_workspace,
    resolve_config,
)
from rnagan.errors import InputFileError
from rnagan.workspace import Workspace
from rnagan.workspace_config import remember

tiles_app = typer.Typer(
    help="Tiles as image files: import a folder into the store, export the store as PNGs.", no_args_is_help=True
)


def tile(
    slides: Annotated[
        list[Path], typer.Argument(help="Slide files (svs, tiff, ndpi, mrxs, dcm...) or folders of them.")
    ],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Processes, one slide each (default: all cores).")] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler address (tcp://host:8786) whose workers tile, one slide per task; they must see "
            "WORKSPACE and the slides at the same paths. Needs pip install 'rnagan[cluster]'. Default: tiling.cluster, "
            "else local processes."
        ),
    ] = None,
    assume_mpp: Annotated[
        float | None,
        typer.Option(min=0.01, help="µm per level-0 pixel for slides whose files lack it (0.25 ≈ 40×, 0.5 ≈ 20×)."),
    ] = None,
    samples: Annotated[
        Path | None,
        typer.Option(
            help="CSV with slide_id,sample_id columns (default: sample id = slide id = file name without extension)."
        ),
    ] = None,
) -> None:
    """Tile whole-slide images into WORKSPACE/tiles (LMDB store, index.parquet, thumbnails/, summary.csv).

    Tiles are tiling.tile_size px at tiling.mpp µm/px (default 256 px at 0.5 µm/px, i.e. 20×), on a
    non-overlapping grid, kept when their tissue fraction is at least tiling.min_tissue_fraction
    (default 0.4) and they are not low contrast, shuffled with tiling.seed and capped at
    tiling.max_tiles_per_slide. Resumable: a rerun skips slides already done and redoes
    interrupted ones; a slide that cannot be read is reported and the others finish. With --cluster
    the same run goes to a Dask cluster (local, Slurm through dask-jobqueue, or any scheduler).
    """
    from rnagan.slides.tiler import find_slides, tile_slides

    cfg = resolve_config(preset, config, set_, workspace=workspace, reads=("tiles",))
    if assume_mpp is not None:
        cfg.tiling.assume_mpp = assume_mpp
    sample_ids = None
    if samples is not None:
        if not samples.is_file():
            raise InputFileError(f"--samples file {samples} not found: give a CSV with slide_id,sample_id columns")
        table = pd.read_csv(samples, dtype=str)
        if not {"slide_id", "sample_id"} <= set(table.columns):
            raise InputFileError(f"{samples} needs the columns slide_id and sample_id, got {list(table.columns)}")
        sample_ids = dict(zip(table["slide_id"], table["sample_id"], strict=True))
    ws = open_workspace(workspace)
    summary = tile_slides(find_slides(slides), ws, cfg.tiling, sample_ids=sample_ids, workers=workers, cluster=cluster)
    remember(ws, cfg, writes="tiles")
    _print_summary(summary)
    if (summary["status"] == "failed").all():
        raise typer.Exit(1)


def _print_summary(summary: pd.DataFrame) -> None:
    table = Table(title="Tiling (tiles per filter)")
    columns = ("slide_id", "status", "grid", "background", "low_contrast", "capped", "kept", "seconds")
    headers = ("slide", "status", "grid", "no tissue", "low contr.", "capped", "kept", "s")
    for name, header in zip(columns, headers, strict=True):
        if name == "slide_id":
            table.add_column(header, no_wrap=True)
        else:
            table.add_column(header, justify="left" if name == "status" else "right")
    for row in summary.itertuples(index=False):
        values = [getattr(row, c) for c in columns]
        table.add_row(
            *[
                "" if pd.isna(v) else f"{v:.1f}" if c == "seconds" else str(v if isinstance(v, str) else int(v))
                for c, v in zip(columns, values, strict=True)
            ]
        )
    done = summary[summary["status"] != "failed"]
    table.add_section()
    table.add_row(
        f"{len(summary)} slides",
        f"{len(summary) - len(done)} failed",
        *[str(int(done[c].fillna(0).sum())) for c in columns[2:7]],
        f"{done['seconds'].fillna(0).sum():.1f}",
    )
    console = Console()
    console.print(table)
    for row in summary[summary["status"] == "failed"].itertuples(index=False):
        console.print(f"[red]failed[/] {row.slide_id}: {row.error}", highlight=False)


@tiles_app.command("import")
def import_cmd(
    folder: Annotated[
        Path, typer.Argument(exists=True, file_okay=False, help="Folder of tile images (png, jpg, tif).")
    ],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    table: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="CSV: path (relative to FOLDER), sample_id, optional slide_id and extra columns such as label. "
            "Without it: one slide per sub-folder, named (and labelled) after it.",
        ),
    ] = None,
    tile_size: Annotated[
        int | None, typer.Option(min=8, help="Resize tiles to this many px square (default: keep).")
    ] = None,
    image_format: Annotated[
        Literal["lz4", "png", "jpeg", "raw"],
        typer.Option(
            "--format",
            help="lz4 (lossless, fast to load), png (lossless, smaller, slow to load), "
            "jpeg (JPEG files kept as they are) or raw (uncompressed pixels).",
        ),
    ] = "lz4",
) -> None:
    """Import image files as tiles into WORKSPACE/tiles; re-importing a slide id replaces its tiles."""
    from rnagan.slides.folder import import_tiles

    files = pd.read_csv(table) if table is not None else None
    index = import_tiles(folder, open_workspace(workspace), table=files, tile_size=tile_size, image_format=image_format)
    typer.echo(f"imported {len(index)} tiles of {index['slide_id'].nunique()} slides")


@tiles_app.command("export")
def export_cmd(
    dest: Annotated[Path, typer.Argument(file_okay=False, help="Folder to write DEST/<slide_id>/<x>_<y>.png into.")],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    slide: Annotated[list[str] | None, typer.Option(help="Only this slide id (repeatable) (default: all).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many tiles per slide (default: all).")] = None,
) -> None:
    """Export tiles of WORKSPACE's store as PNG files (for FID tools and for people)."""
    from rnagan.slides.dataset import read_tile_index
    from rnagan.slides.folder import export_tiles

    ws = Workspace(workspace)
    index = read_tile_index(ws.tile_index)
    if slide:
        index = index[index["slide_id"].isin(slide)]
    if limit is not None:
        index = index.groupby("slide_id", sort=False).head(limit)
    written = export_tiles(ws, dest, index=index)
    typer.echo(f"exported {len(written)} tiles to {dest}")


def register(root: typer.Typer) -> None:
    root.command("tile")(tile)
    root.add_typer(tiles_app, name="tiles")
