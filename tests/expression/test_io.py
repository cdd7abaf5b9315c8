"""Readers: every format, both orientations, metadata, and each refused input."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest

from rnagan.errors import InputFileError
from rnagan.expression.io import looks_log_scale, read_expression, read_expression_and_metadata, read_metadata


def _assert_same(frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert frame.dtypes.unique().tolist() == [np.float32]
    assert frame.index.name == "sample_id"
    pd.testing.assert_frame_equal(frame, expected.astype(np.float32), check_names=False)


@pytest.mark.parametrize("name", ["x.gct", "x.gct.gz"])
def test_gct(tmp_path: Path, counts: pd.DataFrame, name: str, write_gct: Callable[..., Path]) -> None:
    _assert_same(read_expression(write_gct(counts, tmp_path / name)), counts)


def test_csv_samples_as_rows(tmp_path: Path, counts: pd.DataFrame) -> None:
    counts.to_csv(tmp_path / "x.csv")
    _assert_same(read_expression(tmp_path / "x.csv"), counts)


def test_tsv_samples_as_columns_with_annotation_column(tmp_path: Path, counts: pd.DataFrame) -> None:
    genes = counts.T.rename_axis("gene_id")
    genes.insert(0, "symbol", "x")  # a gene annotation column, not a sample
    genes.to_csv(tmp_path / "x.tsv.gz", sep="\t")
    _assert_same(read_expression(tmp_path / "x.tsv.gz"), counts)


def test_stated_orientation_overrides_detection(tmp_path: Path, counts: pd.DataFrame) -> None:
    counts.T.to_csv(tmp_path / "x.csv")
    _assert_same(read_expression(tmp_path / "x.csv", orientation="samples-columns"), counts)
    assert read_expression(tmp_path / "x.csv", orientation="samples-rows").shape == counts.T.shape


def test_parquet(tmp_path: Path, counts: pd.DataFrame) -> None:
    counts.to_parquet(tmp_path / "x.parquet")
    _assert_same(read_expression(tmp_path / "x.parquet"), counts)


def test_h5ad_with_obs_metadata(tmp_path: Path, counts: pd.DataFrame) -> None:
    obs = pd.DataFrame({"tissue": ["lung"] * 6}, index=counts.index.rename(None))
    adata = anndata.AnnData(X=counts.to_numpy(), obs=obs, var=pd.DataFrame(index=counts.columns))
    adata.write_h5ad(tmp_path / "x.h5ad")
    frame, metadata = read_expression_and_metadata(tmp_path / "x.h5ad")
    _assert_same(frame, counts)
    assert metadata is not None and set(metadata["tissue"]) == {"lung"}
    assert metadata["donor_id"].iloc[0] == "GTEX-D0"


def test_reference_code_csv_with_metadata_columns(tmp_path: Path, counts: pd.DataFrame) -> None:
    """The published code's layout: wsi_file_name + rna_ENSG….v columns (+ a label column)."""
    table = counts.add_prefix("rna_").rename_axis("wsi_file_name").reset_index()
    table.insert(1, "labels", "lung")
    table.to_csv(tmp_path / "x.csv", index=False)
    frame, metadata = read_expression_and_metadata(tmp_path / "x.csv")
    assert list(frame.columns) == [f"rna_{c}" for c in counts.columns]
    assert metadata is not None and list(metadata["tissue"]) == ["lung"] * 6


def test_real_gtex_counts(gtex_lung_counts: Path) -> None:
    frame = read_expression(gtex_lung_counts)
    assert frame.shape == (30, 818)
    assert frame.index[0] == "GTEX-111CU-0326-SM-5GZXO"
    assert frame.loc["GTEX-111CU-0326-SM-5GZXO", "ENSG00000141956.13"] == 871


def test_gtex_sample_attributes(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "SAMPID": ["GTEX-111CU-0326-SM-5GZXO", "GTEX-111FC-1126-SM-5GZWU"],
            "SMTS": ["Lung", "Lung"],
            "SMTSD": ["Lung", "Lung - upper lobe"],
        }
    )
    table.to_csv(tmp_path / "GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt", sep="\t", index=False)
    metadata = read_metadata(tmp_path / "GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt")
    expected = {"donor_id": "GTEX-111FC", "tissue": "Lung - upper lobe"}  # SMTSD, the detailed tissue
    assert metadata.loc["GTEX-111FC-1126-SM-5GZWU"].to_dict() == expected


