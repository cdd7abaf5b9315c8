"""``rnagan spatial evaluate``: the paired evaluation of a spatial workspace (see :mod:`rnagan.evaluate.paired`).

Reads the import's counts (``spatial/expression.h5ad``), the real patches (tile store), and the generated
tiles of each run (``samples/<run>/manifest.csv``, profile = spot sample id); writes::

    reports/paired.json         per set (real, real-shuffled, each run): gene r, marker r, accuracy, C2ST;
                                permutation p of each run; the headline ratios; the probe's settings
    reports/spatial_layout.png  the held-out section at its spot positions: real patches, then each run
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from rnagan.config import Config
from rnagan.errors import InputFileError
from rnagan.evaluate.layout import layout_figure
from rnagan.evaluate.paired import Probe, Targets, c2st_accuracy, measured_targets, permutation_p, set_scores, summarise
from rnagan.evaluate.sizes import common_size, tiles_size
from rnagan.evaluate.texture import stain_features
from rnagan.fileio import write_bytes_atomic, write_json_atomic
from rnagan.samples import manifest_tiles, read_manifest
from rnagan.slides.dataset import read_tile_index
from rnagan.slides.store import TileStore
from rnagan.spatial.prepare import read_imported
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)

LAYOUT_FILE = "spatial_layout.png"
PAIRED_FILE = "paired.json"


def evaluate_paired(
    workspace: Workspace,
    config: Config,
    *,
    runs: Mapping[str, Path] | None = None,
    ours: str = "rnagan",
    floor: str = "shuffled",
    split: str = "test",
) -> dict[str, Any]:
    """Score the real patches and each run's tiles of the ``split`` spots; write reports/paired.json + the layout."""
    settings = config.spatial
    runs = dict(runs or {})
    size = common_size([(name, tiles_size(folder)) for name, folder in runs.items()], config.gan.image_size)
    trained = train_probe(workspace, config, size, split=split)
    probe, featurize, targets, obs = trained.probe, trained.featurize, trained.targets, trained.obs
    train, test = trained.train, trained.test
    test_features = featurize(list(test["tile"]))
    shuffled_spots = _shuffled(test["sample_id"], settings.seed)
    sets = {"real": _score(probe, test_features, test["sample_id"], targets)}
    sets["real-shuffled"] = _score(probe, test_features, shuffled_spots, targets)
    generated: dict[str, pd.DataFrame] = {}
    for name, folder in runs.items():
        generated[name] = _generated_tiles(folder, set(test["sample_id"]))
        features = featurize(list(generated[name]["tile"]))
        sets[name] = _score(probe, features, generated[name]["sample_id"], targets)
        sets[name]["c2st_accuracy"] = c2st_accuracy(test_features, features, seed=settings.seed)
        values, _ = probe.predict(features, generated[name]["sample_id"])
        sets[name]["permutation"] = permutation_p(
            values[probe.marker_columns], targets.markers, permutations=settings.permutations, seed=settings.seed
        )
    metrics = {
        "split": split,
        "sections": sorted(obs.loc[obs["split"] == split, "section"].unique().tolist()),
        "train_sections": sorted(obs.loc[obs["split"] == "train", "section"].unique().tolist()),
        "probe": _probe_facts(config, probe, train, targets, size),
        "sets": sets,
        "headline": summarise(sets, ours=ours, floor=floor) if {ours, floor} <= set(sets) else None,
    }
    workspace.reports.mkdir(parents=True, exist_ok=True)
    write_json_atomic(workspace.reports / PAIRED_FILE, metrics)
    panels = {"real": test, **generated}
    write_bytes_atomic(
        workspace.reports / LAYOUT_FILE, layout_figure(obs.loc[test["sample_id"].unique()], panels, config)
    )
    return metrics


@dataclass
class TrainedProbe:
    """The probe fitted on the real patches of the training spots, with what scoring other tiles needs."""

    probe: Probe
    featurize: Callable[[list[torch.Tensor]], np.ndarray]
    targets: Targets
    obs: pd.DataFrame
    train: pd.DataFrame  # the real patches it was fitted on (sample_id, split, tile)
    test: pd.DataFrame  # the real patches of the held-out spots


