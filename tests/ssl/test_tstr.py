from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ssl_tiles import make_tiles, make_workspace

from rnagan.config import preset
from rnagan.errors import InputFileError
from rnagan.evaluate import tstr
from rnagan.evaluate.tstr import LabelledTiles, hold_out_groups, train_on_synthetic, workspace_tstr
from rnagan.slides.store import TileStore
from rnagan.ssl.sources import TileSet


def _labelled(tiles: TileSet) -> LabelledTiles:
    return LabelledTiles(tiles.tiles, tiles.labels.tolist(), tiles.groups.tolist())


@pytest.mark.integration  # trains two classifiers
def test_tstr_and_trtr_score_the_same_real_test_tiles() -> None:
    cfg = preset("tiny").evaluate
    cfg.classifier_epochs = 1
    synthetic, real_train, real_test = (_labelled(make_tiles(5, seed=s)) for s in (1, 2, 3))
    result = train_on_synthetic({"rnagan": synthetic}, real_train, real_test, cfg)
    run = result["runs"]["rnagan"]
    assert result["n_test"] == len(real_test)
    for scores in (run["tstr"], result["trtr"]):
        assert 0 <= scores["accuracy"] <= 1 and scores["n"] == result["n_test"]
    assert run["ratio"]["accuracy"] == pytest.approx(run["tstr"]["accuracy"] / result["trtr"]["accuracy"])


def test_validation_holds_out_whole_groups_of_each_label() -> None:
    train, val = hold_out_groups(_labelled(make_tiles(5)), 0.2, seed=0)
    assert not set(train.groups) & set(val.groups)
    assert sorted(set(val.labels)) == ["a", "b"] and len(val.labels) == 4


def test_a_tissue_without_generated_tiles_is_refused() -> None:
    real = _labelled(make_tiles(3))
    only_a = real.subset(np.asarray(real.labels) == "a")
    with pytest.raises(InputFileError, match=r"run rnagan has no generated tiles of the tissues \['b'\]"):
        train_on_synthetic({"rnagan": only_a}, real, real, preset("tiny").evaluate)


def _random_class(tiles: TileSet, seed: int) -> LabelledTiles:
    """The same tiles, each group labelled by a draw that ignores its class: half of each class goes to each label."""
    names = np.unique(tiles.groups)
    truth = {g: tiles.labels[tiles.groups == g][0] for g in names}
    drawn: dict[str, str] = {}
    for label in ("a", "b"):
        mine = np.random.default_rng(seed).permutation([g for g in names if truth[g] == label])
        drawn |= {g: "ab"[i % 2] for i, g in enumerate(mine)}
    return LabelledTiles(tiles.tiles, [drawn[g] for g in tiles.groups], tiles.groups.tolist())


def test_tstr_on_a_generator_of_the_right_class_beats_one_of_a_random_class() -> None:
    """Log loss, not accuracy, is compared: a classifier of random labels still maps colour to some label, and
    that arbitrary rule can score anywhere from 0 to 1 in accuracy (draw 2 here scores 1.0) but not confidently."""
    cfg = preset("tiny").evaluate
    cfg.classifier_epochs, cfg.classifier_batch_size, cfg.classifier_lr = 4, 8, 3e-3
    generated, real_test = make_tiles(8, seed=1), _labelled(make_tiles(8, seed=3))
    right = tstr._fit_and_score(_labelled(generated), real_test, cfg)
    assert right["accuracy"] >= 0.8, right["accuracy"]
    for seed in (0, 2):
        random = tstr._fit_and_score(_random_class(generated, seed), real_test, cfg)
        assert right["log_loss"] <= random["log_loss"] - 0.3, (seed, right["log_loss"], random["log_loss"])


def test_auto_takes_the_gpu_where_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, torch.device] = {}

    def stop(*args: object, device: torch.device, **kwargs: object) -> None:
        seen["device"] = device
        raise RuntimeError("stopped before training")

    monkeypatch.setattr(tstr, "train_classifier", stop)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    tiles = _labelled(make_tiles(3))
    with pytest.raises(RuntimeError, match="stopped before training"):
        tstr._fit_and_score(tiles, tiles, preset("tiny").evaluate)
    assert seen["device"].type == "cuda"


def test_workspace_tstr_decodes_only_the_capped_tiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = make_workspace(tmp_path)
    config = preset("tiny")
    config.evaluate.classifier_epochs, config.evaluate.classifier_max_tiles = 1, 6
    decoded: set[str] = set()
    get = TileStore.get
    monkeypatch.setattr(TileStore, "get", lambda store, key: decoded.add(key) or get(store, key))
    result = workspace_tstr(ws, config)
    train_keys = {k for k in decoded if k.startswith("train_")}
    assert len(train_keys) == 6 and result["trtr"]["n_train"] <= 6  # a fifth of them validate
    assert result["n_test"] == len({k for k in decoded if k.startswith("test_")}) == 24
    assert result["runs"]["rnagan"]["tstr"]["n"] == 24