def test_metadata_donor_column_and_non_gtex_fallback(tmp_path: Path) -> None:
    pd.DataFrame({"sample": ["a", "b"], "tissue": ["x", "y"], "patient": ["p1", "p1"]}).to_csv(tmp_path / "m.csv")
    assert read_metadata(tmp_path / "m.csv")["donor_id"].tolist() == ["p1", "p1"]
    pd.DataFrame({"sample_id": ["a", "b"], "tissue": ["x", "y"]}).to_csv(tmp_path / "n.csv", index=False)
    assert read_metadata(tmp_path / "n.csv")["donor_id"].tolist() == ["a", "b"]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.nan, r"x\.csv: 1 NaN .*sample GTEX-D2-0226-SM-A2, gene ENSG"),
        (np.inf, "x.csv: 1 infinite values"),
        (-1.0, "x.csv: 1 negative values .*--input-scale log2"),
    ],
)
def test_refuses_bad_values(tmp_path: Path, counts: pd.DataFrame, value: float, match: str) -> None:
    counts.iloc[2, 3] = value
    counts.to_csv(tmp_path / "x.csv")
    with pytest.raises(InputFileError, match=match):
        read_expression(tmp_path / "x.csv")


def test_refuses_empty_file(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("")
    with pytest.raises(InputFileError, match=r"x\.csv: the file is empty"):
        read_expression(tmp_path / "x.csv")


def test_refuses_header_only(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("sample_id,ENSG00000186092\n")
    with pytest.raises(InputFileError, match="no expression values"):
        read_expression(tmp_path / "x.csv")


def test_refuses_table_without_gene_ids(tmp_path: Path) -> None:
    table = pd.DataFrame({"id": ["s1", "s2"], "height": [1.0, 2.0], "weight": [3.0, 4.0]})
    table.to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(InputFileError, match="no recognisable gene IDs in the header or the first column"):
        read_expression(tmp_path / "x.csv")


def test_refuses_missing_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        read_expression(tmp_path / "absent.csv")
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(InputFileError, match="unknown expression format"):
        read_expression(tmp_path / "x.xlsx")


def test_refuses_truncated_gct(tmp_path: Path, counts: pd.DataFrame, write_gct: Callable[..., Path]) -> None:
    path = write_gct(counts, tmp_path / "x.gct")
    path.write_text("\n".join(path.read_text().splitlines()[:-5]) + "\n")
    with pytest.raises(InputFileError, match=r"35 gene rows but line 2 declares 40 \(truncated file\?\)"):
        read_expression(path)


def test_refuses_gct_with_wrong_header(tmp_path: Path) -> None:
    (tmp_path / "x.gct").write_text("#1.3\n1\t1\nName\tDescription\ts1\nENSG00000186092\t-\t1\n")
    with pytest.raises(InputFileError, match=r"not a GCT v1\.2 file"):
        read_expression(tmp_path / "x.gct")


def test_refuses_duplicated_samples(tmp_path: Path, counts: pd.DataFrame) -> None:
    counts.index = ["s1"] * 6
    counts.to_csv(tmp_path / "x.csv")
    with pytest.raises(InputFileError, match=r"sample IDs appear more than once \(1, e\.g\. s1\)"):
        read_expression(tmp_path / "x.csv")


# A column is metadata only by name; every other column holds values -------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("gene,s1,s2\nENSG00000000003,abc,3\n", "sample s1, gene ENSG00000000003"),  # one row: s1 is all text
        ("gene,s1,s2,s3,s4\nENSG00000000003,abc,3,4,5\nENSG00000000005,1,2,3,4\n", "sample s1, gene ENSG00000000003"),
        ("sample_id,ENSG00000000003,ENSG00000000005\nS1,1,2\nS2,abc,3\n", "sample S2, gene ENSG00000000003"),
    ],
)
def test_non_numeric_cell_is_refused_by_sample_and_gene_whatever_the_shape(
    tmp_path: Path, text: str, where: str
) -> None:
    (tmp_path / "x.csv").write_text(text)
    with pytest.raises(InputFileError) as refused:
        read_expression(tmp_path / "x.csv")
    assert str(refused.value).startswith(f"{tmp_path / 'x.csv'}: non-numeric value 'abc' at {where}: ")
    assert "expression.metadata_columns" in str(refused.value)


def test_non_numeric_gct_cell_is_refused_by_sample_and_gene(
    tmp_path: Path, counts: pd.DataFrame, write_gct: Callable[..., Path]
) -> None:
    path = write_gct(counts, tmp_path / "x.gct.gz")
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    cells = lines[7].split("\t")  # the 5th gene row
    cells[4] = "abc"  # the 3rd sample
    lines[7] = "\t".join(cells)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(InputFileError) as refused:
        read_expression(path)
    assert str(refused.value) == (
        f"{path}: non-numeric value 'abc' at sample {counts.index[2]}, gene {counts.columns[4]}: "
        "expression values must be numbers"
    )