def train_probe(workspace: Workspace, config: Config, size: int, *, split: str = "test") -> TrainedProbe:
    """Fit the paired probe (``config.spatial.probe_features``) on real training patches at ``size`` px."""
    settings = config.spatial
    counts, obs = read_imported(workspace)
    targets = measured_targets(counts, obs, n_genes=settings.probe_genes)
    real = _real_patches(workspace, obs, size)
    train, test = real[real["split"] == "train"], real[real["split"] == split]
    if train.empty or test.empty:
        raise InputFileError(f"{workspace.tile_index}: the paired evaluation needs patches of train and {split} spots")
    featurize = _featurizer(config, size)
    train_features = featurize(list(train["tile"]))
    probe = Probe.fit(train_features, train["sample_id"], targets, alphas=settings.ridge_alphas, seed=settings.seed)
    return TrainedProbe(probe, featurize, targets, obs, train, test)


def _real_patches(workspace: Workspace, obs: pd.DataFrame, size: int) -> pd.DataFrame:
    """Every patch of a spot with a split: sample_id, split, and the patch at the runs' size (uint8 (3, S, S))."""
    index = read_tile_index(workspace.tile_index)
    index = index[index["sample_id"].astype(str).isin(obs.index)].copy()
    index["sample_id"] = index["sample_id"].astype(str)
    index["split"] = index["sample_id"].map(obs["split"]).astype(str)
    with TileStore(workspace.tile_store) as store:
        index["tile"] = [_resized(store.get(key), size) for key in index["key"]]
    return index.reset_index(drop=True)


def _resized(tile: np.ndarray, size: int) -> torch.Tensor:
    """As the GAN saw a stored patch: resized (antialiased) to the size it was trained at."""
    image = Image.fromarray(np.ascontiguousarray(tile))
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=None)
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)


def _generated_tiles(folder: Path, spots: set[str]) -> pd.DataFrame:
    manifest = read_manifest(folder)
    manifest = manifest[manifest["profile"].astype(str).isin(spots)]
    if manifest.empty:
        raise InputFileError(f"{folder}: no generated tile of the held-out spots (generate them with --split test)")
    tiles = manifest_tiles(folder, manifest, 0)  # read as drawn, not resized
    return pd.DataFrame(
        {
            "sample_id": manifest["profile"].astype(str).to_numpy(),
            "tile": [tiles.stored(i) for i in range(len(tiles))],
        }
    )


def _featurizer(config: Config, size: int) -> Callable[[list[torch.Tensor]], np.ndarray]:
    settings = config.spatial
    if settings.probe_features == "stain":
        return lambda tiles: stain_features(torch.stack(tiles), size=size)
    from rnagan.evaluate.features import InceptionFeatures

    extractor = InceptionFeatures.load(device="cpu", batch_size=config.evaluate.fid_batch_size)
    return lambda tiles: extractor.extract(tiles)


def _shuffled(spots: pd.Series, seed: int) -> pd.Series:
    """Each tile relabelled with another spot (one seeded permutation of the spots): the real-patch floor."""
    unique = spots.unique()
    mapping = dict(zip(unique, np.random.default_rng(seed).permutation(unique), strict=True))
    return spots.map(mapping)


def _score(probe: Probe, features: np.ndarray, spots: pd.Series, targets: Targets) -> dict[str, Any]:
    values, proba = probe.predict(features, spots)
    return set_scores(probe, values, proba, targets)


def _probe_facts(config: Config, probe: Probe, train: pd.DataFrame, targets: Targets, size: int) -> dict[str, Any]:
    return {
        "features": config.spatial.probe_features,
        "image_size": size,
        "train_patches": len(train),
        "train_spots": int(train["sample_id"].nunique()),
        "genes": probe.gene_columns,
        "markers": probe.marker_columns,
        "classes": [str(c) for c in probe.classifier.classes_],
        "test_class_counts": targets.labels[targets.split == "test"].value_counts().to_dict(),
    }
