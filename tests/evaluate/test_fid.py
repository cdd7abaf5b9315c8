"""FID and KID: exact against the textbook formula, zero on identical sets, growing with a shift, unbiased."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from rnagan.evaluate.features import iter_images
from rnagan.evaluate.fid import (
    FeatureMoments,
    FeatureStats,
    fid_from_features,
    frechet_distance,
    kernel_inception_distance,
    mmd2_unbiased,
)


def _textbook_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("n", [300, 20])  # more and fewer images than feature dimensions
def test_fid_equals_the_textbook_formula(n: int) -> None:
    rng = np.random.default_rng(n)
    a = rng.normal(size=(n, 40))
    b = rng.normal(size=(n, 40)) @ rng.normal(size=(40, 40)) * 0.3 + 0.5
    assert fid_from_features(a, b) == pytest.approx(_textbook_fid(a, b), rel=1e-6)


@pytest.mark.parametrize("n", [300, 20])
def test_stats_streamed_in_chunks_give_the_fid_of_the_whole_set(n: int) -> None:
    rng = np.random.default_rng(n)
    a = rng.normal(loc=5.0, size=(n, 40))  # offset from zero, as Inception features are
    b = rng.normal(loc=5.3, scale=1.2, size=(n, 40))
    streamed = FeatureStats.from_chunks([*np.array_split(a, 7), a[:0]])
    np.testing.assert_allclose(streamed.mu, a.mean(0), rtol=1e-12)
    np.testing.assert_allclose(streamed.sigma, np.cov(a, rowvar=False), rtol=1e-10, atol=1e-12)
    assert streamed.n == n
    whole = fid_from_features(a, b)
    assert frechet_distance(streamed, FeatureStats.from_features(b)) == pytest.approx(whole, rel=1e-8)


def _inception_like(rng: np.random.Generator, n: int, d: int, shift: float = 0.0) -> np.ndarray:
    """Rows far from zero (offset 1e3, to stress cancellation) with a decaying spectrum, as pooled features have."""
    k = 64
    basis = np.random.default_rng(99).normal(size=(k, d)) / np.sqrt(k)
    signal = rng.normal(size=(n, k)) * np.linspace(3.0, 0.1, k) @ basis
    return 1e3 + shift + signal + rng.normal(scale=0.05, size=(n, d))


def _uneven_shards(rng: np.random.Generator, rows: np.ndarray, parts: int) -> list[np.ndarray]:
    """``rows`` cut at random places into ``parts`` shards, the first of one row, one more empty."""
    cuts = np.sort(rng.choice(np.arange(2, len(rows)), parts - 2, replace=False))
    return [rows[:1], *np.split(rows[1:], cuts - 1), rows[:0]]


@pytest.mark.parametrize(("n", "d"), [(600, 2048), (1500, 64)])  # fewer and more rows than dimensions
def test_fid_from_merged_shard_moments_equals_the_single_process_fid(n: int, d: int) -> None:
    rng = np.random.default_rng(d)
    a, b = _inception_like(rng, n, d), _inception_like(rng, n, d, shift=0.05)
    reference = FeatureStats.from_features(b)
    whole = frechet_distance(FeatureStats.from_features(a), reference)
    shards = _uneven_shards(rng, a, parts=9)
    assert min(len(s) for s in shards) == 0 and sorted(len(s) for s in shards)[1] == 1
    merged = FeatureMoments.merge_all(FeatureMoments.from_features(s) for s in shards)
    assert merged.n == n
    np.testing.assert_allclose(merged.total, a.sum(0), rtol=1e-12)
    stats = merged.to_stats()
    cov = np.cov(a, rowvar=False)  # raw sums of xxᵀ minus n·x̄x̄ᵀ miss this by ~2e-10 at an offset of 1e3
    assert np.abs(stats.sigma - cov).max() < 1e-12 * np.abs(cov).max()
    assert frechet_distance(stats, reference) == pytest.approx(whole, rel=1e-6)
    assert whole > 1e-3 * np.trace(reference.sigma)  # a distance the traces do not swamp: 1e-6 means something


def test_merging_moments_is_order_and_grouping_independent() -> None:
    rng = np.random.default_rng(7)
    a = _inception_like(rng, 400, 48)
    parts = [FeatureMoments.from_features(s) for s in _uneven_shards(rng, a, parts=12)]
    one_by_one = FeatureMoments.merge_all(parts)
    shuffled = FeatureMoments.merge_all(parts[i] for i in rng.permutation(len(parts)))
    tree = parts
    while len(tree) > 1:  # pairwise, as a cluster's reduction would group them
        tree = [tree[i] + tree[i + 1] if i + 1 < len(tree) else tree[i] for i in range(0, len(tree), 2)]
    for other in (shuffled, tree[0]):
        assert other.n == one_by_one.n == 400
        np.testing.assert_allclose(other.mean, one_by_one.mean, rtol=1e-14)
        np.testing.assert_allclose(other.scatter, one_by_one.scatter, rtol=1e-9, atol=1e-9)
    centred = a - a.mean(0)
    np.testing.assert_allclose(one_by_one.scatter, centred.T @ centred, rtol=1e-9, atol=1e-9)


def test_moments_survive_a_file_and_refuse_other_sizes(tmp_path) -> None:
    part = FeatureMoments.from_features(np.random.default_rng(2).normal(size=(5, 4)))
    part.save(tmp_path / "shard.npz")
    again = FeatureMoments.load(tmp_path / "shard.npz")
    assert again.n == 5 and np.array_equal(again.scatter, part.scatter) and np.array_equal(again.mean, part.mean)
    with pytest.raises(ValueError, match="feature sizes differ"):
        part.merge(FeatureMoments.from_features(np.ones((3, 6))))
    with pytest.raises(ValueError, match="at least 2 feature rows"):
        FeatureMoments.from_features(np.ones((1, 4))).to_stats()
    with pytest.raises(ValueError, match="at least 2 feature rows, got none"):
        FeatureStats.from_chunks([])


def test_fid_with_two_images_is_real_and_finite() -> None:
    """n=2 in 2048 dimensions: Σ has rank 1; no complex numbers, no NaN."""
    rng = np.random.default_rng(0)
    value = fid_from_features(rng.normal(size=(2, 2048)), rng.normal(size=(2, 2048)))
    assert isinstance(value, float) and np.isfinite(value) and value > 0


def test_stats_round_trip(tmp_path) -> None:
    stats = FeatureStats.from_features(np.random.default_rng(1).normal(size=(10, 6)))
    stats.save(tmp_path / "s.npz")
    again = FeatureStats.load(tmp_path / "s.npz")
    assert frechet_distance(stats, again) == pytest.approx(0.0, abs=1e-9)


def test_kid_is_unbiased_on_a_known_case() -> None:
    """Uniform on {a1, a2} vs uniform on {b1, b2}: the estimator's mean equals the population MMD²."""
    a, b = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[1.0, 1.0], [2.0, 0.0]])

    def k(x, y):
        return (x @ y / 2 + 1) ** 3

    population = (
        np.mean([k(x, y) for x in a for y in a])
        + np.mean([k(x, y) for x in b for y in b])
        - 2 * np.mean([k(x, y) for x in a for y in b])
    )
    rng = np.random.default_rng(0)
    draws = [mmd2_unbiased(a[rng.integers(0, 2, 6)], b[rng.integers(0, 2, 6)]) for _ in range(4000)]
    assert np.mean(draws) == pytest.approx(population, rel=0.03)


def test_kid_of_equal_distributions_averages_zero() -> None:
    rng = np.random.default_rng(0)
    values = [
        kernel_inception_distance(
            rng.normal(size=(30, 8)), rng.normal(size=(30, 8)), subsets=1, subset_size=30, seed=i
        )[0]
        for i in range(300)
    ]
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))
    assert min(values) < 0  # an unbiased estimator of 0 must go negative


@pytest.mark.integration  # Inception features of 48 real tiles
def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_planted_shift(inception, lung_tiles, lung_features) -> None:
    real = lung_features["lung_n"][:12]
    assert fid_from_features(real, real) == pytest.approx(0.0, abs=1e-6)
    tiles = torch.stack(list(iter_images(lung_tiles["lung_n"][:12])))
    values = []
    for shift in (20, 60):  # brighter tiles: a colour drift a stain change would cause
        shifted = (tiles.int() + shift).clamp(0, 255).to(torch.uint8)
        values.append(fid_from_features(real, inception.features_of_batch(shifted)))
    assert 0 < values[0] < values[1]
