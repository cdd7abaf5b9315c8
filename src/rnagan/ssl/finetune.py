"""Fine-tuning on labelled real tiles with stratified, grouped k-fold cross-validation, one run per arm.

Every arm (a backbone initialisation: random, or a SimCLR checkpoint) sees the same folds, the same
label draws and the same seeds, so fold accuracies pair across arms. Within a fold:

- the test part is one fold of :class:`~sklearn.model_selection.StratifiedGroupKFold` (groups: source
  image or slide, so no tile and its augmented copy sit on both sides);
- the labelled part is a share of the other folds' groups, drawn per class with the fold's seed and
  nested (the 10 % groups are among the 25 % ones);
- ``ssl.val_fraction`` of those groups are held out for the best-validation reload (paper: 40 epochs,
  the epoch with the lowest validation loss is kept).
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from rnagan.config import Config
from rnagan.errors import InputFileError
from rnagan.runtime import evaluating, seed_everything
from rnagan.slides.augment import random_flips
from rnagan.ssl.backbone import Classifier, make_backbone, normalize
from rnagan.ssl.sources import TileSet
from rnagan.ssl.stats import compare, summarise

METRICS = ("accuracy", "f1_macro", "auc")


def make_folds(labels: np.ndarray, groups: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs: stratified by label, no group in two test folds."""
    smallest = min(len(np.unique(groups[labels == c])) for c in np.unique(labels))
    if smallest < k:
        raise InputFileError(
            f"{k}-fold cross-validation needs >= {k} groups per class, the smallest class has {smallest}"
        )
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels, groups))


def draw_groups(index: np.ndarray, labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The tiles of ``fraction`` of the groups of each class (at least 2 groups), nested across fractions."""
    rng = np.random.default_rng(seed)
    keep: list[str] = []
    for label in np.unique(labels[index]):
        names = np.unique(groups[index][labels[index] == label])
        order = rng.permutation(names)  # the same order for every fraction: draws are nested
        keep += order[: max(2, math.ceil(fraction * len(names)))].tolist()
    return index[np.isin(groups[index], keep)]


def split_validation(
    index: np.ndarray, labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) of ``index``: about ``fraction`` of its groups for validation, stratified by label.

    With fewer groups in a class than ``1 / fraction`` (low label shares of small sets), a larger share goes
    to validation: every class keeps at least one group on each side."""
    fewest = min(len(np.unique(groups[index][labels[index] == c])) for c in np.unique(labels[index]))
    n_splits = max(2, min(round(1 / fraction), fewest))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # few groups per class at low label fractions: sklearn warns, still splits
        warnings.simplefilter("ignore", UserWarning)
        train, val = next(splitter.split(np.zeros(len(index)), labels[index], groups[index]))
    return index[train], index[val]


@dataclass
class Split:
    """One fine-tuning run's tiles: indices into the labelled set."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def build_classifier(config: Config, n_classes: int, init: dict[str, torch.Tensor] | None, seed: int) -> Classifier:
    """The classifier an arm starts from: the same random weights for every arm (``seed``), then ``init``."""
    seed_everything(seed)
    backbone, dim = make_backbone(config.ssl.backbone)
    if init is not None:
        backbone.load_state_dict(init)  # strict: a SimCLR checkpoint of another backbone raises
    return Classifier(backbone, dim, n_classes)


def _loss(model: Classifier, tiles: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    with evaluating(model):
        logits = torch.cat([model(normalize(tiles[i : i + 64].to(device))) for i in range(0, len(tiles), 64)])
    return float(F.cross_entropy(logits.cpu(), y))


def predict_proba(model: Classifier, tiles: torch.Tensor, device: torch.device) -> np.ndarray:
    with evaluating(model):
        chunks = [model(normalize(tiles[i : i + 64].to(device))).float().softmax(1) for i in range(0, len(tiles), 64)]
    return torch.cat(chunks).cpu().numpy()


def finetune_once(
    model: Classifier, data: TileSet, y: torch.Tensor, split: Split, config: Config, *, seed: int, device: torch.device
) -> dict[str, Any]:
    """Train all layers with AdamW and cross-entropy on logits; reload the epoch of lowest validation loss.

    Stops ``ssl.finetune_patience`` epochs after the last new best (early stopping on the validation
    groups), or after ``ssl.finetune_epochs``: the same rule for every arm, scratch included.
    """
    cfg = config.ssl
    model.to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.finetune_lr, weight_decay=cfg.finetune_weight_decay)
    generator = torch.Generator().manual_seed(seed)
    train_tiles, train_y = data.tiles[split.train], y[split.train]
    val_tiles, val_y = data.tiles[split.val], y[split.val]
    best_loss, best_state, best_epoch, epochs_run = math.inf, copy.deepcopy(model.state_dict()), 0, 0
    started = time.monotonic()
    for epoch in range(1, cfg.finetune_epochs + 1):
        model.train()
        order = torch.randperm(len(train_tiles), generator=generator)
        for start in range(0, len(order), cfg.finetune_batch_size):
            batch = order[start : start + cfg.finetune_batch_size]
            if len(batch) < 2:
                continue  # BatchNorm needs two tiles
            x = random_flips(normalize(train_tiles[batch].to(device)), generator=generator)
            loss = F.cross_entropy(model(x), train_y[batch].to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        epochs_run = epoch
        val_loss = _loss(model, val_tiles, val_y, device)
        if val_loss < best_loss:
            best_loss, best_state, best_epoch = val_loss, copy.deepcopy(model.state_dict()), epoch
        if cfg.finetune_patience is not None and epoch - best_epoch >= cfg.finetune_patience:
            break
    model.load_state_dict(best_state)
    proba = predict_proba(model, data.tiles[split.test], device)
    return {
        **classification_scores(y[split.test].numpy(), proba),
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "val_loss": best_loss,
        "n_train": len(split.train),
        "n_val": len(split.val),
        "n_test": len(split.test),
        "seconds": time.monotonic() - started,
    }


def classification_scores(truth: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro F1, AUC (binary: of class 1; more classes: macro one-vs-rest) and the confusion matrix."""
    n_classes = proba.shape[1]
    predicted = proba.argmax(1)
    if len(np.unique(truth)) < 2:
        auc = None
    elif n_classes == 2:
        auc = float(roc_auc_score(truth, proba[:, 1]))
    else:
        auc = float(roc_auc_score(truth, proba, multi_class="ovr", average="macro", labels=range(n_classes)))
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1_macro": float(f1_score(truth, predicted, average="macro", labels=range(n_classes), zero_division=0)),
        "auc": auc,
        "confusion": confusion_matrix(truth, predicted, labels=range(n_classes)).tolist(),
    }


