"""The bundled demo generators load and draw tissue-coloured tiles without any training."""

from __future__ import annotations

import torch
import yaml

from rnagan.config import preset
from rnagan.datasets.lc25000 import CLASSES
from rnagan.demo.bundle import bundle_facts, bundle_sheets, bundled_tiles, recipe_changes
from rnagan.demo.pipeline import RUNS


def test_every_bundled_run_loads_and_generates() -> None:
    facts = bundle_facts()
    assert set(facts["runs"]) == set(RUNS)
    assert all(run["step"] > 0 and run["training_seconds"] > 0 for run in facts["runs"].values())
    for run in RUNS:
        tiles, tissues = bundled_tiles(run, n_per_profile=1, seed=0)
        assert tiles.dtype == torch.uint8 and tiles.shape[1:] == (3, 64, 64)
        assert len(tissues) == len(tiles) > 0
        assert tiles.float().std() > 10  # not a constant image


def test_the_bundled_rnagan_run_draws_tissues_apart() -> None:
    """Benign lung is pink stroma and air, the two carcinomas purple nuclei: the mean colour of the
    tiles drawn from benign profiles differs from that of the carcinoma profiles (it would not if μ
    were ignored, as in the reference run's published form)."""
    tiles, tissues = bundled_tiles("rnagan", n_per_profile=2, seed=0)
    mean = tiles.float().mean(dim=(2, 3))  # (N, 3)
    benign = torch.tensor([t == "lung_n" for t in tissues])
    red_minus_blue = mean[:, 0] - mean[:, 2]
    assert red_minus_blue[benign].mean() > red_minus_blue[~benign].mean() + 5


def test_bundle_sheets_show_every_run_for_every_tissue() -> None:
    sheets = bundle_sheets(n=4)
    assert set(sheets) == set(CLASSES)
    assert all(set(by_run) == set(RUNS) for by_run in sheets.values())
    assert all(png.startswith(b"\x89PNG") for by_run in sheets.values() for png in by_run.values())


def test_recipe_changes_name_what_the_bundle_did_otherwise(tmp_path) -> None:
    copy = tmp_path / "bundle"
    (copy / "rnagan").mkdir(parents=True)
    config = preset("small").model_dump(mode="json")
    config["gan"].update(r1_every=3, steps=1)
    del config["gan"]["share_fakes"], config["gan"]["precision"]  # precision: BUNDLE_COMMAND sets it (fp32)
    (copy / "rnagan" / "config.yaml").write_text(yaml.safe_dump(config))
    now = preset("small").gan
    assert recipe_changes(copy) == {"r1_every": [3, now.r1_every], "share_fakes": [None, now.share_fakes]}
