"""Tiles paired with expression: every tile of a training sample, carrying that sample's VAE latent μ.

What both generator families (the GAN, the flow-matching model) train on. Slides pair with expression
samples by a mapping file, by the sample IDs they were tiled with, or by GTEx rules; the pairing is
written to ``tiles/pairing.csv`` so every later stage agrees. The cap on tiles per sample is drawn with
the run's seed (the published code's was unseeded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch

from rnagan.errors import InputFileError
from rnagan.expression.gtex import pair_by_donor
from rnagan.fileio import atomic_path
from rnagan.slides.dataset import read_tile_index
from rnagan.workspace import Workspace, read_samples


@dataclass
class PairedData:
    """Tiles kept for training (``tiles``: key, sample_id, tissue, row) and the latent table they index.

    ``latents`` holds one row of raw μ per sample in ``sample_ids`` order (float32, (n_samples, d));
    ``tiles.row`` points into it. ``profiles`` is μ of *every* sample with a latent (all splits), with
    its tissue and split, used for the fixed sample grids. ``report`` counts what was paired and dropped.
    """

    tiles: pd.DataFrame
    sample_ids: list[str]
    latents: torch.Tensor
    profiles: pd.DataFrame
    report: dict[str, int] = field(default_factory=dict)
    pairing: pd.DataFrame = field(default_factory=pd.DataFrame)  # slide_id → sample_id, rule (renamed slides)

    @property
    def latent_dim(self) -> int:
        return int(self.latents.shape[1])


def read_latents(path: Path) -> pd.DataFrame:
    """``latents.parquet`` → DataFrame indexed by sample_id with only the ``mu_*`` columns, in order."""
    if not path.is_file():
        raise InputFileError(f"no latent table at {path} (run `rnagan vae encode` first)")
    table = pd.read_parquet(path)
    if "sample_id" in table.columns:
        table = table.set_index("sample_id")
    mu_cols = sorted((c for c in table.columns if str(c).startswith("mu_")), key=lambda c: int(str(c)[3:]))
    if not mu_cols:
        raise InputFileError(f"latent table {path} has no mu_0..mu_{{d-1}} columns")
    mu = table[mu_cols].astype("float32")
    if not np.isfinite(mu.to_numpy()).all():
        raise InputFileError(f"latent table {path} holds NaN or Inf values")
    mu.index = mu.index.astype(str)
    return mu


def read_mapping(path: Path) -> pd.DataFrame:
    """A user's pairing file: CSV with slide_id and sample_id columns, one row per slide."""
    if not Path(path).is_file():
        raise InputFileError(f"pairing file {path} not found: give a CSV with the columns slide_id,sample_id")
    table = pd.read_csv(path, dtype=str)
    if not {"slide_id", "sample_id"} <= set(table.columns) or table["slide_id"].duplicated().any():
        raise InputFileError(
            f"{path} needs the columns slide_id,sample_id with one row per slide, got columns {list(table.columns)}"
        )
    return table.set_index("slide_id")[["sample_id"]].assign(rule="mapping file")


def resolve_pairing(index: pd.DataFrame, samples: pd.DataFrame, mapping: Path | None = None) -> pd.DataFrame:
    """Which expression sample each renamed slide belongs to (index slide_id; sample_id, rule).

    With ``mapping`` (a slide_id,sample_id CSV) it decides alone. Otherwise slides whose tiles already
    name an expression sample keep it, and GTEx slides (``GTEX-1117F-0126``) pair with their tissue
    sample's RNA aliquot, else their donor's only sample (:func:`rnagan.expression.gtex.pair_by_donor`).
    """
    if mapping is not None:
        return read_mapping(mapping)
    known = index["sample_id"].astype(str).isin(samples.index)
    unpaired_slides = sorted(set(index.loc[~known, "slide_id"].astype(str)) - set(index.loc[known, "slide_id"]))
    return pair_by_donor(unpaired_slides, samples)


def write_pairing(workspace: Workspace, pairing: pd.DataFrame) -> None:
    """``tiles/pairing.csv``: read back by :func:`~rnagan.slides.dataset.read_tile_index` for every stage."""
    with atomic_path(workspace.tile_pairing, suffix=".csv") as tmp:
        pairing.rename_axis("slide_id").reset_index().to_csv(tmp, index=False)


class PairingSettings(Protocol):
    """What pairing reads of a generator's config section (``GANConfig``, ``FlowConfig``)."""

    seed: int
    tiles_per_sample: int


def pair_tiles(workspace: Workspace, config: PairingSettings, *, mapping: Path | None = None) -> PairedData:
    """Join the tile index, the latent table and the samples table; keep train samples; cap tiles.

    Slides are first paired with expression samples (:func:`resolve_pairing`); a sample keeps at most
    ``config.tiles_per_sample`` tiles, drawn with ``config.seed``. Raises :class:`InputFileError` when
    nothing pairs, naming how many IDs each file had.
    """
    index = read_tile_index(workspace.tile_index, paired=False)
    latents = read_latents(workspace.latents)
    samples = read_samples(workspace)

    pairing = resolve_pairing(index, samples, mapping)
    index = index.assign(sample_id=index["sample_id"].astype(str))
    renamed = index["slide_id"].astype(str).map(pairing["sample_id"])
    index["sample_id"] = renamed.fillna(index["sample_id"])
    tile_ids, latent_ids = set(index["sample_id"]), set(latents.index)
    train_ids = set(samples.index[samples["split"] == "train"])
    paired = sorted(tile_ids & latent_ids & train_ids)
    report = {
        "samples_with_tiles": len(tile_ids),
        "samples_with_latents": len(latent_ids),
        "train_samples": len(train_ids),
        "samples_paired": len(paired),
        "train_samples_without_tiles": len((latent_ids & train_ids) - tile_ids),
        "train_samples_without_latents": len((tile_ids & train_ids) - latent_ids),
        "tiles_total": len(index),
        **{f"slides_paired_by_{rule.replace(' ', '_')}": int(n) for rule, n in pairing["rule"].value_counts().items()},
    }
    if not paired:
        raise InputFileError(
            f"no training sample has both tiles and a latent: {len(tile_ids)} sample IDs in "
            f"{workspace.tile_index}, {len(latent_ids)} in {workspace.latents}, {len(train_ids)} train samples "
            f"in {workspace.samples_table}, none in all three (are the IDs spelled the same way?)"
        )

    rng = np.random.default_rng(config.seed)
    kept = []
    for _sid, group in index[index["sample_id"].isin(paired)].groupby("sample_id", sort=True):
        if len(group) > config.tiles_per_sample:
            group = group.iloc[np.sort(rng.choice(len(group), config.tiles_per_sample, replace=False))]
        kept.append(group)
    tiles = pd.concat(kept, ignore_index=True)[["key", "sample_id"]]
    row_of = {sid: i for i, sid in enumerate(paired)}
    tiles["row"] = tiles["sample_id"].map(row_of).astype("int64")
    tiles["tissue"] = tiles["sample_id"].map(samples["tissue"]).astype(str)
    report["tiles_paired"] = len(tiles)
    report["tiles_dropped"] = len(index) - len(tiles)

    profiles = latents.join(samples[["tissue", "split"]], how="inner")
    return PairedData(
        tiles=tiles,
        sample_ids=paired,
        latents=torch.from_numpy(latents.loc[paired].to_numpy(copy=True)),
        profiles=profiles,
        report=report,
        pairing=pairing,
    )
