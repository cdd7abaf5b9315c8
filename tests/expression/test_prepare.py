"""prepare_expression end to end: files written, splits, scaler on train only, refusals leave nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnagan.config import ExpressionConfig
from rnagan.datasets.simulate import simulate_counts
from rnagan.errors import GeneCoverageError, InputFileError
from rnagan.expression.genes import GeneSpace
from rnagan.expression.prepare import apply_to_cohort, load_prepared, prepare_expression
from rnagan.workspace import Workspace


@pytest.fixture
def cohort(small_space: GeneSpace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo's shape: simulated counts DataFrame + metadata with tissue and donor columns."""
    samples = [f"S{i:02d}" for i in range(24)]
    tissues = ["lung", "liver"] * 12
    donors = [f"D{i // 2:02d}" for i in range(24)]  # two samples per donor, different tissues
    counts = simulate_counts(samples, tissues, small_space.versioned, donors=donors, module_size=5, seed=0)
    metadata = pd.DataFrame({"tissue": tissues, "donor": donors}, index=samples)
    return counts, metadata


def _files(workspace: Workspace) -> list[str]:
    return sorted(p.name for p in workspace.expression.iterdir())


def test_prepare_writes_the_contract_files(workspace: Workspace, cohort, small_space: GeneSpace) -> None:
    counts, metadata = cohort
    config = ExpressionConfig(normalization="cpm", seed=1)
    prepared = prepare_expression(counts, workspace=workspace, config=config, metadata=metadata, gene_space=small_space)
    assert _files(workspace) == ["coverage.json", "matrix.parquet", "samples.csv", "scaler"]
    matrix = pd.read_parquet(workspace.expression_matrix)
    assert matrix.index.name == "sample_id" and list(matrix.columns) == list(small_space.ids)
    assert matrix.dtypes.unique().tolist() == [np.float32]
    samples = pd.read_csv(workspace.samples_table)
    assert list(samples.columns) == ["sample_id", "donor_id", "tissue", "split"]
    assert samples.groupby("donor_id")["split"].nunique().max() == 1
    train = matrix.loc[samples.set_index("sample_id")["split"] == "train"]
    np.testing.assert_allclose(train.mean(), 0, atol=1e-5)  # fitted on train only
    assert not np.allclose(matrix.mean(), 0, atol=1e-3)
    assert json.loads(workspace.coverage_report.read_text())["n_present"] == 40
    loaded = load_prepared(workspace)
    pd.testing.assert_frame_equal(loaded.matrix, prepared.matrix)
    assert loaded.scaler.normalization == "cpm"
    # an external cohort goes through the same normalisation and scaler: same numbers
    external, _ = apply_to_cohort(counts.iloc[:5], loaded.scaler)
    np.testing.assert_allclose(external.to_numpy(), prepared.matrix.iloc[:5].to_numpy(), atol=1e-6)


def test_real_gtex_counts_refused_then_prepared(workspace: Workspace, gtex_lung_counts: Path) -> None:
    with pytest.raises(GeneCoverageError, match=r"gtex_lung.first30.chr21.csv.gz: only 227 of 19,198 genes"):
        prepare_expression(gtex_lung_counts, workspace=workspace, config=ExpressionConfig())
    assert _files(workspace) == []
    config = ExpressionConfig(min_coverage=0, normalization="cpm")
    prepared = prepare_expression(gtex_lung_counts, workspace=workspace, config=config, tissue="Lung")
    assert prepared.matrix.shape == (30, 19_198)
    present = prepared.matrix.columns.difference(prepared.coverage.missing)
    train_std = prepared.matrix.loc[prepared.samples["split"] == "train", present].std(ddof=0).round(4)
    assert len(present) == 227 and set(train_std) == {0.0, 1.0}  # z-scored on train; constant genes give 0
    assert (prepared.matrix.drop(columns=present) == 0).all().all()  # missing genes: the training mean
    assert set(prepared.samples["tissue"]) == {"Lung"}
    assert prepared.samples.loc["GTEX-111CU-0326-SM-5GZXO", "donor_id"] == "GTEX-111CU"
    report = json.loads(workspace.coverage_report.read_text())
    assert (report["n_present"], report["n_space"], report["n_missing"]) == (227, 19_198, 18_971)


def test_metadata_file_mismatch_leaves_nothing(workspace: Workspace, tmp_path: Path, cohort, small_space) -> None:
    counts, metadata = cohort
    metadata.iloc[:20].rename_axis("sample_id").to_csv(tmp_path / "meta.csv")
    with pytest.raises(InputFileError, match=r"meta\.csv: 4 of 24 expression samples have no metadata \(e\.g\. S20"):
        prepare_expression(
            counts,
            workspace=workspace,
            config=ExpressionConfig(),
            metadata=tmp_path / "meta.csv",
            gene_space=small_space,
        )
    assert _files(workspace) == []


def test_bad_values_in_a_dataframe(workspace: Workspace, cohort, small_space) -> None:
    counts, metadata = cohort
    counts = counts.astype(float)
    counts.iloc[0, 0] = np.nan
    with pytest.raises(InputFileError, match="expression DataFrame: 1 NaN"):
        prepare_expression(
            counts, workspace=workspace, config=ExpressionConfig(), metadata=metadata, gene_space=small_space
        )
    assert _files(workspace) == []


def test_too_few_samples_for_splits(workspace: Workspace, cohort, small_space) -> None:
    counts, metadata = cohort
    with pytest.raises(InputFileError, match="tissue 'liver' has 2 donor"):
        prepare_expression(
            counts.iloc[:4], workspace=workspace, config=ExpressionConfig(), metadata=metadata, gene_space=small_space
        )
    assert _files(workspace) == []


def test_rerun_replaces_previous_outputs(workspace: Workspace, cohort, small_space) -> None:
    counts, metadata = cohort
    prepare_expression(
        counts, workspace=workspace, config=ExpressionConfig(seed=0), metadata=metadata, gene_space=small_space
    )
    second = prepare_expression(
        counts.iloc[:12],
        workspace=workspace,
        config=ExpressionConfig(seed=0),
        metadata=metadata,
        gene_space=small_space,
    )
    assert len(load_prepared(workspace).matrix) == 12 == len(second.samples)
    assert not list(workspace.expression.glob(".*"))  # no temporary files left behind
