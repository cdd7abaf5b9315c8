import numpy as np
import pytest

from rnagan.datasets.simulate import simulate_counts


def _simulate(seed: int = 0):
    ids = [f"s{i}" for i in range(40)]
    labels = ["a"] * 20 + ["b"] * 20
    genes = [f"G{i}" for i in range(400)]
    return simulate_counts(ids, labels, genes, module_size=20, seed=seed), labels


def test_counts_are_seeded_nonnegative_integers() -> None:
    counts, _ = _simulate()
    assert counts.shape == (40, 400)
    assert (counts.to_numpy() >= 0).all() and counts.dtypes.unique().tolist() == [np.int64]
    assert counts.equals(_simulate()[0])
    assert not counts.equals(_simulate(seed=1)[0])


def test_classes_separate_in_log_expression() -> None:
    counts, labels = _simulate()
    logs = np.log1p(counts.to_numpy())
    mask = np.array(labels) == "a"
    diff = np.abs(logs[mask].mean(0) - logs[~mask].mean(0))
    # 4 modules of 20 genes (up/down per class) carry the signal; the other genes barely differ.
    assert (diff > 1.0).sum() >= 60
    assert np.median(diff) < 0.3


def test_too_many_module_genes_is_refused() -> None:
    with pytest.raises(ValueError, match="exceed"):
        simulate_counts(["x", "y"], ["a", "b"], ["g1", "g2"], module_size=5)
