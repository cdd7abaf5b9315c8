"""The model's gene space and the mapping of any table's gene IDs onto it.

Internally a gene is its unversioned Ensembl ID (``ENSG00000186092``). The 19 pseudo-autosomal
copies on chrY that GTEx v8 lists separately (``ENSG00000182378.13_PAR_Y``) keep a ``_PAR_Y``
suffix, because dropping it would give two genes of the space the same ID.

Accepted input styles: versioned (``ENSG00000186092.4``), unversioned, ``rna_``-prefixed (the
reference code's CSV columns) and HGNC symbols (``OR4F5``), mapped through the bundled offline table
or a user's GTF::

    space = GeneSpace.default()                       # the paper's 19,198 genes, in order
    aligned, report = space.align(frame)              # columns == space.ids, NaN where missing
"""

from __future__ import annotations

import functools
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from rnagan.errors import GeneCoverageError, InputFileError

log = logging.getLogger(__name__)

GENE_SPACE_FILE = "rnagan_protein_coding_genes.csv"
SYMBOLS_FILE = "gene_symbols.csv"
_ENSEMBL = re.compile(r"^(?:rna_)?(ENS[A-Z]*G\d{11})(?:\.\d+)?(_PAR_Y)?$")
_BLOCK_ROWS = 512  # rows per block when copying large matrices
_VERSIONED = re.compile(r"^(?:rna_)?(ENS[A-Z]*G\d{11}\.\d+(?:_PAR_Y)?)$")


def normalize_id(raw: str) -> str | None:
    """The internal ID of an Ensembl-style name (versioned, unversioned, ``rna_``), else None."""
    match = _ENSEMBL.match(str(raw).strip())
    if match is None:
        return None
    return match.group(1) + (match.group(2) or "")


def _data_file(name: str) -> Path:
    return Path(str(resources.files("rnagan.datasets") / "data" / name))


@functools.lru_cache(maxsize=1)
def _bundled_symbols() -> pd.DataFrame:
    return pd.read_csv(_data_file(SYMBOLS_FILE), dtype=str)


@functools.lru_cache(maxsize=4)
@functools.lru_cache(maxsize=1)
def known_symbols() -> frozenset[str]:
    """Upper-case HGNC symbols of the bundled table (to tell gene labels from sample labels)."""
    return frozenset(_bundled_symbols()["symbol"].str.upper())


def looks_like_genes(labels: Iterable[object], *, limit: int = 2000) -> float:
    """Fraction of (the first ``limit``) labels that are Ensembl IDs or known symbols."""
    sample = [str(x).strip() for x, _ in zip(labels, range(limit), strict=False)]
    if not sample:
        return 0.0
    symbols = known_symbols()
    return sum(normalize_id(x) is not None or x.upper() in symbols for x in sample) / len(sample)


@functools.lru_cache(maxsize=4)
def gtf_gene_names(gtf: str | Path) -> pd.DataFrame:
    """``gene_id`` (internal) and ``symbol`` of every gene in a GTF (read once per path)."""
    import gtfparse  # slow to import (polars); only needed when a GTF is given

    logging.getLogger("gtfparse").setLevel(logging.WARNING)  # it logs every parsed attribute at INFO

    path = Path(gtf)
    if not path.is_file():
        raise InputFileError(f"{path}: GTF file does not exist")
    try:
        table = gtfparse.read_gtf(path, features={"gene"}, usecols=["gene_id", "gene_name"])
    except Exception as err:  # gtfparse/polars raise many types for malformed files
        raise InputFileError(f"{path}: not a readable GTF ({err})") from None
    ids = [normalize_id(g) for g in table["gene_id"]]
    frame = pd.DataFrame({"gene_id": ids, "symbol": table["gene_name"].astype(str)})
    return frame.dropna(subset=["gene_id"]).reset_index(drop=True)


def _symbol_index(gtf: str | Path | None) -> tuple[dict[str, str], set[str]]:
    """Upper-case symbol → internal ID, and the symbols that name more than one gene (ambiguous)."""
    tables = [_bundled_symbols().rename(columns={"ensembl_id": "gene_id"})]
    if gtf is not None:
        tables.insert(0, gtf_gene_names(gtf))  # the user's annotation wins over the bundled one
    mapping: dict[str, str] = {}
    ambiguous: set[str] = set()
    for table in tables:
        seen: dict[str, set[str]] = defaultdict(set)
        for gene, symbol in zip(table["gene_id"], table["symbol"], strict=True):
            if "_PAR_Y" not in gene:  # a symbol means the chrX copy, as in GENCODE
                seen[symbol.upper()].add(gene)
        for symbol, genes in seen.items():
            if symbol in mapping or symbol in ambiguous:
                continue
            if len(genes) == 1:
                mapping[symbol] = next(iter(genes))
            else:
                ambiguous.add(symbol)
    return mapping, ambiguous


