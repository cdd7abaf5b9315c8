"""docs/img/realism_demo.png: what a fresh ``make demo`` draws, beside real held-out tiles, per tissue.

Columns: real test-split tiles, then each run's tiles from the held-out profiles of that tissue (the
demo report's contact sheets, first noise draw of many profiles first). Run from the repo root after
``make demo``::

    python docs/scripts/demo_figure.py demo-workspace
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from rnagan.config import preset
from rnagan.datasets.lc25000 import FIELD_UM
from rnagan.demo.pipeline import RUNS, class_sheets, demo_config
from rnagan.workspace import Workspace

OUT = Path(__file__).resolve().parents[1] / "img" / "realism_demo.png"
LABEL, GAP = 18, 8


def compose(sheets: dict[str, dict[str, bytes]], columns: list[str]) -> Image.Image:
    """One image: a header row of column names, then one row of contact sheets per tissue."""
    images = {t: {c: Image.open(io.BytesIO(png)).convert("RGB") for c, png in row.items()} for t, row in sheets.items()}
    width, height = next(iter(next(iter(images.values())).values())).size
    canvas = Image.new("RGB", (len(columns) * (width + GAP), len(images) * (height + LABEL + GAP)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (tissue, row) in enumerate(sorted(images.items())):
        y = r * (height + LABEL + GAP)
        for c, column in enumerate(columns):
            x = c * (width + GAP)
            draw.text((x, y + 2), f"{tissue}: {column}", fill="black")
            if column in row:
                canvas.paste(row[column], (x, y + LABEL))
    return canvas


def main(workspace: Path) -> None:
    cfg = demo_config(preset("small"), field_um=FIELD_UM)
    cfg.demo.sheet_tiles = 16
    sheets = class_sheets(Workspace(workspace), cfg, runs=tuple(RUNS))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    compose(sheets, ["real", *RUNS]).save(OUT)
    print(OUT)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-workspace"))