def fold_splits(data: TileSet, config: Config, fraction: float) -> list[Split]:
    """Every fold's (train, val, test) at one label fraction; the same for every arm."""
    cfg = config.ssl
    splits = []
    for k, (train, test) in enumerate(make_folds(data.labels, data.groups, cfg.folds, cfg.seed)):
        labelled = draw_groups(train, data.labels, data.groups, fraction, cfg.seed + k)
        fit, val = split_validation(labelled, data.labels, data.groups, cfg.val_fraction, cfg.seed + k)
        splits.append(Split(fit, val, test))
    return splits


def cross_validate(
    data: TileSet,
    inits: dict[str, dict[str, torch.Tensor] | None],
    config: Config,
    *,
    device: torch.device | str = "cpu",
    log: Any = None,
) -> dict[str, Any]:
    """Every arm × label fraction × fold; scores per fold, mean ± sample sd, paired tests against ``scratch``."""
    cfg, device = config.ssl, torch.device(device)
    classes = data.classes
    y = torch.tensor([classes.index(label) for label in data.labels])
    folds: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name in inits}
    for fraction in cfg.label_fractions:
        for k, split in enumerate(fold_splits(data, config, fraction)):
            for name, init in inits.items():
                model = build_classifier(config, len(classes), init, cfg.seed + k)
                run = finetune_once(model, data, y, split, config, seed=cfg.seed + k, device=device)
                folds[name].setdefault(str(fraction), []).append(run)
                if log is not None:
                    log(f"{name} {fraction:.0%} fold {k + 1}: accuracy {run['accuracy']:.3f}")
    arms = {
        name: {fraction: {"folds": runs, **summarise(runs, METRICS)} for fraction, runs in by_fraction.items()}
        for name, by_fraction in folds.items()
    }
    return {
        "classes": classes,
        "n_tiles": len(data),
        "n_groups": len(np.unique(data.groups)),
        "folds": cfg.folds,
        "label_fractions": cfg.label_fractions,
        "spread": "folds",
        "arms": arms,
        "comparisons": compare(arms, "scratch", METRICS) if "scratch" in arms else {},
    }
