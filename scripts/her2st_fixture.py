"""Build the tiny spatial test fixture (tests/spatial/data/tiny/) from the bundled her2st cohort.

Usage: python scripts/her2st_fixture.py

Four sections (C2 and B4 for training, C4 for validation, C5 held out), each the top-left crop of its
bundled mosaic: ``ROWS × COLUMNS`` spot cells of 160 px at 1.0 µm/px (JPEG), the spot table of those
spots with their centres in crop pixels, and their counts restricted to ``GENES`` genes (the most
variable ones plus every marker gene the paired probe scores).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from rnagan.datasets.her2st import MARKERS, her2st_dir

SECTIONS = ("C2", "B4", "C4", "C5")
ROWS, COLUMNS, CELL = 3, 4, 160
GENES = 300
OUT = Path(__file__).resolve().parents[1] / "tests" / "spatial" / "data" / "tiny"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    source = her2st_dir()
    counts = {s: pd.read_csv(source / f"{s}_counts.tsv.gz", sep="\t", index_col=0) for s in SECTIONS}
    genes = chosen_genes(pd.concat(counts.values()))
    for name in SECTIONS:
        spots = pd.read_csv(source / f"{name}_spots.tsv", sep="\t", index_col=0)
        inside = (spots["pixel_x"] < COLUMNS * CELL) & (spots["pixel_y"] < ROWS * CELL)
        spots = spots[inside]
        with Image.open(source / f"{name}_HE.jpg") as image:
            image.crop((0, 0, COLUMNS * CELL, ROWS * CELL)).save(OUT / f"{name}_HE.jpg", quality=85)
        spots.to_csv(OUT / f"{name}_spots.tsv", sep="\t")
        table = counts[name].loc[spots.index, genes]
        table.to_csv(OUT / f"{name}_counts.tsv.gz", sep="\t", compression={"method": "gzip", "mtime": 0})
        print(name, len(spots), "spots", table.shape[1], "genes")


def chosen_genes(counts: pd.DataFrame) -> list[str]:
    logged = np.log1p(counts.div(counts.sum(axis=1).replace(0, 1), axis=0) * 1e4)
    markers = [g for members in MARKERS.values() for g in members if g in counts.columns]
    variable = logged.var(axis=0).drop(markers).sort_values(ascending=False).index[: GENES - len(markers)]
    return [g for g in counts.columns if g in set(variable) | set(markers)]


if __name__ == "__main__":
    main()
