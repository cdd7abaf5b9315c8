"""The tissue classifier: metrics on known predictions, and a real (tiny) training run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnagan.evaluate.classify import classification_metrics, train_classifier
from rnagan.evaluate.features import iter_images


def test_metrics_on_known_predictions() -> None:
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.7, 0.3]])
    metrics = classification_metrics(["a", "a", "b", "b"], proba, ["a", "b"])
    assert metrics["accuracy"] == pytest.approx(0.75)
    # tissue a: scores .9, .6 (a) against .2, .7 (b): 3 of 4 pairs ranked right
    assert metrics["per_tissue"]["a"] == {
        "n": 2,
        "accuracy": 1.0,
        "f1": pytest.approx(0.8),
        "auc": 0.75,
        "predicted_as": {"a": 2, "b": 0},
    }
    assert metrics["per_tissue"]["b"]["accuracy"] == 0.5
    assert metrics["per_tissue"]["b"]["predicted_as"] == {"a": 1, "b": 1}  # the row of the confusion matrix
    assert metrics["auc_macro"] == pytest.approx(0.75)


def test_relabelled_accuracy_sees_tiles_that_follow_the_profile_to_the_wrong_tissue() -> None:
    swapped = np.array([[0.1, 0.9]] * 10 + [[0.8, 0.2]] * 10)  # every "a" tile looks like b, and the reverse
    metrics = classification_metrics(["a"] * 10 + ["b"] * 10, swapped, ["a", "b"])
    assert metrics["accuracy"] == 0.0 and metrics["relabelled_accuracy"] == 1.0
    rng = np.random.default_rng(0)
    ignoring = rng.dirichlet([1, 1, 1], size=300)  # predictions unrelated to the profile's tissue
    chance = classification_metrics(list("abc") * 100, ignoring, ["a", "b", "c"])["relabelled_accuracy"]
    assert 1 / 3 - 0.02 < chance < 0.42  # near chance: the best renaming gains only a little


def test_accuracy_comes_with_its_wilson_interval() -> None:
    truth = ["a"] * 64
    proba = np.array([[0.9, 0.1]] * 36 + [[0.1, 0.9]] * 28)  # 36 of 64 right
    low, high = classification_metrics(truth, proba, ["a", "b"])["accuracy_ci95"]
    p, n, z = 36 / 64, 64, 1.959964
    centre, half = (p + z**2 / (2 * n)), z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert (low, high) == pytest.approx(((centre - half) / (1 + z**2 / n), (centre + half) / (1 + z**2 / n)), abs=1e-4)
    assert low < 0.5 < 0.6 < high  # 56 % of 64 tiles cannot tell 50 % from 60 %


def test_auc_is_none_when_a_tissue_is_absent() -> None:
    metrics = classification_metrics(["a", "a"], np.array([[0.9, 0.1], [0.4, 0.6]]), ["a", "b"])
    assert metrics["per_tissue"]["b"]["auc"] is None and metrics["per_tissue"]["b"]["n"] == 0


def test_a_resnet18_trains_on_real_tiles(lung_tiles) -> None:
    tiles = {label: torch.stack(list(iter_images(paths[:12]))) for label, paths in lung_tiles.items()}
    images = torch.cat(list(tiles.values()))
    labels = [label for label, batch in tiles.items() for _ in range(len(batch))]
    clf = train_classifier(images, labels, images[::4], labels[::4], epochs=1, lr=1e-3, batch_size=8, image_size=32)
    proba = clf.predict_proba(images)
    assert clf.classes == ["lung_aca", "lung_n"] and clf.n_train == 24
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def _coloured(rgb: tuple[int, int, int], n: int, seed: int) -> torch.Tensor:
    noise = torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 20
    return (torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1) + noise).clamp(0, 255).to(torch.uint8)


@pytest.mark.integration  # trains the tile classifier
def test_the_classifier_learns_separable_tissues_and_predicts_held_out_ones() -> None:
    """Training must actually learn: pink against purple tiles, judged on tiles it never saw."""
    pink, purple = (235, 150, 190), (110, 70, 160)
    train = torch.cat([_coloured(pink, 16, 0), _coloured(purple, 16, 1)])
    held_out = torch.cat([_coloured(pink, 8, 2), _coloured(purple, 8, 3)])
    labels, held_labels = ["pink"] * 16 + ["purple"] * 16, ["pink"] * 8 + ["purple"] * 8
    clf = train_classifier(train, labels, held_out, held_labels, epochs=8, lr=1e-3, batch_size=8, image_size=16)
    predicted = [clf.classes[i] for i in clf.predict_proba(held_out).argmax(axis=1)]
    assert predicted == held_labels


def test_one_tissue_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 tissues"):
        train_classifier(
            torch.zeros(4, 3, 8, 8, dtype=torch.uint8),
            ["a"] * 4,
            torch.zeros(0, 3, 8, 8),
            [],
            epochs=1,
            lr=1e-3,
            batch_size=2,
            image_size=16,
        )
