"""Train on synthetic, test on real (TSTR) beside train on real, test on real (TRTR): the utility of generated tiles.

The same classifier as conditioning fidelity (:func:`rnagan.evaluate.classify.train_classifier`: a
ResNet-18 from scratch, ``evaluate.classifier_*`` settings) is trained twice, on generated tiles labelled
by their profile's tissue and on real training tiles, and both are scored on the same real held-out
tiles. Each training set keeps a fifth of its own groups (profiles; samples) for the best-validation
reload, so the synthetic arm never sees a real tile. TSTR / TRTR accuracy near 1 means the generated
tiles teach the classes as well as real ones (Esteban et al. 2017)::

    result = workspace_tstr(Workspace("demo"), preset("small"), runs=("rnagan", "baseline"))
    result["runs"]["rnagan"]["ratio"]["accuracy"]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from rnagan.config import Config, EvaluateConfig
from rnagan.errors import InputFileError
from rnagan.evaluate.classify import classification_metrics, train_classifier
from rnagan.samples import read_manifest
from rnagan.slides.dataset import read_tile_index
from rnagan.slides.store import TileStore
from rnagan.workspace import Workspace, read_samples


@dataclass
class LabelledTiles:
    """uint8 tiles (N, 3, H, W), a label and a group (profile, sample) per tile."""

    tiles: torch.Tensor
    labels: list[str]
    groups: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: np.ndarray) -> LabelledTiles:
        index = np.flatnonzero(keep)
        return LabelledTiles(
            self.tiles[torch.from_numpy(index)], [self.labels[i] for i in index], [self.groups[i] for i in index]
        )


def hold_out_groups(tiles: LabelledTiles, fraction: float, seed: int) -> tuple[LabelledTiles, LabelledTiles]:
    """(train, validation): ``fraction`` of each label's groups, drawn with ``seed``, go to validation."""
    rng = np.random.default_rng(seed)
    labels, groups = np.asarray(tiles.labels), np.asarray(tiles.groups)
    val_groups: list[str] = []
    for label in sorted(set(tiles.labels)):
        names = rng.permutation(np.unique(groups[labels == label]))
        val_groups += names[: max(1, round(fraction * len(names)))].tolist() if len(names) > 1 else []
    in_val = np.isin(groups, val_groups)
    return tiles.subset(~in_val), tiles.subset(in_val)


def _fit_and_score(train_set: LabelledTiles, real_test: LabelledTiles, cfg: EvaluateConfig) -> dict[str, Any]:
    """The fidelity classifier trained on ``train_set`` (a fifth of its groups for validation), scored on real tiles."""
    train, val = hold_out_groups(train_set, 0.2, cfg.seed)
    classifier = train_classifier(
        train.tiles, train.labels, val.tiles, val.labels,
        epochs=cfg.classifier_epochs, lr=cfg.classifier_lr, batch_size=cfg.classifier_batch_size,
        image_size=cfg.classifier_image_size, seed=cfg.seed, device="cpu" if cfg.device == "auto" else cfg.device,
    )  # fmt: skip
    proba = classifier.predict_proba(real_test.tiles)
    return {**classification_metrics(real_test.labels, proba, classifier.classes), "n_train": len(train)}


def train_on_synthetic(
    synthetic: dict[str, LabelledTiles], real_train: LabelledTiles, real_test: LabelledTiles, cfg: EvaluateConfig
) -> dict[str, Any]:
    """TRTR once, TSTR per generated run, all on ``real_test``; each run's ratio TSTR / TRTR per metric."""
    for run, tiles in synthetic.items():
        missing = sorted(set(real_test.labels) - set(tiles.labels))
        if missing:
            raise InputFileError(f"run {run} has no generated tiles of the tissues {missing}: TSTR cannot score them")
    trtr = _fit_and_score(real_train, real_test, cfg)
    runs = {}
    for run, tiles in synthetic.items():
        tstr = _fit_and_score(tiles, real_test, cfg)
        ratio = {m: tstr[m] / trtr[m] if trtr[m] else None for m in ("accuracy", "f1_macro", "auc_macro")}
        runs[run] = {"tstr": tstr, "ratio": ratio}
    return {"trtr": trtr, "runs": runs, "n_test": len(real_test)}


def _store_tiles(workspace: Workspace, split: str, limit: int | None, seed: int) -> LabelledTiles:
    index = read_tile_index(workspace.tile_index).astype({"sample_id": str})
    samples = read_samples(workspace).reset_index()[["sample_id", "tissue", "split"]].astype(str)
    rows = index.merge(samples, on="sample_id")
    rows = rows[rows["split"] == split]
    if limit is not None and len(rows) > limit:
        rows = rows.sample(n=limit, random_state=seed)
    with TileStore(workspace.tile_store) as store:
        tiles = [torch.from_numpy(np.array(store.get(k))).permute(2, 0, 1) for k in rows["key"]]
    return LabelledTiles(_stack(tiles, split), rows["tissue"].tolist(), rows["sample_id"].tolist())


def _generated_tiles(workspace: Workspace, run: str) -> LabelledTiles:
    manifest: pd.DataFrame = read_manifest(workspace.samples_run(run))
    manifest = manifest[manifest["perturbation"] == ""]
    tiles = []
    for path in manifest["path"]:
        with Image.open(path) as image:
            tiles.append(torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1))
    return LabelledTiles(_stack(tiles, run), manifest["tissue"].tolist(), manifest["profile"].tolist())


def _stack(tiles: list[torch.Tensor], what: str) -> torch.Tensor:
    if not tiles:
        raise InputFileError(f"no tiles for {what}: TSTR needs generated tiles and real train and test tiles")
    return torch.stack(tiles)


def workspace_tstr(workspace: Workspace, config: Config, *, runs: tuple[str, ...] = ("rnagan",)) -> dict[str, Any]:
    """TSTR for each generated run of a workspace beside TRTR: real train split to learn, real test split to score.

    To add it to ``rnagan evaluate``: a ``tstr`` field on :class:`~rnagan.evaluate.results.EvaluationResult`,
    filled with ``workspace_tstr(workspace, config, runs=present)``, ``present`` the runs whose samples folder exists.
    """
    cfg = config.evaluate
    synthetic = {run: _generated_tiles(workspace, run) for run in runs}
    real_train = _store_tiles(workspace, "train", cfg.classifier_max_tiles, cfg.seed)
    real_test = _store_tiles(workspace, "test", cfg.fidelity_max_tiles, cfg.seed)
    return train_on_synthetic(synthetic, real_train, real_test, cfg)
