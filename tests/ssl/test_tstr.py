from __future__ import annotations

import numpy as np
import pytest
from ssl_tiles import make_tiles

from rnagan.config import preset
from rnagan.errors import InputFileError
from rnagan.evaluate.tstr import LabelledTiles, hold_out_groups, train_on_synthetic
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
