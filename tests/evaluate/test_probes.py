"""The two conditioning probes: on real held-out tiles they agree; a colour-only fake fools only the colour one.

A fake made of each class's mean colour plus noise carries the stain and nothing of the tissue: a
frozen-feature probe that names its class would be measuring colour, and the evaluation's claim
that it measures more would be false.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rnagan.evaluate.features import InceptionFeatures, iter_images
from rnagan.evaluate.probes import LinearProbe, colour_features

pytestmark = pytest.mark.integration  # Inception and linear probes over the real tiles

N_TRAIN = 16  # of the fixture's 24 per class; the rest are held out


def _tiles(paths: list[Path]) -> torch.Tensor:
    return torch.stack(list(iter_images(paths)))


def _colour_only_fakes(tiles: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` tiles of the per-channel mean colour of ``tiles``, plus pixel noise of their per-channel sd."""
    x = tiles.float()
    mean, sd = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
    noise = torch.randn((n, *tiles.shape[1:]), generator=torch.Generator().manual_seed(seed))
    return (mean[None, :, None, None] + sd[None, :, None, None] * noise).clamp(0, 255).round().to(torch.uint8)


def test_probes_agree_on_real_tiles_and_only_colour_names_a_colour_fake(
    inception: InceptionFeatures, lung_tiles: dict[str, list[Path]], lung_features: dict[str, np.ndarray]
) -> None:
    classes = sorted(lung_tiles)
    tiles = {c: _tiles(lung_tiles[c]) for c in classes}
    train_labels = [c for c in classes for _ in range(N_TRAIN)]
    test_labels = [c for c in classes for _ in range(len(tiles[c]) - N_TRAIN)]
    frozen = LinearProbe.fit(np.concatenate([lung_features[c][:N_TRAIN] for c in classes]), train_labels)
    colour = LinearProbe.fit(colour_features(torch.cat([tiles[c][:N_TRAIN] for c in classes])), train_labels)

    real_frozen = frozen.score(np.concatenate([lung_features[c][N_TRAIN:] for c in classes]), test_labels)
    real_colour = colour.score(colour_features(torch.cat([tiles[c][N_TRAIN:] for c in classes])), test_labels)
    assert real_frozen["accuracy"] >= 0.85 and real_colour["accuracy"] >= 0.85  # both see real tissue

    fakes = torch.cat([_colour_only_fakes(tiles[c][:N_TRAIN], 8, seed=i) for i, c in enumerate(classes)])
    fake_labels = [c for c in classes for _ in range(8)]
    assert colour.score(colour_features(fakes), fake_labels)["accuracy"] >= 0.9  # the stain is right
    assert frozen.score(inception.features_of_batch(fakes), fake_labels)["accuracy"] <= 0.65  # the tissue is not


@pytest.mark.parametrize("block", [1, 7])
def test_scoring_in_blocks_gives_the_whole_sets_figures(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    labels = np.array(["a", "b", "c"])[rng.integers(0, 3, 90)]
    rows = (rng.normal(size=(90, 5)) + (labels[:, None] == "a")).astype(np.float32)
    probe = LinearProbe.fit(rows[:60], labels[:60])
    whole = probe.score(rows[60:], labels[60:])
    monkeypatch.setattr(sys.modules[LinearProbe.__module__], "SCORE_BLOCK", block)
    assert _flat(probe.score(rows[60:], labels[60:])) == pytest.approx(_flat(whole))


def _flat(figures: dict | list, prefix: str = "") -> dict[str, float]:
    """Nested figures as {"a/b/0": value}, for one approximate comparison."""
    out: dict[str, float] = {}
    for key, value in figures.items() if isinstance(figures, dict) else enumerate(figures):
        nested = isinstance(value, dict | list)
        out.update(_flat(value, f"{prefix}{key}/") if nested else {f"{prefix}{key}": value})
    return out
