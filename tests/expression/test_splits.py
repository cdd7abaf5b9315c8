"""Splits: grouped by donor, stratified by tissue, seeded, and refused when a tissue has too few donors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnagan.errors import InputFileError
from rnagan.expression.splits import make_splits


def _cohort(n_donors: int = 120, seed: int = 0) -> pd.DataFrame:
    """GTEx-like: each donor gives 1–3 of 4 tissues."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n_donors):
        for tissue in rng.choice(["lung", "liver", "brain", "stomach"], size=rng.integers(1, 4), replace=False):
            rows.append((f"GTEX-D{d}-{tissue}", f"GTEX-D{d}", tissue))
    return pd.DataFrame(rows, columns=["sample_id", "donor_id", "tissue"]).set_index("sample_id")


def test_no_donor_in_two_splits_and_every_tissue_in_every_split() -> None:
    metadata = _cohort()
    split = make_splits(metadata, seed=3)
    assert split.index.equals(metadata.index) and set(split) == {"train", "val", "test"}
    assert metadata.assign(split=split).groupby("donor_id")["split"].nunique().max() == 1
    shares = pd.crosstab(metadata["tissue"], split, normalize="index")
    np.testing.assert_allclose(shares[["train", "val", "test"]], [[0.6, 0.2, 0.2]] * 4, atol=0.05)


def test_seeded() -> None:
    metadata = _cohort()
    pd.testing.assert_series_equal(make_splits(metadata, seed=1), make_splits(metadata, seed=1))
    assert not make_splits(metadata, seed=1).equals(make_splits(metadata, seed=2))


def test_minimum_cohort_gets_one_donor_per_split() -> None:
    metadata = pd.DataFrame(
        {"donor_id": ["a", "b", "c"], "tissue": ["lung"] * 3}, index=pd.Index(["s1", "s2", "s3"], name="sample_id")
    )
    assert sorted(make_splits(metadata, seed=0)) == ["test", "train", "val"]


def test_too_few_donors_for_a_tissue() -> None:
    metadata = pd.DataFrame({"donor_id": ["a", "a", "b"], "tissue": ["lung"] * 3}, index=["s1", "s2", "s3"])
    message = r"tissue 'lung' has 2 donor\(s\) but splits grouped by donor need at least 3"
    with pytest.raises(InputFileError, match=message):
        make_splits(metadata, seed=0)
    split = make_splits(metadata, fractions=(0.5, 0.5, 0.0), seed=0)  # no test split: two donors suffice
    assert set(split) == {"train", "val"} and split["s1"] == split["s2"]


def test_bad_fractions() -> None:
    with pytest.raises(ValueError, match="summing to 1"):
        make_splits(_cohort(10), fractions=(0.5, 0.2, 0.2))
