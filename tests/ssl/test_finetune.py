from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rnagan.config import Config
from rnagan.errors import InputFileError
from rnagan.ssl.backbone import Classifier, initial_backbone, make_backbone, normalize, weight_distance
from rnagan.ssl.bn_control import bn_statistics_init
from rnagan.ssl.finetune import build_classifier, cross_validate, draw_groups, fold_splits, make_folds
from rnagan.ssl.simclr import load_backbone, pretrain
from rnagan.ssl.sources import TileSet


def test_folds_are_stratified_and_keep_every_group_in_one_fold(tiles: TileSet) -> None:
    folds = make_folds(tiles.labels, tiles.groups, 4, seed=0)
    test_parts = np.concatenate([test for _, test in folds])
    assert sorted(test_parts) == list(range(len(tiles)))  # every tile tested once
    for train, test in folds:
        assert not set(tiles.groups[train]) & set(tiles.groups[test])
        assert set(tiles.labels[test]) == {"a", "b"}


def test_label_draws_are_nested_and_the_validation_groups_are_apart(tiles: TileSet, tiny: Config) -> None:
    train, _ = make_folds(tiles.labels, tiles.groups, 3, seed=0)[0]
    half = set(draw_groups(train, tiles.labels, tiles.groups, 0.5, seed=1))
    full = set(draw_groups(train, tiles.labels, tiles.groups, 1.0, seed=1))
    assert half < full and full == set(train)
    for split in fold_splits(tiles, tiny, 0.5):
        parts = [set(tiles.groups[i]) for i in (split.train, split.val, split.test)]
        assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])


def test_too_few_groups_for_the_folds_is_a_user_error(tiles: TileSet) -> None:
    with pytest.raises(InputFileError, match="needs >= 9 groups per class, the smallest class has 8"):
        make_folds(tiles.labels, tiles.groups, 9, seed=0)


@pytest.mark.integration  # fine-tunes every arm on every fold
def test_every_arm_runs_every_fold_at_every_label_fraction(tiles: TileSet, tiny: Config) -> None:
    pretrained = {k: v + 0.01 for k, v in make_backbone("tiny")[0].state_dict().items()}
    results = cross_validate(tiles, {"scratch": None, "synthetic": pretrained}, tiny)
    for arm in ("scratch", "synthetic"):
        for fraction in ("0.5", "1.0"):
            entry = results["arms"][arm][fraction]
            assert len(entry["folds"]) == tiny.ssl.folds
            assert 0 <= entry["accuracy"]["mean"] <= 1 and entry["accuracy"]["sd"] >= 0
            assert all(np.sum(f["confusion"]) == f["n_test"] for f in entry["folds"])
    assert {"t_test_p", "wilcoxon_p", "mean_difference"} <= set(results["comparisons"]["synthetic"]["1.0"]["accuracy"])


@pytest.mark.integration  # runs SimCLR pretraining
def test_the_pretrained_arm_starts_from_the_simclr_weights(tmp_path: Path, tiles: TileSet, tiny: Config) -> None:
    tiny.ssl.pretrain_epochs = 1
    pretrain(tiles, tiny, tmp_path, progress=False)
    weights, _ = load_backbone(tmp_path / "checkpoint", "tiny")
    loaded = build_classifier(tiny, 2, weights, seed=3).backbone.state_dict()
    for name, value in weights.items():  # the arm holds exactly the checkpoint, whatever the fold's seed
        torch.testing.assert_close(loaded[name], value, rtol=0, atol=0, msg=name)


def test_fine_tuning_on_separable_tiles_beats_chance_by_a_margin(tiles: TileSet, tiny: Config) -> None:
    tiny.ssl.finetune_epochs, tiny.ssl.finetune_patience, tiny.ssl.label_fractions = 10, 3, [1.0]
    entry = cross_validate(tiles, {"scratch": None}, tiny)["arms"]["scratch"]["1.0"]
    assert entry["accuracy"]["mean"] >= 0.8, entry["accuracy"]  # chance: 0.5
    for fold in entry["folds"]:  # early stopping: patience epochs after the best, or every epoch
        assert fold["epochs_run"] in (fold["best_epoch"] + 3, 10), fold


def test_the_bn_control_re_estimates_statistics_and_changes_no_weight(tiles: TileSet, tiny: Config) -> None:
    start = initial_backbone("tiny", tiny.ssl.seed)
    control = bn_statistics_init(tiles, tiny.ssl, device=torch.device("cpu"))
    assert weight_distance(control, start)["l2"] == 0
    first_conv, _ = make_backbone("tiny")
    first_conv.load_state_dict(start)
    with torch.no_grad():  # one batch holds every tile: the running mean is the first conv's mean output
        expected = first_conv[0](normalize(tiles.tiles[:])).mean(dim=(0, 2, 3))
    torch.testing.assert_close(control["1.running_mean"], expected, rtol=1e-4, atol=1e-5)
    assert not torch.equal(control["1.running_mean"], start["1.running_mean"])


def test_the_head_has_one_output_per_class_and_returns_logits() -> None:
    backbone, dim = make_backbone("tiny")
    model = Classifier(backbone, dim, 3)
    assert model.head.out_features == 3
    assert not any(isinstance(m, (nn.Softmax, nn.LogSoftmax)) for m in model.modules())
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 3)
    assert not torch.allclose(out.sum(1), torch.ones(4))  # not probabilities: cross-entropy gets logits