def resolve_ids(columns: Sequence[object], *, gtf: str | Path | None = None) -> tuple[list[str | None], list[str]]:
    """Each column's internal ID (None if not understood) and the ambiguous symbols met."""
    labels = [str(c).strip() for c in columns]
    resolved: list[str | None] = [normalize_id(c) for c in labels]
    unresolved = [i for i, r in enumerate(resolved) if r is None]
    ambiguous_met: list[str] = []
    if unresolved:
        mapping, ambiguous = _symbol_index(gtf)
        for i in unresolved:
            symbol = labels[i].upper()
            resolved[i] = mapping.get(symbol)
            if symbol in ambiguous:
                ambiguous_met.append(labels[i])
    return resolved, ambiguous_met


@dataclass
class CoverageReport:
    """How an input table's columns landed in the gene space (written to ``coverage.json``)."""

    source: str
    n_space: int
    n_present: int
    n_input_columns: int
    missing: list[str]
    n_unrecognised: int = 0  # neither an Ensembl ID nor a known symbol
    n_outside_space: int = 0  # recognised genes that are not in the space (e.g. non-coding)
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # space ID → input columns
    duplicates_rule: str = "sum"
    ambiguous_symbols: list[str] = field(default_factory=list)
    id_styles: dict[str, int] = field(default_factory=dict)

    @property
    def n_missing(self) -> int:
        return len(self.missing)

    @property
    def coverage(self) -> float:
        return self.n_present / self.n_space if self.n_space else 0.0

    def summary(self) -> str:
        return (
            f"{self.n_present:,} of {self.n_space:,} genes of the gene space present "
            f"({100 * self.coverage:.1f}%), {self.n_missing:,} missing"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "n_space": self.n_space,
            "n_present": self.n_present,
            "n_missing": self.n_missing,
            "coverage": self.coverage,
            "n_input_columns": self.n_input_columns,
            "n_unrecognised": self.n_unrecognised,
            "n_outside_space": self.n_outside_space,
            "id_styles": self.id_styles,
            "duplicates_rule": self.duplicates_rule,
            "duplicates": self.duplicates,
            "ambiguous_symbols": self.ambiguous_symbols,
            "missing": self.missing,
        }


def _style(raw: str) -> str:
    raw = str(raw).strip()
    if raw.startswith("rna_"):
        return "rna_prefixed"
    return "versioned" if _VERSIONED.match(raw) else "unversioned"


