"""Build the bundled her2st cohort (src/rnagan/datasets/data/her2st/) from the five full sections.

Usage: python scripts/her2st_bundle.py /path/to/her2st   (the layout of shared/data/her2st, see SOURCES.md)

Each section becomes a her2st-layout section of its own, small enough to ship:

- ``SEC_HE.jpg``: a mosaic of one 160 µm context patch per spot, cut at 1.0 µm/px around the spot centre
  (160 px cells, JPEG q85), so patches of up to 100 µm with up to 30 µm of jitter can be cut from it;
- ``SEC_spots.tsv``: spot id, array x, y, ``pixel_x``/``pixel_y`` = the spot centre in the mosaic,
  ``source_pixel_x``/``source_pixel_y`` = in the original image, the authors' ``cluster``, its
  ``annotation`` and the coarse ``tissue`` (cancer, immune, breast glands, unknown);
- ``SEC_counts.tsv.gz``: raw UMI counts of the spots, restricted to the genes of the 19,198 gene space
  detected in any section plus the 500 most variable others (immunoglobulins, which the probe needs).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from rnagan.expression.genes import GeneSpace, resolve_ids
from rnagan.spatial.patches import PatchGeometry, cut_patches
from rnagan.spatial.readers import read_table_section
from rnagan.spatial.section import Section

SECTIONS = {"B4": "B", "C2": "C", "C3": "C", "C4": "C", "C5": "C"}
SOURCE_MPP = 0.69  # fitted from the spot grid (~290 px per 200 µm); the JPEG's DPI is wrong
CELL_UM, CELL_MPP, QUALITY = 160, 1.0, 85
EXTRA_VARIABLE_GENES = 500
OUT = Path(__file__).resolve().parents[1] / "src" / "rnagan" / "datasets" / "data" / "her2st"


def main(source: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    sections = {}
    for name, patient in SECTIONS.items():
        folder = source / name
        sections[name] = read_table_section(
            folder / f"{name}_HE.jpg",
            folder / f"{name}_spots.tsv",
            folder / f"{name}_counts.tsv.gz",
            mpp=SOURCE_MPP,
            section_id=name,
            donor_id=patient,
            clusters=folder / f"{name}_clusters.tsv.gz",
            annotation=source / "cluster_annotation.csv",
        )
    genes = kept_genes([s.counts for s in sections.values()])
    for name, section in sections.items():
        write_mosaic(name, section)
        counts = section.counts.reindex(columns=genes, fill_value=0).astype(np.int32)
        counts.to_csv(
            OUT / f"{name}_counts.tsv.gz", sep="\t", index_label="spot", compression={"method": "gzip", "mtime": 0}
        )
        print(name, len(section.spots), "spots", counts.shape[1], "genes")


def kept_genes(tables: list[pd.DataFrame]) -> list[str]:
    every = pd.concat(tables).fillna(0)
    every = every.loc[:, every.sum(axis=0) > 0]
    resolved, _ = resolve_ids(every.columns)
    space = set(GeneSpace.default().ids)
    in_space = [g for g, r in zip(every.columns, resolved, strict=True) if r in space]
    log_cpm = np.log1p(every.div(every.sum(axis=1), axis=0) * 1e4)
    others = log_cpm.drop(columns=in_space).var(axis=0).sort_values(ascending=False)
    return sorted(set(in_space) | set(others.index[:EXTRA_VARIABLE_GENES]), key=list(every.columns).index)


def write_mosaic(name: str, section: Section) -> None:
    geometry = PatchGeometry(mpp=CELL_MPP, fov_um=CELL_UM, patches_per_spot=1)
    cell = geometry.size
    columns = math.ceil(math.sqrt(len(section.spots)))
    rows = math.ceil(len(section.spots) / columns)
    mosaic = np.full((rows * cell, columns * cell, 3), 255, np.uint8)
    for i, patch in enumerate(cut_patches(section, geometry)):
        r, c = divmod(i, columns)
        mosaic[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell] = patch.pixels
    Image.fromarray(mosaic).save(OUT / f"{name}_HE.jpg", quality=QUALITY, optimize=True)
    position = np.arange(len(section.spots))
    spots = section.spots.rename(columns={"pixel_x": "source_pixel_x", "pixel_y": "source_pixel_y"})
    spots.insert(0, "pixel_y", (position // columns) * cell + cell / 2)
    spots.insert(0, "pixel_x", (position % columns) * cell + cell / 2)
    spots["cluster"] = spots["cluster"].astype("Int64")
    spots.to_csv(OUT / f"{name}_spots.tsv", sep="\t", index_label="spot")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
