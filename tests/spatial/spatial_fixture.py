"""The tiny spatial fixture (scripts/her2st_fixture.py): four 12-spot crops of the bundled her2st mosaics,
and builders that write one of them in the other supported layouts (AnnData, Visium)."""

from __future__ import annotations

import json
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
from PIL import Image

from rnagan.spatial.readers import read_table_section
from rnagan.spatial.section import Section

TINY = Path(__file__).parent / "data" / "tiny"
DONORS = {"C2": "C", "B4": "B", "C4": "C", "C5": "C"}
SPLITS = {"C2": "train", "B4": "train", "C4": "val", "C5": "test"}
MPP = 1.0  # the fixture's crops are of the bundled 1.0 µm/px mosaics
SPOT_UM = 100.0  # legacy ST spot diameter: scalefactors' spot_diameter_fullres = 100 px at 1.0 µm/px


def files(name: str) -> tuple[Path, Path, Path]:
    return TINY / f"{name}_HE.jpg", TINY / f"{name}_spots.tsv", TINY / f"{name}_counts.tsv.gz"


def tiny_section(name: str) -> Section:
    image, spots, counts = files(name)
    return read_table_section(image, spots, counts, mpp=MPP, section_id=name, donor_id=DONORS[name])


def tables(name: str) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """(image pixels, spot table, counts) of a fixture section, as the files hold them."""
    image, spots, counts = files(name)
    with Image.open(image) as opened:
        pixels = np.asarray(opened.convert("RGB"))
    return pixels, pd.read_csv(spots, sep="\t", index_col=0), pd.read_csv(counts, sep="\t", index_col=0)


def write_h5ad(name: str, path: Path, *, with_spatial: bool = True) -> Path:
    """The section as scanpy/squidpy store it: obsm['spatial'], uns['spatial'][lib] images + scalefactors."""
    pixels, spots, counts = tables(name)
    adata = anndata.AnnData(
        X=counts.to_numpy(np.float32), obs=pd.DataFrame(index=counts.index), var=pd.DataFrame(index=counts.columns)
    )
    if with_spatial:
        adata.obsm["spatial"] = spots.loc[counts.index, ["pixel_x", "pixel_y"]].to_numpy()
    adata.uns["spatial"] = {
        name: {
            "images": {"hires": pixels},
            "scalefactors": {"tissue_hires_scalef": 1.0, "spot_diameter_fullres": SPOT_UM / MPP},
        }
    }
    adata.write_h5ad(path)
    return path


def write_visium(name: str, folder: Path) -> Path:
    """A Space Ranger output folder: filtered_feature_bc_matrix.h5 (10x v3 layout) and spatial/."""
    pixels, spots, counts = tables(name)
    spatial = folder / "spatial"
    spatial.mkdir(parents=True)
    matrix = counts.to_numpy(np.int32).T  # genes × barcodes, stored as CSC over barcodes
    indptr, indices, data = [0], [], []
    for column in matrix.T:
        nonzero = np.flatnonzero(column)
        indices.extend(nonzero)
        data.extend(column[nonzero])
        indptr.append(len(indices))
    with h5py.File(folder / "filtered_feature_bc_matrix.h5", "w") as f:
        f.attrs["library_ids"] = np.array([name], dtype="S")
        f.attrs["chemistry_description"] = b"Spatial 3' v1"
        group = f.create_group("matrix")
        group["barcodes"] = np.array(counts.index, dtype="S")
        group["data"] = np.array(data, dtype=np.int32)
        group["indices"] = np.array(indices, dtype=np.int64)
        group["indptr"] = np.array(indptr, dtype=np.int64)
        group["shape"] = np.array(matrix.shape, dtype=np.int32)
        features = group.create_group("features")
        features["id"] = np.array(counts.columns, dtype="S")
        features["name"] = np.array(counts.columns, dtype="S")
        features["feature_type"] = np.array(["Gene Expression"] * counts.shape[1], dtype="S")
        features["genome"] = np.array(["GRCh38"] * counts.shape[1], dtype="S")
    positions = spots.loc[counts.index]
    pd.DataFrame(
        {
            "in_tissue": 1,
            "array_row": positions["y"],
            "array_col": positions["x"],
            "pxl_row_in_fullres": positions["pixel_y"],
            "pxl_col_in_fullres": positions["pixel_x"],
        },
        index=counts.index,
    ).to_csv(spatial / "tissue_positions_list.csv", header=False)
    scalefactors = {
        "spot_diameter_fullres": SPOT_UM / MPP,
        "tissue_hires_scalef": 1.0,
        "tissue_lowres_scalef": 0.5,
        "fiducial_diameter_fullres": 160.0,
    }
    (spatial / "scalefactors_json.json").write_text(json.dumps(scalefactors))
    Image.fromarray(pixels).save(spatial / "tissue_hires_image.png")
    Image.fromarray(pixels[::2, ::2]).save(spatial / "tissue_lowres_image.png")
    return folder
