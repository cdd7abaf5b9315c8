"""``rnagan spatial import``: sections → the workspace's tile store and a spots × genes expression table.

Written (every file atomically, after every patch has been cut and every check passed)::

    tiles/store.lmdb, tiles/index.parquet   one or more patches per spot, keys "<section>/<x>_<y>";
                                            index columns + spot, patch (0 = centred), section
    spatial/expression.h5ad                 raw counts (sparse), obs = one sample per spot: donor_id
                                            (patient), tissue, [split], section, spot, x, y, pixel_x,
                                            pixel_y, [cluster, annotation]
    spatial/import.json                     sections, spots, patches, geometry, sources

``rnagan expr prepare spatial/expression.h5ad`` (or ``rnagan spatial prepare``) then reads it like
any cohort; a ``split`` column (from ``splits``: section → train/val/test) is honoured, so a section's
spots, and hence all their patches, share one split.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from rnagan.errors import InputFileError
from rnagan.expression.splits import SPLITS
from rnagan.fileio import atomic_path, write_json_atomic
from rnagan.slides.store import INDEX_COLUMNS, TileStore, encode_tile, tile_key
from rnagan.slides.tiler import SUMMARY_COLUMNS, parts_dir, rebuild_index
from rnagan.spatial.patches import PatchGeometry, cut_patches
from rnagan.spatial.section import Section
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)

OBS_COLUMNS = (
    "donor_id",
    "tissue",
    "split",
    "section",
    "spot",
    "x",
    "y",
    "pixel_x",
    "pixel_y",
    "cluster",
    "annotation",
)


def spatial_dir(workspace: Workspace) -> Path:
    return workspace.root / "spatial"


def expression_file(workspace: Workspace) -> Path:
    """The imported spots × genes raw counts with one obs row per spot (AnnData)."""
    return spatial_dir(workspace) / "expression.h5ad"


def import_sections(
    sections: Sequence[Section],
    workspace: Workspace,
    geometry: PatchGeometry,
    *,
    splits: Mapping[str, str] | None = None,
    tissue: str = "tissue",
    image_format: str = "jpeg",
) -> pd.DataFrame:
    """Cut a patch per spot (or several, ``geometry``) from every section into ``workspace``; return the index rows.

    Read sections with :func:`rnagan.spatial.readers.read_table_section`, ``read_anndata_section``,
    ``read_visium_section`` or ``read_bundled``. ``splits`` maps each section to train, val or test
    (every spot of a section lands in its split). Writes the tile store and index, the raw counts
    (``spatial/expression.h5ad``, one row per spot) and ``spatial/import.json``, all only after every
    check passed.
    """
    _check_sections(sections, splits)
    obs = pd.concat([_obs(s, splits, tissue) for s in sections])
    counts = _counts(sections)
    tiles = {s.section_id: _encoded_patches(s, geometry, image_format) for s in sections}  # all cut before writing

    workspace.create()
    parts = parts_dir(workspace)
    parts.mkdir(parents=True, exist_ok=True)
    with TileStore(workspace.tile_store, readonly=False) as store:
        for section_id, (index, blobs) in tiles.items():
            (parts / f"{section_id}.json").unlink(missing_ok=True)
            store.delete_prefix(f"{section_id}/")
            store.put_many(zip(index["key"], blobs, strict=True))
            with atomic_path(parts / f"{section_id}.parquet", suffix=".parquet") as tmp:
                index.to_parquet(tmp, index=False)
            marker = dict.fromkeys(SUMMARY_COLUMNS)
            marker.update(slide_id=section_id, sample_id="", status="imported", kept=len(index), error="")
            write_json_atomic(parts / f"{section_id}.json", marker)
    rebuild_index(workspace)
    _write_expression(workspace, counts, obs)
    written = pd.concat([index for index, _ in tiles.values()], ignore_index=True)
    write_json_atomic(spatial_dir(workspace) / "import.json", _summary(sections, geometry, written, splits))
    log.info(
        "imported %d spots, %d patches of %d sections into %s", len(obs), len(written), len(sections), workspace.root
    )
    return written


def _check_sections(sections: Sequence[Section], splits: Mapping[str, str] | None) -> None:
    names = [s.section_id for s in sections]
    if not sections:
        raise InputFileError("no section to import")
    if len(set(names)) != len(names):
        raise InputFileError(f"section ids must differ; got {names} (pass --section to name them)")
    for name in names:
        if "/" in name:
            raise InputFileError(f"section id {name!r} must not contain '/' (it names the tile keys <section>/<x>_<y>)")
    if splits is not None:
        unknown = {k: v for k, v in splits.items() if v not in SPLITS}
        missing = [n for n in names if n not in splits]
        if unknown or missing:
            raise InputFileError(
                f"--split must give every section one of {', '.join(SPLITS)} "
                f"({'missing: ' + ', '.join(missing) if missing else 'not a split: ' + str(unknown)}), e.g. C2=train"
            )


def _obs(section: Section, splits: Mapping[str, str] | None, tissue: str) -> pd.DataFrame:
    spots = section.spots
    obs = pd.DataFrame(index=section.sample_ids())
    obs["donor_id"] = section.donor_id
    obs["tissue"] = spots["tissue"].to_numpy() if "tissue" in spots else tissue
    if splits is not None:
        obs["split"] = splits[section.section_id]
    obs["section"] = section.section_id
    obs["spot"] = spots.index.to_numpy()
    for column in ("x", "y", "pixel_x", "pixel_y", "cluster", "annotation"):
        if column in spots:
            obs[column] = spots[column].to_numpy()
    return obs


def _counts(sections: Sequence[Section]) -> pd.DataFrame:
    """Spots of every section × the union of their genes; a gene a section's table lacks counts 0 there."""
    frames = [s.counts.set_axis(s.sample_ids(), axis=0) for s in sections]
    genes = pd.Index(pd.unique(np.concatenate([f.columns.to_numpy(dtype=str) for f in frames])))
    return pd.concat([f.reindex(columns=genes, fill_value=0.0) for f in frames]).astype(np.float32)


