"""Gene space: the bundled list, every input ID style, duplicates, coverage and its refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnagan.errors import GeneCoverageError, InputFileError
from rnagan.expression.genes import GeneSpace, normalize_id
from rnagan.expression.io import read_expression


def test_default_space_is_the_papers_list() -> None:
    space = GeneSpace.default()
    assert len(space) == 19_198
    assert (space.ids[0], space.versioned[0], space.symbols[0]) == ("ENSG00000186092", "ENSG00000186092.4", "OR4F5")
    assert len(set(space.ids)) == 19_198  # the 19 chrY PAR copies keep their suffix
    assert sum(i.endswith("_PAR_Y") for i in space.ids) == 19
    assert sum(s is not None for s in space.symbols) == 18_907


@pytest.mark.parametrize(
    ("raw", "internal"),
    [
        ("ENSG00000186092.4", "ENSG00000186092"),
        ("ENSG00000186092", "ENSG00000186092"),
        ("rna_ENSG00000186092.4", "ENSG00000186092"),
        ("ENSG00000182378.13_PAR_Y", "ENSG00000182378_PAR_Y"),
        ("OR4F5", None),
        ("GTEX-111CU", None),
    ],
)
def test_normalize_id(raw: str, internal: str | None) -> None:
    assert normalize_id(raw) == internal


@pytest.mark.parametrize("style", ["versioned", "unversioned", "rna_prefixed", "symbol", "symbol_lowercase"])
def test_every_id_style_aligns_the_same(small_space: GeneSpace, counts: pd.DataFrame, style: str) -> None:
    rename = {
        "versioned": lambda v, i, s: v,
        "unversioned": lambda v, i, s: i,
        "rna_prefixed": lambda v, i, s: f"rna_{v}",
        "symbol": lambda v, i, s: s,
        "symbol_lowercase": lambda v, i, s: s.lower(),
    }[style]
    styles = zip(small_space.versioned, small_space.ids, small_space.symbols, strict=True)
    names = [rename(v, i, s) for v, i, s in styles]
    shuffled = counts.set_axis(names, axis=1).iloc[:, ::-1]  # input order must not matter
    aligned, report = small_space.align(shuffled)
    assert list(aligned.columns) == list(small_space.ids)
    np.testing.assert_array_equal(aligned.to_numpy(), counts.to_numpy())
    assert report.n_present == 40 and report.missing == []
    assert report.id_styles == {style.removesuffix("_lowercase"): 40}


def test_symbols_from_a_user_gtf(gencode_chr21_gtf: Path, gtex_lung_counts: Path) -> None:
    """A GTF maps its gene_name values, including ones the bundled table does not know."""
    space = GeneSpace.from_ids(["ENSG00000141956.13", "ENSG00000279493.1"])  # PRDM15 and the lncRNA CH507-9B2.2
    frame = pd.DataFrame([[1.0, 2.0]], index=["s"], columns=["PRDM15", "CH507-9B2.2"])
    with pytest.raises(GeneCoverageError, match="only 1 of 2 genes"):
        space.align(frame, min_coverage=1.0)
    aligned, _ = space.align(frame, min_coverage=1.0, gtf=gencode_chr21_gtf)
    assert aligned.loc["s"].tolist() == [1.0, 2.0]


def test_duplicates_are_summed_or_refused(small_space: GeneSpace, counts: pd.DataFrame) -> None:
    frame = counts.copy()
    frame["rna_" + small_space.versioned[0]] = 5.0  # the same gene again, another style
    aligned, report = small_space.align(frame)
    np.testing.assert_array_equal(aligned.iloc[:, 0], counts.iloc[:, 0] + 5.0)
    assert report.duplicates == {small_space.ids[0]: [small_space.versioned[0], "rna_" + small_space.versioned[0]]}
    with pytest.raises(InputFileError, match=r"1 genes appear in several columns \(e\.g\. ENSG00000186092"):
        small_space.align(frame, duplicates="error")


def test_missing_genes_are_nan_and_reported(small_space: GeneSpace, counts: pd.DataFrame) -> None:
    frame = counts.iloc[:, 5:].assign(NOT_A_GENE=1.0, ENSG00000000003=2.0)  # unknown + outside the space
    aligned, report = small_space.align(frame)
    assert aligned.iloc[:, :5].isna().all().all() and not aligned.iloc[:, 5:].isna().any().any()
    assert report.missing == list(small_space.ids[:5])
    assert (report.n_present, report.n_unrecognised, report.n_outside_space) == (35, 1, 1)
    assert report.to_dict()["coverage"] == pytest.approx(35 / 40)


def test_coverage_threshold(small_space: GeneSpace, counts: pd.DataFrame) -> None:
    with pytest.raises(GeneCoverageError, match=r"only 10 of 40 genes .*\(25\.0%\).*under the minimum coverage of 50%"):
        small_space.align(counts.iloc[:, :10])
    assert small_space.align(counts.iloc[:, :10], min_coverage=0.25)[1].n_present == 10


def test_no_recognisable_ids(small_space: GeneSpace) -> None:
    frame = pd.DataFrame([[1.0, 2.0]], columns=["height", "weight"])
    with pytest.raises(GeneCoverageError, match="no recognisable gene IDs among 2 columns"):
        small_space.align(frame, min_coverage=0)
    outside = pd.DataFrame([[1.0]], columns=["ENSG00000000003"])
    with pytest.raises(GeneCoverageError, match="none of the 40 genes of the gene space is present"):
        small_space.align(outside, min_coverage=0)


def test_ambiguous_symbols_are_reported_not_guessed() -> None:
    space = GeneSpace.from_ids(["ENSG00000233050", "ENSG00000232948"])  # both named DEFB130
    aligned, report = space.align(pd.DataFrame([[1.0, 3.0]], columns=["DEFB130", "ENSG00000233050"]), min_coverage=0)
    assert report.ambiguous_symbols == ["DEFB130"] and report.n_present == 1
    assert aligned.iloc[0].tolist()[0] == 3.0 and np.isnan(aligned.iloc[0, 1])


def test_real_gtex_lung_covers_227_genes(gtex_lung_counts: Path) -> None:
    frame = read_expression(gtex_lung_counts)
    with pytest.raises(GeneCoverageError, match=r"only 227 of 19,198 genes of the gene space present \(1\.2%\)"):
        GeneSpace.default().align(frame, source=str(gtex_lung_counts))
    aligned, report = GeneSpace.default().align(frame, min_coverage=0)
    assert report.n_present == 227 and report.n_outside_space == 591 and report.n_missing == 18_971
    assert aligned.notna().all().sum() == 227
