"""Read a section in any supported layout into a :class:`~rnagan.spatial.section.Section`.

- **image + spot table + counts table** (the her2st layout): the spot table has ``pixel_x``, ``pixel_y``
  (spot centres in image pixels) and a spot id column (``spot``/``barcode``/``id``), or array ``x``, ``y``
  giving the her2st id ``f"{x}x{y}"``; the counts table is spots × genes with the spot id first. Plain
  images state no trustworthy resolution, so ``mpp`` is required.
- **AnnData** ``.h5ad`` in the scanpy/squidpy convention: ``obsm["spatial"]`` (full-resolution pixels),
  ``uns["spatial"][library]["images"][key]`` and ``["scalefactors"]`` (``tissue_<key>_scalef``,
  ``spot_diameter_fullres``); µm per pixel from ``mpp`` or from the spot diameter (55 µm for Visium).
- **10x Visium** ``spatial/`` folder with ``filtered_feature_bc_matrix.h5``, read with
  ``scanpy.read_visium`` and then as AnnData.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnagan.datasets import her2st
from rnagan.errors import InputFileError
from rnagan.spatial.image import ArrayRegions, open_regions
from rnagan.spatial.section import Section, match_spots, numeric_counts, spot_frame

ID_COLUMNS = ("spot", "spot_id", "barcode", "id")
UNLABELLED = "unlabelled"  # class of spots without a cluster: left out of the probe's classifier
VISIUM_SPOT_UM = 55.0  # Visium spot diameter; legacy ST arrays (her2st): 100 µm


def read_table_section(
    image: str | Path,
    spots: str | Path,
    counts: str | Path,
    *,
    mpp: float | None,
    section_id: str | None = None,
    donor_id: str | None = None,
    clusters: str | Path | None = None,
    annotation: str | Path | None = None,
) -> Section:
    """An image + spot table + counts table section (her2st layout); ``mpp`` unless the image states it."""
    regions = open_regions(image)
    resolution = mpp or regions.file_mpp
    if resolution is None:
        raise InputFileError(
            f"{image}: the image states no trustworthy resolution (JPEG/PNG DPI fields are not used): "
            "pass --mpp, its µm per pixel (her2st: 0.69)"
        )
    spot_table = _read_spot_table(Path(spots))
    count_table = numeric_counts(_read_counts(Path(counts)), source=str(counts))
    spot_table = match_spots(spot_table, count_table, spots_source=str(spots), counts_source=str(counts))
    if clusters is not None:
        spot_table = _with_clusters(spot_table, Path(clusters), annotation, donor_id)
    name = section_id or _stem(Path(image))
    return Section(
        section_id=name,
        donor_id=donor_id or name,
        image=regions,
        mpp=float(resolution),
        spots=spot_frame(spot_table["pixel_x"], spot_table["pixel_y"], spot_table.index, spot_table),
        counts=count_table.loc[spot_table.index],
        sources={"image": str(image), "spots": str(spots), "counts": str(counts)},
    )


def read_bundled(sections: Sequence[str] = tuple(her2st.SECTIONS)) -> list[Section]:
    """The bundled her2st sections (:mod:`rnagan.datasets.her2st`), in the order asked."""
    return [
        read_table_section(
            *her2st.section_files(name), mpp=her2st.BUNDLE_MPP, section_id=name, donor_id=her2st.SECTIONS[name]
        )
        for name in sections
    ]


def _stem(path: Path) -> str:
    return re.sub(r"_HE$", "", path.name.split(".")[0])


def _read_spot_table(path: Path) -> pd.DataFrame:
    table = _read_delimited(path, index=False)
    lower = {str(c).lower(): c for c in table.columns}
    missing = [c for c in ("pixel_x", "pixel_y") if c not in lower]
    if missing:
        raise InputFileError(f"{path}: the spot table lacks {missing}; it needs the spot centres in image pixels")
    table = table.rename(columns={lower[c]: c for c in ("pixel_x", "pixel_y", "x", "y") if c in lower})
    id_column = next((lower[c] for c in ID_COLUMNS if c in lower), None)
    if id_column is not None:
        ids = table[id_column].astype(str)
    elif {"x", "y"} <= set(table.columns):
        ids = table["x"].astype(int).astype(str) + "x" + table["y"].astype(int).astype(str)
    else:
        raise InputFileError(f"{path}: no spot id column ({', '.join(ID_COLUMNS)}) and no array x, y columns")
    for column in ("pixel_x", "pixel_y"):
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any():
            raise InputFileError(f"{path}: column {column} holds {int(values.isna().sum())} non-numeric value(s)")
        table[column] = values
    return table.set_axis(pd.Index(ids, name="spot"), axis=0)


def _read_counts(path: Path) -> pd.DataFrame:
    table = _read_delimited(path, index=True)
    table.index = table.index.astype(str)
    return table


def _read_delimited(path: Path, *, index: bool) -> pd.DataFrame:
    if not path.is_file():
        raise InputFileError(f"{path} does not exist")
    separator = "," if ".csv" in path.suffixes else "\t"
    try:
        return pd.read_csv(path, sep=separator, index_col=0 if index else None)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise InputFileError(
            f"{path}: cannot be read as a {'CSV' if separator == ',' else 'TSV'} table ({err})"
        ) from None


def coarse_tissue(annotation: str) -> str:
    """The coarse class of an annotation: ``"immune : B/plasma cells"`` → ``immune``, ``"cancer 2"`` → ``cancer``."""
    return re.sub(r"\s*\d+$", "", str(annotation).split(":")[0]).strip().lower() or "unknown"


def read_annotation(path: Path, patient: str | None) -> dict[int, str]:
    """her2st ``cluster_annotation.csv``: cluster → what it was annotated as, for one patient.

    Only the first three fields are read: later ones (marker genes, references) hold unquoted commas.
    """
    if not path.is_file():
        raise InputFileError(f"{path} does not exist")
    lines = path.read_text().splitlines()[1:]
    rows = [line.split(",", 3)[:3] for line in lines if line.count(",") >= 2]
    return {int(c): a.strip() for p, c, a in rows if patient is None or p == str(patient)}


def _with_clusters(
    spots: pd.DataFrame, clusters: Path, annotation: str | Path | None, patient: str | None
) -> pd.DataFrame:
    """her2st cluster files: ``label`` per spot (joined on ``f"{x}x{y}"``), annotated per patient."""
    table = _read_delimited(clusters, index=False)
    if not {"x", "y", "label"} <= set(table.columns):
        raise InputFileError(f"{clusters}: a cluster table needs x, y and label columns")
    ids = table["x"].astype(int).astype(str) + "x" + table["y"].astype(int).astype(str)
    label = pd.Series(table["label"].to_numpy(), index=ids)
    out = spots.assign(cluster=label.reindex(spots.index).to_numpy())
    if annotation is not None:
        named = read_annotation(Path(annotation), patient)
        out["annotation"] = out["cluster"].map(named).fillna(UNLABELLED)  # spots the authors left out
        out["tissue"] = out["annotation"].map(coarse_tissue)
    return out


def read_anndata_section(
    source: str | Path | Any,
    *,
    mpp: float | None = None,
    spot_um: float = VISIUM_SPOT_UM,
    library: str | None = None,
    image_key: str = "hires",
    image: str | Path | None = None,
    section_id: str | None = None,
    donor_id: str | None = None,
) -> Section:
    """A section from an AnnData (path or object) in the scanpy convention (see the module docstring).

    ``image``: the full-resolution image file, when the stored images are too coarse; it is then read
    lazily and the spot coordinates are used as they are.
    """
    import anndata

    name = str(source) if isinstance(source, (str, Path)) else "AnnData"
    adata = _read_h5ad(Path(source)) if isinstance(source, (str, Path)) else source
    if not isinstance(adata, anndata.AnnData):
        raise InputFileError(f"{name}: expected an AnnData, got {type(adata).__name__}")
    if "spatial" not in adata.obsm:
        raise InputFileError(
            f"{name}: no obsm['spatial'] (spot centres in full-resolution pixels); store them there, "
            "as scanpy/squidpy do, or use --image/--spots/--counts"
        )
    library, entry = _library(adata, library, name)
    scalefactors = entry.get("scalefactors", {})
    full_mpp = mpp or _mpp_from_spots(scalefactors, spot_um, name)
    if image is not None:
        regions, scale = open_regions(image), 1.0
    else:
        regions, scale = _stored_image(entry, image_key, scalefactors, name)
    xy = np.asarray(adata.obsm["spatial"], dtype=float)[:, :2] * scale
    obs = adata.obs.rename(columns={"array_col": "x", "array_row": "y"})
    spots = spot_frame(xy[:, 0], xy[:, 1], pd.Index(adata.obs_names.astype(str)), obs)
    counts = numeric_counts(_count_frame(adata, spots.index), source=name)
    return Section(
        section_id=section_id or library,
        donor_id=donor_id or section_id or library,
        image=regions,
        mpp=full_mpp / scale,
        spots=spots,
        counts=counts,
        sources={"image": str(image or f"{name} uns['spatial']['{library}']"), "spots": name, "counts": name},
    )


def _read_h5ad(path: Path) -> Any:
    import anndata

    if not path.is_file():
        raise InputFileError(f"{path} does not exist")
    try:
        return anndata.read_h5ad(path)
    except Exception as err:  # h5py/anndata raise many types for damaged files
        raise InputFileError(f"{path}: cannot be read as AnnData ({str(err).splitlines()[0]})") from None


def _library(adata: Any, library: str | None, name: str) -> tuple[str, dict[str, Any]]:
    libraries = adata.uns.get("spatial", {})
    if not libraries:
        raise InputFileError(f"{name}: no uns['spatial'] (images and scalefactors); pass --image and --mpp")
    if library is None:
        if len(libraries) > 1:
            raise InputFileError(
                f"{name}: several libraries in uns['spatial'] ({', '.join(libraries)}): pass --library"
            )
        library = next(iter(libraries))
    if library not in libraries:
        raise InputFileError(f"{name}: no library {library!r} in uns['spatial'] (has {', '.join(libraries)})")
    return str(library), libraries[library]


def _mpp_from_spots(scalefactors: dict[str, Any], spot_um: float, name: str) -> float:
    diameter = scalefactors.get("spot_diameter_fullres")
    if not diameter:
        raise InputFileError(f"{name}: no scalefactors['spot_diameter_fullres'] to derive the resolution: pass --mpp")
    return spot_um / float(diameter)


def _stored_image(
    entry: dict[str, Any], key: str, scalefactors: dict[str, Any], name: str
) -> tuple[ArrayRegions, float]:
    images = entry.get("images", {})
    if key not in images:
        raise InputFileError(
            f"{name}: no image {key!r} in uns['spatial'] (has {', '.join(images) or 'none'}); pass --image"
        )
    scale = scalefactors.get(f"tissue_{key}_scalef")
    if not scale:
        raise InputFileError(f"{name}: no scalefactors['tissue_{key}_scalef'] for the {key} image")
    return ArrayRegions(images[key]), float(scale)


def _count_frame(adata: Any, index: pd.Index) -> pd.DataFrame:
    """Raw counts (``layers['counts']`` if present, else X), genes with no count dropped, Ensembl IDs if known."""
    matrix = adata.layers.get("counts", adata.X)
    dense = np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, dtype=np.float32)
    genes = adata.var["gene_ids"] if "gene_ids" in adata.var.columns else adata.var_names
    frame = pd.DataFrame(dense, index=index, columns=pd.Index(np.asarray(genes, dtype=str)))
    return frame.loc[:, dense.sum(axis=0) != 0] if dense.size else frame


def read_visium_section(
    folder: str | Path,
    *,
    count_file: str = "filtered_feature_bc_matrix.h5",
    mpp: float | None = None,
    spot_um: float = VISIUM_SPOT_UM,
    image: str | Path | None = None,
    section_id: str | None = None,
    donor_id: str | None = None,
) -> Section:
    """A 10x Visium output folder (``<folder>/<count_file>`` and ``<folder>/spatial/``), through scanpy."""
    import scanpy as sc

    folder = Path(folder)
    for needed in (folder / count_file, folder / "spatial" / "scalefactors_json.json"):
        if not needed.exists():
            raise InputFileError(f"{needed} does not exist: a Visium folder holds {count_file} and spatial/")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # read_visium moved to squidpy; still correct here
            adata = sc.read_visium(folder, count_file=count_file)
    except (OSError, KeyError, ValueError) as err:
        raise InputFileError(f"{folder}: scanpy cannot read it as Visium output ({err})") from None
    adata.var_names_make_unique()
    name = section_id or folder.name
    return read_anndata_section(
        adata, mpp=mpp, spot_um=spot_um, image=image, section_id=name, donor_id=donor_id or name
    )