@dataclass(frozen=True)
class GeneSpace:
    """An ordered list of genes: the model's input and output dimensions."""

    ids: tuple[str, ...]  # internal IDs (unversioned Ensembl, ``_PAR_Y`` kept), in order
    versioned: tuple[str, ...]  # as published (GENCODE v26 for the default space)
    symbols: tuple[str | None, ...]

    def __post_init__(self) -> None:
        duplicated = pd.Index(self.ids)[pd.Index(self.ids).duplicated()].tolist()
        if duplicated:
            raise ValueError(f"a gene space lists each gene once; duplicated: {duplicated[:5]}")

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    @functools.lru_cache(maxsize=1)
    def default(cls) -> GeneSpace:
        """The paper's 19,198 GTEx v8 protein-coding genes, in GTEx (genomic) order."""
        genes = pd.read_csv(_data_file(GENE_SPACE_FILE), dtype=str)["Gene"].tolist()
        return cls.from_ids(genes)

    @classmethod
    def from_ids(cls, genes: Iterable[str]) -> GeneSpace:
        """A custom space (tests, demo) from Ensembl IDs in any style; order is kept."""
        raw = [str(g).strip() for g in genes]
        ids = [normalize_id(g) for g in raw]
        bad = [g for g, i in zip(raw, ids, strict=True) if i is None]
        if bad:
            raise ValueError(f"gene space entries must be Ensembl IDs; not understood: {bad[:5]}")
        versioned = [g.removeprefix("rna_") for g in raw]
        table = _bundled_symbols()
        symbol_of = dict(zip(table["ensembl_id"], table["symbol"], strict=True))
        symbols = [symbol_of.get(i.removesuffix("_PAR_Y")) for i in ids]  # type: ignore[union-attr]
        return cls(ids=tuple(ids), versioned=tuple(versioned), symbols=tuple(symbols))  # type: ignore[arg-type]

    def align(
        self,
        frame: pd.DataFrame,
        *,
        duplicates: Literal["sum", "error"] = "sum",
        min_coverage: float = 0.5,
        gtf: str | Path | None = None,
        source: str = "expression table",
    ) -> tuple[pd.DataFrame, CoverageReport]:
        """Reorder ``frame`` (samples × genes, any ID style) to this space.

        Returns a float32 frame whose columns are exactly :attr:`ids` (NaN for genes absent from the
        input) and a :class:`CoverageReport`. Several columns naming one gene are summed
        (``duplicates="sum"``) or refused (``"error"``). Raises :class:`GeneCoverageError` when no
        column is recognised or fewer than ``min_coverage`` of the space is present.
        """
        columns = [str(c) for c in frame.columns]
        resolved, ambiguous = resolve_ids(columns, gtf=gtf)
        groups, n_outside, styles = self._match(columns, resolved)
        n_unrecognised = resolved.count(None)
        if n_unrecognised == len(columns):
            raise GeneCoverageError(
                f"{source}: no recognisable gene IDs among {len(columns):,} columns "
                f"(first: {', '.join(columns[:3])}); expected Ensembl IDs (ENSG…), rna_ENSG… or HGNC symbols"
            )
        dup = {self.ids[j]: [columns[i] for i in cols] for j, cols in groups.items() if len(cols) > 1}
        if dup and duplicates == "error":
            first = next(iter(dup.items()))
            raise InputFileError(
                f"{source}: {len(dup):,} genes appear in several columns (e.g. {first[0]}: {', '.join(first[1])}); "
                "merge them or use duplicates='sum'"
            )
        report = CoverageReport(
            source=source,
            n_space=len(self),
            n_present=len(groups),
            n_input_columns=len(columns),
            missing=[g for j, g in enumerate(self.ids) if j not in groups],
            n_unrecognised=n_unrecognised,
            n_outside_space=n_outside,
            duplicates=dup,
            duplicates_rule=duplicates,
            ambiguous_symbols=sorted(ambiguous),
            id_styles=dict(styles),
        )
        if report.n_present == 0:
            raise GeneCoverageError(
                f"{source}: none of the {len(self):,} genes of the gene space is present "
                f"({len(columns) - n_unrecognised:,} recognised genes are all outside it)"
            )
        if report.coverage < min_coverage:
            raise GeneCoverageError(
                f"{source}: only {report.summary()}, under the minimum coverage of {100 * min_coverage:.0f}%; "
                "check the gene IDs, or lower it (--min-coverage / expression.min_coverage) "
                "to fill the missing genes with the training mean"
            )
        if dup:
            log.warning("%s: %d genes appear in several columns; summed", source, len(dup))
        return self._fill(frame, groups), report

    def _match(
        self, columns: list[str], resolved: list[str | None]
    ) -> tuple[dict[int, list[int]], int, dict[str, int]]:
        """The input columns of each gene of the space (by its position), the count of recognised genes
        outside the space, and how many recognised columns were written in each ID style."""
        position = {gene: j for j, gene in enumerate(self.ids)}
        groups: dict[int, list[int]] = defaultdict(list)
        n_outside = 0
        styles: dict[str, int] = defaultdict(int)
        for i, gene in enumerate(resolved):
            if gene is None:
                continue
            styles["symbol" if normalize_id(columns[i]) is None else _style(columns[i])] += 1
            if gene in position:
                groups[position[gene]].append(i)
            else:
                n_outside += 1
        return groups, n_outside, styles

    def _fill(self, frame: pd.DataFrame, groups: dict[int, list[int]]) -> pd.DataFrame:
        """``frame`` laid out on this space: each gene's single column copied, several summed, absent ones NaN."""
        aligned = np.full((len(frame), len(self)), np.nan, dtype=np.float32)
        single = {j: cols[0] for j, cols in groups.items() if len(cols) == 1}
        if single:
            targets = np.fromiter(single.keys(), dtype=np.int64)
            sources = np.fromiter(single.values(), dtype=np.int64)
            _gather_columns(frame, sources, out=aligned, targets=targets)
        for j, cols in groups.items():
            if len(cols) > 1:
                aligned[:, j] = frame.iloc[:, cols].to_numpy(dtype=np.float64).sum(axis=1)
        return pd.DataFrame(aligned, index=frame.index, columns=pd.Index(self.ids), copy=False)


def _gather_columns(frame: pd.DataFrame, sources: np.ndarray, *, out: np.ndarray, targets: np.ndarray) -> None:
    """``out[:, targets] = frame[:, sources]`` in row blocks, so no full-size temporary is made."""
    if frame.dtypes.nunique() > 1:
        for t, s in zip(targets, sources, strict=True):
            out[:, t] = frame.iloc[:, s].to_numpy(dtype=np.float32)
        return
    values = frame.to_numpy(copy=False)  # a view for single-dtype frames
    for start in range(0, len(values), _BLOCK_ROWS):
        block = slice(start, start + _BLOCK_ROWS)
        out[block, targets] = values[block][:, sources]
