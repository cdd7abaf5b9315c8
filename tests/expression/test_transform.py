"""Normalisation, log rules and the scaler: fit on train, apply anywhere, save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rnanorm.annotation import GTF
from sklearn.preprocessing import StandardScaler

from rnagan.errors import GeneCoverageError, InputFileError
from rnagan.expression.io import read_expression
from rnagan.expression.transform import SCALER_FILES, ExpressionScaler, inverse_log, log_transform, normalize


def test_log_rules() -> None:
    x = np.array([0.0, 0.5, 1.0, np.e - 1, 3.0])
    np.testing.assert_allclose(log_transform(x.copy(), "log1p"), np.log1p(x))
    np.testing.assert_allclose(log_transform(x.copy(), "log2p1"), np.log2(x + 1))
    # the published code: ln(x) for x > 0, 0 otherwise, so 0.5 → -0.69 while 0 → 0
    expected = [0.0, np.log(0.5), 0.0, np.log(np.e - 1), np.log(3)]
    np.testing.assert_allclose(log_transform(x.copy(), "reference"), expected)
    np.testing.assert_array_equal(log_transform(x.copy(), "none"), x)
    for rule in ("log1p", "log2p1", "none"):
        np.testing.assert_allclose(inverse_log(log_transform(x.copy(), rule), rule), x, atol=1e-12)


def test_matches_scikit_learn_standard_scaler(counts: pd.DataFrame) -> None:
    z = ExpressionScaler(log_transform="log1p").fit(counts).transform(counts)
    expected = StandardScaler().fit_transform(np.log1p(counts.to_numpy(dtype=np.float64)))
    np.testing.assert_allclose(z.to_numpy(), expected, atol=1e-5)
    assert z.dtypes.unique().tolist() == [np.float32]


@pytest.mark.parametrize("rule", ["log1p", "log2p1", "none"])
def test_inverse_transform_round_trip(counts: pd.DataFrame, rule: str) -> None:
    scaler = ExpressionScaler(log_transform=rule).fit(counts)
    back = scaler.inverse_transform(scaler.transform(counts))
    np.testing.assert_allclose(back.to_numpy(), counts.to_numpy(), rtol=1e-4, atol=1e-3)


def test_fit_on_train_apply_to_new_cohort_after_save_and_load(tmp_path: Path, counts: pd.DataFrame) -> None:
    train, new = counts.iloc[:4], counts.iloc[4:] * 3
    scaler = ExpressionScaler(log_transform="log2p1", normalization="cpm").fit(train)
    scaler.save(tmp_path / "scaler")
    assert sorted(p.name for p in (tmp_path / "scaler").iterdir()) == sorted(SCALER_FILES)
    loaded = ExpressionScaler.load(tmp_path / "scaler")
    assert (loaded.log_transform, loaded.normalization, loaded.n_samples_seen_) == ("log2p1", "cpm", 4)
    expected = (np.log2(new.to_numpy(dtype=np.float64) + 1) - scaler.mean_) / scaler.scale_
    np.testing.assert_allclose(loaded.transform(new).to_numpy(), expected, atol=1e-5)
    together = loaded.transform(pd.concat([train, new]))  # a row's z does not depend on its batch
    np.testing.assert_array_equal(together.iloc[4:].to_numpy(), loaded.transform(new).to_numpy())


def test_columns_matched_by_gene_id_not_position(counts: pd.DataFrame) -> None:
    scaler = ExpressionScaler().fit(counts)
    reordered = counts.iloc[:, ::-1]
    pd.testing.assert_frame_equal(scaler.transform(reordered), scaler.transform(counts))
    with pytest.raises(GeneCoverageError, match=r"X has 39 genes but the scaler expects its 40: 1 lacking"):
        scaler.transform(counts.iloc[:, 1:])


def test_constant_and_missing_genes_get_z_zero(counts: pd.DataFrame) -> None:
    train = counts.copy()
    train.iloc[:, 0] = 7.0  # constant
    train.iloc[:, 1] = np.nan  # never observed in training
    train.iloc[0, 2] = np.nan  # missing for one sample only
    scaler = ExpressionScaler().fit(train)
    assert scaler.scale_[0] == 1.0 and np.isnan(scaler.mean_[1]) and scaler.scale_[1] == 1.0
    assert scaler.mean_[2] == pytest.approx(np.log1p(counts.iloc[1:, 2].to_numpy(dtype=np.float64)).mean())
    z = scaler.transform(counts.assign(**{counts.columns[3]: np.nan}))
    assert (z.iloc[:, 1] == 0).all()  # unknown gene: the training mean, whatever the new value
    assert (z.iloc[:, 3] == 0).all()  # gene missing in the new cohort: z = 0
    assert np.isfinite(z.to_numpy()).all()


def test_unfitted_and_damaged_scalers(tmp_path: Path, counts: pd.DataFrame) -> None:
    with pytest.raises(RuntimeError, match="not fitted yet"):
        ExpressionScaler().transform(counts)
    with pytest.raises(InputFileError, match=r"not an expression scaler \(scaler\.json is missing\)"):
        ExpressionScaler.load(tmp_path)
    ExpressionScaler().fit(counts).save(tmp_path)
    (tmp_path / "scaler.safetensors").write_bytes(b"garbage")
    with pytest.raises(InputFileError, match="damaged scaler files"):
        ExpressionScaler.load(tmp_path)


def test_cpm(counts: pd.DataFrame) -> None:
    cpm = normalize(counts, "cpm")
    np.testing.assert_allclose(cpm.sum(axis=1), 1e6, rtol=1e-5)
    assert normalize(counts, "none") is counts


def test_tpm_with_gencode_gtf(gtex_lung_counts: Path, gencode_chr21_gtf: Path) -> None:
    frame = read_expression(gtex_lung_counts)
    tpm = normalize(frame, "tpm", gtf=gencode_chr21_gtf)
    np.testing.assert_allclose(tpm.sum(axis=1), 1e6, rtol=1e-4)
    lengths = GTF(gencode_chr21_gtf).length
    g, h = frame.columns[:2]
    ratio = (frame.iloc[0][g] / lengths[g]) / (frame.iloc[0][h] / lengths[h])  # TPM ∝ count / length
    assert tpm.iloc[0][g] / tpm.iloc[0][h] == pytest.approx(ratio, rel=1e-4)
    with pytest.raises(InputFileError, match="TPM needs gene lengths: give a GTF"):
        normalize(frame, "tpm")