def _encoded_patches(section: Section, geometry: PatchGeometry, image_format: str) -> tuple[pd.DataFrame, list[bytes]]:
    rows, blobs = [], []
    sample_of = dict(zip(section.spots.index, section.sample_ids(), strict=True))
    for patch in cut_patches(section, geometry):
        rows.append(
            {
                "key": tile_key(section.section_id, patch.x, patch.y),
                "slide_id": section.section_id,
                "sample_id": sample_of[patch.spot],
                "x": patch.x,
                "y": patch.y,
                "spot": patch.spot,
                "patch": patch.index,
            }
        )
        blobs.append(encode_tile(patch.pixels, image_format))
    section.image.close()  # one decoded full-resolution image at a time
    index = pd.DataFrame(rows)
    if index["key"].duplicated().any():
        raise InputFileError(
            f"{section.section_id}: two patches share a corner; raise --jitter-um or lower --patches-per-spot"
        )
    index["level"] = np.int64(0)
    index["mpp"] = float(geometry.mpp)
    index["tissue_fraction"] = np.float32(np.nan)
    index["section"] = section.section_id
    extra = [c for c in index.columns if c not in INDEX_COLUMNS]
    return index[[*INDEX_COLUMNS, *extra]], blobs


def _write_expression(workspace: Workspace, counts: pd.DataFrame, obs: pd.DataFrame) -> None:
    import anndata

    obs = obs.reindex(columns=[c for c in OBS_COLUMNS if c in obs.columns])
    for column in obs.columns:
        if obs[column].dtype == object:
            obs[column] = obs[column].astype(str)
    adata = anndata.AnnData(
        X=sparse.csr_matrix(counts.to_numpy(np.float32)), obs=obs, var=pd.DataFrame(index=counts.columns)
    )
    with atomic_path(expression_file(workspace), suffix=".h5ad") as tmp:
        adata.write_h5ad(tmp, compression="gzip")


def _summary(
    sections: Sequence[Section], geometry: PatchGeometry, index: pd.DataFrame, splits: Mapping[str, str] | None
) -> dict[str, object]:
    return {
        "geometry": {**asdict(geometry), "patch_px": geometry.size},
        "splits": dict(splits) if splits is not None else None,
        "sections": [
            {
                "section": s.section_id,
                "donor": s.donor_id,
                "spots": len(s.spots),
                "genes": s.counts.shape[1],
                "image_mpp": s.mpp,
                "patches": int((index["slide_id"] == s.section_id).sum()),
                **s.sources,
            }
            for s in sections
        ],
    }
