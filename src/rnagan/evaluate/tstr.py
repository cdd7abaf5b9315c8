"""Train on synthetic, test on real (TSTR) beside train on real, test on real (TRTR): the utility of generated tiles.

The same classifier as conditioning fidelity (:func:`rnagan.evaluate.classify.train_classifier`: a
ResNet-18 from scratch, ``evaluate.classifier_*`` settings) is trained twice, on generated tiles labelled
by their profile's tissue and on real training tiles, and both are scored on the same real held-out
tiles. Each training set keeps a fifth of its own groups (profiles; samples) for the best-validation
reload, so the synthetic arm never sees a real tile. TSTR / TRTR accuracy near 1 means the generated
tiles teach the classes as well as real ones (Esteban et al. 2017). Tiles are held as keys and paths and
decoded a batch at a time, so a split of any size trains in flat memory; ``evaluate.device`` ``auto``
takes the GPU where there is one::

    result = workspace_tstr(Workspace("demo"), preset("small"), runs=("rnagan", "baseline"))
    result["runs"]["rnagan"]["ratio"]["accuracy"]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rnagan.config import Config, EvaluateConfig
from rnagan.errors import InputFileError
from rnagan.evaluate.classify import classification_metrics, train_classifier
from rnagan.runtime import pick_device
from rnagan.samples import manifest_tiles, read_manifest
from rnagan.slides.dataset import read_tile_index
from rnagan.slides.tilesets import StoreTiles, TileSet, take
from rnagan.workspace import Workspace, read_samples


@dataclass
class LabelledTiles:
    """Lazy uint8 tiles (N, 3, H, W), decoded a batch at a time, and a label and a group (profile, sample) each."""

    tiles: TileSet
    labels: list[str]
    groups: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: np.ndarray) -> LabelledTiles:
        index = np.flatnonzero(keep)
        return LabelledTiles(take(self.tiles, index), [self.labels[i] for i in index], [self.groups[i] for i in index])


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
        image_size=cfg.classifier_image_size, seed=cfg.seed, device=pick_device(cfg.device),
    )  # fmt: skip
    proba = classifier.predict_proba(real_test.tiles)
    scores = classification_metrics(real_test.labels, proba, classifier.classes)
    return scores | {"log_loss": log_loss(real_test.labels, proba, classifier.classes), "n_train": len(train)}


def log_loss(labels: list[str], proba: np.ndarray, classes: list[str]) -> float:
    """Mean −ln p(true tissue) over the real tiles: a classifier that learnt nothing scores about ln C however its
    guesses happen to fall, where accuracy can land near 0 or 1 by the luck of an arbitrary colour rule."""
    truth = np.array([classes.index(c) for c in labels])
    return float(-np.log(np.clip(proba[np.arange(len(truth)), truth], 1e-12, None)).mean())


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


def _store_tiles(workspace: Workspace, split: str, cfg: EvaluateConfig, limit: int | None) -> LabelledTiles:
    """A split's tiles of the store, at most ``limit`` drawn with the seed: keys only, nothing decoded yet."""
    index = read_tile_index(workspace.tile_index).astype({"sample_id": str})
    samples = read_samples(workspace).reset_index()[["sample_id", "tissue", "split"]].astype(str)
    rows = index.merge(samples, on="sample_id")
    rows = rows[rows["split"] == split]
    if limit is not None and len(rows) > limit:
        rows = rows.sample(n=limit, random_state=cfg.seed)
    _require(len(rows), split)
    tiles = StoreTiles(workspace.tile_store, rows["key"].tolist(), cfg.classifier_image_size)
    return LabelledTiles(tiles, rows["tissue"].tolist(), rows["sample_id"].tolist())


def _generated_tiles(workspace: Workspace, run: str, cfg: EvaluateConfig) -> LabelledTiles:
    """A run's generated tiles of unperturbed profiles, by path or store key: nothing decoded yet."""
    folder = workspace.samples_run(run)
    manifest: pd.DataFrame = read_manifest(folder)
    manifest = manifest[manifest["perturbation"] == ""]
    _require(len(manifest), run)
    tiles = manifest_tiles(folder, manifest, cfg.classifier_image_size)
    return LabelledTiles(tiles, manifest["tissue"].tolist(), manifest["profile"].tolist())


def _require(n: int, what: str) -> None:
    if not n:
        raise InputFileError(f"no tiles for {what}: TSTR needs generated tiles and real train and test tiles")


def workspace_tstr(workspace: Workspace, config: Config, *, runs: tuple[str, ...] = ("rnagan",)) -> dict[str, Any]:
    """TSTR for each generated run of a workspace beside TRTR: real train split to learn, real test split to score.

    To add it to ``rnagan evaluate``: a ``tstr`` field on :class:`~rnagan.evaluate.results.EvaluationResult`,
    filled with ``workspace_tstr(workspace, config, runs=present)``, ``present`` the runs whose samples folder exists.
    """
    cfg = config.evaluate
    synthetic = {run: _generated_tiles(workspace, run, cfg) for run in runs}
    real_train = _store_tiles(workspace, "train", cfg, cfg.classifier_max_tiles)
    real_test = _store_tiles(workspace, "test", cfg, cfg.fidelity_max_tiles)
    return train_on_synthetic(synthetic, real_train, real_test, cfg)
