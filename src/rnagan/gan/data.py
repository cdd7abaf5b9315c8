"""The GAN's paired data: every tile of a training sample, carrying that sample's VAE latent μ.

What differs from the published code, and why:

- batches are drawn from one **seeded permutation** per epoch (of all tiles, or of one tile per
  sample with ``gan.balance: sample``), so every batch mixes slides and tissues; the
  published loader was unshuffled and slide-ordered, so a batch held one slide, which (with its
  per-batch standardisation) erased the expression signal;
- the cap on tiles per sample is drawn **with the run's seed** and recorded (published: unseeded);
- the order is a pure function of (seed, epoch, position), so ``--resume`` continues the same order;
- augmentation (:func:`rnagan.slides.augment.augment`: flips, 90° rotations, mild colour jitter)
  runs on the batch in the training process, on the training device, with the global RNG that the
  checkpoint saves.

Tiles are stored uint8 at ``image_size`` (resized with antialiasing once when read); small cohorts
are held in memory whole, which on two CPU cores saves a PNG/JPEG decode per tile per step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from rnagan.config import GANConfig
from rnagan.errors import InputFileError
from rnagan.expression.gtex import pair_by_donor
from rnagan.fileio import atomic_path
from rnagan.slides.augment import resize_tiles
from rnagan.slides.dataset import TileDataset, read_tile_index
from rnagan.workspace import Workspace, read_samples

log = logging.getLogger(__name__)


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


def pair_tiles(workspace: Workspace, config: GANConfig, *, mapping: Path | None = None) -> PairedData:
    """Join the tile index, the latent table and the samples table; keep train samples; cap tiles.

    Slides are first paired with expression samples (:func:`resolve_pairing`). Raises
    :class:`InputFileError` when nothing pairs, naming how many IDs each file had.
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


class PairedTileDataset(Dataset):
    """Item i → (tile uint8 (3, S, S), latent row index). μ itself is looked up on the device."""

    def __init__(self, store_path: Path, tiles: pd.DataFrame, image_size: int, *, cache_mb: float = 0) -> None:
        self.tiles = TileDataset(store_path, tiles)
        self.rows = torch.as_tensor(tiles["row"].to_numpy())
        self.image_size = image_size
        self.cache: torch.Tensor | None = None
        if len(tiles) * 3 * image_size**2 <= cache_mb * 2**20:
            self.cache = torch.stack([self._load(i) for i in range(len(tiles))])  # (N, 3, S, S) uint8

    def _load(self, i: int) -> torch.Tensor:
        return resize_tiles(self.tiles[i], self.image_size)  # (3, S, S) uint8

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        tile = self.cache[i] if self.cache is not None else self._load(i)
        return tile, self.rows[i]
