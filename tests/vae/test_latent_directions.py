"""A direction learned from μ and a score points where the score was planted, and its dose unit is the spread."""

from __future__ import annotations

import numpy as np
import pytest

from rnagan.errors import InputFileError
from rnagan.vae.directions import learn_direction, random_direction


def _planted(seed: int = 0, n: int = 400, d: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """μ = anisotropic noise + score · v: (μ, score, v)."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(d)
    v /= np.linalg.norm(v)
    score = rng.standard_normal(n)
    noise = rng.standard_normal((n, d)) * rng.uniform(0.2, 1.5, d)  # unequal spread per axis
    return noise + 1.5 * score[:, None] * v, score, v


def test_learned_direction_points_along_the_planted_one() -> None:
    mu, score, v = _planted()
    direction = learn_direction("planted", mu, score, source="test")
    assert np.linalg.norm(direction.unit) == pytest.approx(1.0)
    assert direction.unit @ v > 0.9  # the sign too: the score rises along it
    unrelated = learn_direction("shuffled", mu, np.random.default_rng(1).permutation(score), source="test")
    assert abs(unrelated.unit @ v) < 0.5  # a score μ does not carry gives no v


def test_a_class_label_gives_the_class_mean_shift() -> None:
    rng = np.random.default_rng(2)
    v = np.eye(8)[3]
    labels = rng.integers(0, 2, 300).astype(float)
    mu = rng.standard_normal((300, 8)) + 2.0 * labels[:, None] * v
    assert learn_direction("class", mu, labels, source="label").unit @ v > 0.9


def test_dose_is_in_spreads_and_zero_changes_nothing() -> None:
    mu, score, _ = _planted()
    direction = learn_direction("planted", mu, score, source="test")
    projections = (mu - mu.mean(axis=0)) @ direction.unit
    assert direction.spread == pytest.approx(np.std(projections, ddof=1))
    mu32 = mu.astype(np.float32)
    assert direction.shift(mu32, 0).tobytes() == mu32.tobytes()
    moved = direction.shift(mu32, 2.0)
    np.testing.assert_allclose((moved - mu32) @ direction.unit, 2.0 * direction.spread, rtol=1e-4)


def test_random_control_is_seeded_and_constant_scores_are_refused() -> None:
    mu, _, _ = _planted()
    a, b = random_direction("random", mu, seed=3), random_direction("random", mu, seed=3)
    assert np.array_equal(a.unit, b.unit) and not np.array_equal(a.unit, random_direction("r", mu, seed=4).unit)
    with pytest.raises(InputFileError, match="constant"):
        learn_direction("flat", mu, np.ones(len(mu)), source="test")
