"""Train and bundle the shipped image stage (src/rnagan/datasets/data/image_stage/).

Usage: python scripts/image_stage_bundle.py WORKSPACE [--set image.steps=N ...]

The image stage trains on the bundled 224 px LC25000 lung tiles of the demo's *training* samples only (the
demo's own split, ``rnagan demo``'s cohort with the small preset), so no tile the demo evaluates on is ever
seen: they are imported into WORKSPACE as they are, then ``rnagan image train --preset small``. The
checkpoint is copied into the package with the command, seed, steps, seconds and tiles that made it in its
meta.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from rnagan.config import load_config
from rnagan.demo.splits import demo_tile_splits
from rnagan.image.data import training_tiles
from rnagan.image.sample import bundled_image_stage
from rnagan.slides.folder import import_tiles
from rnagan.workspace import Workspace


def main(root: Path, overrides: list[str]) -> None:
    workspace = Workspace(root).create()
    tiles = demo_tile_splits(load_config("small"), workspace=workspace)
    import_tiles(tiles[["path", "sample_id", "label"]].assign(slide_id=tiles["label"]), workspace, image_format="jpeg")
    command = ["rnagan", "image", "train", "-w", str(root), "--preset", "small", "--overwrite"]
    for item in overrides:
        command += ["--set", item]
    subprocess.run([sys.executable, "-m", *command], check=True)
    meta_file = workspace.image / "checkpoint" / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["made_by"] = {
        "command": " ".join(command),
        "script": " ".join(["python scripts/image_stage_bundle.py WORKSPACE", *(f"--set {o}" for o in overrides)]),
        "training_tiles": len(training_tiles(workspace)),
    }
    meta_file.write_text(json.dumps(meta, indent=2) + "\n")
    target = bundled_image_stage()
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(workspace.image / "checkpoint", target)
    print(f"image stage bundled → {target}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path, help="workspace to build and train in")
    parser.add_argument("--set", action="append", default=[], help="an override for rnagan image train")
    args = parser.parse_args()
    main(args.workspace, args.set)