def test_declared_metadata_column_is_read_as_metadata_and_named(
    tmp_path: Path, counts: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    table = counts.rename_axis("sample_id").reset_index()
    table.insert(1, "sex", ["F", "M"] * 3)  # not a known metadata name: refused until declared
    table.to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(InputFileError, match=f"non-numeric value 'F' at sample {counts.index[0]}, gene sex"):
        read_expression(tmp_path / "x.csv")
    with caplog.at_level(logging.INFO, logger="rnagan.expression.io"):
        _assert_same(read_expression(tmp_path / "x.csv", metadata_columns=["SEX"]), counts)
    assert f"{tmp_path / 'x.csv'}: columns sex read as metadata, not genes" in caplog.messages


def test_featurecounts_annotation_columns_are_not_samples(
    tmp_path: Path, counts: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    """featureCounts' Chr…Length (Length is numeric: before, it became a sample without a word)."""
    genes = counts.T.rename_axis("Geneid").reset_index()
    for i, (name, value) in enumerate((("Chr", "chr1;chr1"), ("Start", "1;50"), ("End", "40;90"), ("Strand", "+"))):
        genes.insert(1 + i, name, value)
    genes.insert(5, "Length", 1200)
    genes.to_csv(tmp_path / "counts.txt", sep="\t", index=False)
    with caplog.at_level(logging.INFO, logger="rnagan.expression.io"):
        _assert_same(read_expression(tmp_path / "counts.txt"), counts)
    assert f"{tmp_path / 'counts.txt'}: columns Chr, Start, End, Strand, Length read as metadata, not samples" in (
        caplog.messages
    )


# Log-scale values given as linear ------------------------------------------------------------------


def _io_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "rnagan.expression.io" and r.levelno >= logging.WARNING]


def test_real_counts_and_cpm_read_as_linear_without_a_warning(
    tmp_path: Path, gtex_lung_counts: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counts = pd.read_csv(gtex_lung_counts, index_col=0)  # samples × genes
    cpm = counts.div(counts.sum(axis=1), axis=0) * 1e6  # non-integers, but far above the log range
    cpm.to_csv(tmp_path / "cpm.csv")
    with caplog.at_level(logging.WARNING):
        read_expression(gtex_lung_counts)
        read_expression(tmp_path / "cpm.csv")
    assert _io_warnings(caplog) == []


def test_log2_counts_read_as_linear_are_warned_about(
    tmp_path: Path, gtex_lung_counts: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counts = pd.read_csv(gtex_lung_counts, index_col=0)
    path = tmp_path / "log2.csv"
    np.log2(counts + 1).to_csv(path)
    with caplog.at_level(logging.WARNING):
        read_expression(path)
    (warning,) = _io_warnings(caplog)
    assert warning.startswith(f"{path}: values look log-scale (all between 0 and 17.2, mostly non-integers)")
    assert "pass --input-scale log2" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        unlogged = read_expression(path, input_scale="log2")
    assert _io_warnings(caplog) == []
    np.testing.assert_allclose(unlogged.to_numpy(), counts.to_numpy(), rtol=1e-4, atol=1e-2)


def test_linear_counts_given_a_log_scale_are_refused(gtex_lung_counts: Path) -> None:
    """2^871 would overflow: a workspace's log2 setting applied to a linear cohort is refused, not read as Inf."""
    with pytest.raises(InputFileError) as refused:
        read_expression(gtex_lung_counts, input_scale="log2")
    assert str(refused.value) == (
        f"{gtex_lung_counts}: values up to 147177 cannot be log2(x + 1) of expression (those stay under 30); "
        "if the file is linear (counts, TPM), pass --input-scale linear (expression.input_scale)"
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.log1p(np.arange(1, 401, dtype=np.float32)).reshape(20, -1), True),  # ln(x + 1)
        (np.log10(np.arange(1, 401, dtype=np.float32) + 1).reshape(20, -1), True),
        (np.arange(0, 400, dtype=np.float32).reshape(20, -1) % 25, False),  # small integer counts
        (np.full((4, 5), 31.5, dtype=np.float32), False),  # above the log range
        (np.zeros((4, 5), dtype=np.float32), False),
        (np.array([[0.5, -1.0]], dtype=np.float32), False),  # negative: refused, not guessed
        (np.array([[0.5, np.nan]], dtype=np.float32), False),
    ],
)
def test_looks_log_scale_rule(values: np.ndarray, expected: bool) -> None:
    assert looks_log_scale(values) is expected
