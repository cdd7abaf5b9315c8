"""Expression and sample-metadata readers for the formats people have.

Every reader returns samples × genes as float32 (raw gene IDs as columns, sample IDs as index), and
refuses NaN, Inf and negative values with a one-line :class:`InputFileError` naming the file:

- GCT v1.2 (``.gct``, ``.gct.gz``; GTEx layout: ``Name``, ``Description``, one column per sample),
  streamed with pyarrow into one preallocated float32 array (peak memory ≈ the matrix);
- CSV/TSV (``.csv``, ``.tsv``, ``.txt``, optionally ``.gz``) with samples as rows or as columns,
  detected from which axis holds gene IDs, or stated with ``orientation``;
- Parquet and AnnData ``.h5ad`` (observations are samples).

Metadata (tissue, donor) comes from a separate table (:func:`read_metadata`; GTEx's sample
attributes file with ``SAMPID``/``SMTSD`` is understood) or from columns of the same file. A column
is metadata (or a gene annotation) only if its name is in :data:`METADATA_COLUMNS` or the caller
names it (``metadata_columns``, the config's ``expression.metadata_columns``); every other column
holds values, and a non-numeric cell in one is refused by sample and gene. The columns read as
metadata are named in a log line, so nothing is left out without a word.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, TextIO

import numpy as np
import pandas as pd

from rnagan.errors import InputFileError
from rnagan.expression import gtex
from rnagan.expression.genes import looks_like_genes

log = logging.getLogger(__name__)

Orientation = Literal["auto", "samples-rows", "samples-columns"]
InputScale = Literal["linear", "log2", "ln", "log10"]
LOG_BASES = {"log2": np.float32(2.0), "ln": np.float32(np.e), "log10": np.float32(10.0)}

# Column names (lower case) recognised in metadata tables, in order of preference.
SAMPLE_COLUMNS = ("sample_id", "sampid", "sample", "wsi_file_name", "barcode")
TISSUE_COLUMNS = ("tissue", "smtsd", "smts", "tissue_type", "label", "labels", "class")
DONOR_COLUMNS = ("donor_id", "donor", "subjid", "subject_id", "subject", "patient_id", "patient", "case_id")
# Gene annotations beside the values: GCT's Name/Description, symbol columns, featureCounts' Chr…Length.
GENE_ANNOTATION_COLUMNS = (
    "gene_id", "gene", "geneid", "name", "description", "gene_name", "symbol", "gene_symbol", "hgnc_symbol",
    "gene_type", "biotype", "gene_biotype", "chr", "chromosome", "start", "end", "strand", "length",
)  # fmt: skip
# Every column name (lower case) read as metadata rather than values, in one place.
METADATA_COLUMNS = frozenset((*SAMPLE_COLUMNS, *TISSUE_COLUMNS, *DONOR_COLUMNS, "split", *GENE_ANNOTATION_COLUMNS))

# pyarrow parses a GCT in blocks of this many lines: the reader keeps several blocks in flight,
# so small blocks bound the memory above the matrix itself (64 MiB blocks measured 2.7× the matrix).
_GCT_BLOCK_ROWS = 32


def _block_bytes(row_bytes: int) -> int:
    return min(max(_GCT_BLOCK_ROWS * row_bytes, 1 << 20), 64 << 20)


def _kind(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    for suffix, kind in (
        (".gct", "gct"),
        (".csv", "csv"),
        (".tsv", "tsv"),
        (".txt", "tsv"),
        (".parquet", "parquet"),
        (".pq", "parquet"),
        (".h5ad", "h5ad"),
    ):
        if name.endswith(suffix):
            return kind
    raise InputFileError(f"{path}: unknown expression format (expected .gct, .csv, .tsv, .txt, .parquet or .h5ad)")


def _open_text(path: Path) -> TextIO:
    return gzip.open(path, "rt") if path.name.lower().endswith(".gz") else open(path)


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: the file is empty")


def read_expression(
    path: str | Path,
    *,
    orientation: Orientation = "auto",
    input_scale: InputScale = "linear",
    metadata_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Samples × genes, float32, raw gene IDs as columns and sample IDs (index ``sample_id``) as rows."""
    return read_expression_and_metadata(
        path, orientation=orientation, input_scale=input_scale, metadata_columns=metadata_columns
    )[0]


def read_expression_and_metadata(
    path: str | Path,
    *,
    orientation: Orientation = "auto",
    input_scale: InputScale = "linear",
    metadata_columns: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Like :func:`read_expression`, plus the file's own sample metadata when it carries any.

    Metadata comes from the metadata columns of a samples-as-rows table (:data:`METADATA_COLUMNS`
    and ``metadata_columns``) or from an AnnData ``obs``, and is returned normalised as
    :func:`normalize_metadata` does; None when the file holds none.
    ``input_scale`` names a log scale the file's values are on (:func:`to_linear`).
    """
    path = Path(path)
    _check_exists(path)
    kind = _kind(path)
    metadata: pd.DataFrame | None = None
    if kind == "gct":
        frame = _read_gct(path)
    elif kind == "h5ad":
        frame, obs = _read_h5ad(path)
        metadata = _optional_metadata(obs, str(path))
    else:
        raw = _read_table(path, kind)
        frame, extra = _orient(raw, orientation, metadata_columns=metadata_columns, source=str(path))
        metadata = _optional_metadata(extra, str(path))
    frame = to_linear(frame, input_scale, source=str(path))
    check_values(frame, source=str(path))
    return frame, metadata


# A linear profile's largest value: TPM and CPM sum to 10^6 per sample, so over ≤ 20,000 genes some gene
# has ≥ 50; log2(x + 1) of any count below 2^30 (10^9 reads, more than any library) stays under 30.
LOG_SCALE_MAX = 30.0


def to_linear(frame: pd.DataFrame, scale: InputScale, *, source: str) -> pd.DataFrame:
    """Undo ``log_b(x + 1)`` (``scale`` log2, ln or log10); linear values are returned as they are,
    with a warning when they look log-scale (:func:`looks_log_scale`), since they would be logged twice.

    Log values above :data:`LOG_SCALE_MAX` (beyond 10^9 on every scale) are refused: such a file is
    linear, and undoing a log it never had would overflow. Log values below 0 (a microarray's faint
    probes) would give x < 0, below any real count: they become 0.
    """
    if scale == "linear":
        warn_if_log_scale(frame, source=source)
        return frame
    logged = frame.to_numpy(dtype=np.float32)
    high = np.max(logged) if logged.size else np.float32(0)
    if np.isfinite(high) and high > LOG_SCALE_MAX:  # NaN and Inf: refused by check_values, the cell named
        raise InputFileError(
            f"{source}: values up to {high:g} cannot be {scale}(x + 1) of expression (those stay under "
            f"{LOG_SCALE_MAX:g}); if the file is linear (counts, TPM), pass --input-scale linear "
            "(expression.input_scale)"
        )
    values = np.power(LOG_BASES[scale], logged) - np.float32(1)
    below = int(np.count_nonzero(values < 0))
    if below:
        log.info("%s: %d values below 0 on the %s scale set to 0", source, below, scale)
        np.maximum(values, 0, out=values)
    return pd.DataFrame(values, index=frame.index, columns=frame.columns)


_SCALE_ROWS = 256  # samples looked at for the integer check: bounds its cost on large cohorts


def looks_log_scale(values: np.ndarray) -> bool:
    """Whether values taken as linear are more likely ``log_b(x + 1)``: none negative, all ≤
    :data:`LOG_SCALE_MAX`, and most non-zero values not integers (counts are integers, and
    log2(c + 1) is an integer only where c + 1 is a power of 2).

    Linear TPM or CPM reach far above the bound, and small integer counts fail the integer check.
    """
    if values.size == 0:
        return False
    low, high = np.min(values), np.max(values)  # NaN fails both tests: refused later, the cell named
    if not (low >= 0 and high <= LOG_SCALE_MAX):
        return False
    rows = values[:: max(1, len(values) // _SCALE_ROWS)]
    nonzero = rows[rows != 0]
    return bool(nonzero.size and np.count_nonzero(nonzero != np.round(nonzero)) > nonzero.size / 2)


def warn_if_log_scale(frame: pd.DataFrame, *, source: str) -> None:
    """Warn when values given as linear look log-scale (:func:`looks_log_scale`), naming the option."""
    values = frame.to_numpy(copy=False)
    if values.dtype.kind in "fiu" and looks_log_scale(values):
        log.warning(
            "%s: values look log-scale (all between 0 and %.3g, mostly non-integers) but are read as linear, "
            "so they will be logged again; if they are log2(x + 1), pass --input-scale log2 (or ln, log10; "
            "expression.input_scale)",
            source,
            float(np.max(values)),
        )


def check_values(frame: pd.DataFrame, *, source: str) -> None:
    """Refuse empty tables, duplicated samples, NaN, Inf and negative values (one line, naming the file)."""
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InputFileError(f"{source}: no expression values ({frame.shape[0]} samples × {frame.shape[1]} genes)")
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()].unique()
        raise InputFileError(f"{source}: sample IDs appear more than once ({len(dup)}, e.g. {dup[0]})")
    values = frame.to_numpy(copy=False)
    if values.dtype.kind not in "fiu":
        raise InputFileError(f"{source}: expression values must be numbers")
    low, high = np.min(values), np.max(values)  # NaN propagates; no full-size temporary
    problem = None
    if np.isnan(low) or np.isnan(high):
        problem, bad = "NaN (missing) values", np.isnan
    elif np.isinf(low) or np.isinf(high):
        problem, bad = "infinite values", np.isinf
    elif low < 0:
        problem, bad = "negative values (log-scale data? pass --input-scale log2, ln or log10)", _negative
    if problem is None:
        return
    count, row, col = _locate(values, bad)
    raise InputFileError(
        f"{source}: {count:,} {problem}, first at sample {frame.index[row]}, gene {frame.columns[col]}"
    )


def _negative(x: np.ndarray) -> np.ndarray:
    return x < 0


def _locate(values: np.ndarray, bad: Callable[[np.ndarray], np.ndarray]) -> tuple[int, int, int]:
    count, first = 0, None
    for start in range(0, len(values), 1024):
        hits = np.argwhere(bad(values[start : start + 1024]))
        if len(hits) and first is None:
            first = (start + int(hits[0, 0]), int(hits[0, 1]))
        count += len(hits)
    assert first is not None  # only called after min/max found a bad value
    return count, first[0], first[1]


# GCT ---------------------------------------------------------------------------------------------


def _read_gct(path: Path) -> pd.DataFrame:
    """Stream a GCT v1.2 file into one (samples, genes) float32 array, filled as blocks arrive."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with _open_text(path) as handle:
        version = handle.readline().strip()
        dims = handle.readline().split()
        header = handle.readline().rstrip("\n\r").split("\t")
        row_bytes = len(handle.readline())
    if version != "#1.2" or len(dims) < 2 or not all(d.isdigit() for d in dims[:2]):
        raise InputFileError(f"{path}: not a GCT v1.2 file (first lines must be '#1.2' and 'rows<TAB>columns')")
    n_genes, n_samples = int(dims[0]), int(dims[1])
    if len(header) != n_samples + 2 or header[0].lower() != "name":
        raise InputFileError(f"{path}: GCT header has {len(header) - 2} sample columns but line 2 declares {n_samples}")
    samples = header[2:]
    types = {name: pa.float32() for name in samples}
    types.update({header[0]: pa.string(), header[1]: pa.string()})
    values = np.empty((n_samples, n_genes), dtype=np.float32)
    genes: list[str] = []
    try:  # open_csv parses the first block already
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(skip_rows=3, column_names=header, block_size=_block_bytes(row_bytes)),
            parse_options=pacsv.ParseOptions(delimiter="\t"),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False),
        )
        for batch in reader:
            start, stop = len(genes), len(genes) + batch.num_rows
            if stop > n_genes:
                raise InputFileError(f"{path}: more gene rows than the {n_genes:,} declared on line 2")
            genes.extend(batch.column(0).to_pylist())
            # one C++ copy of all sample columns (column-major, so .T is (samples, rows) C-ordered)
            block = batch.select(range(2, n_samples + 2)).to_tensor(null_to_nan=True, row_major=False)
            values[:, start:stop] = np.asarray(block).T
    except pa.ArrowInvalid as err:
        raise _gct_error(path, header, str(err)) from None
    if len(genes) != n_genes:
        raise InputFileError(f"{path}: {len(genes):,} gene rows but line 2 declares {n_genes:,} (truncated file?)")
    index = pd.Index(samples, name="sample_id")
    return pd.DataFrame(values, index=index, columns=pd.Index(genes), copy=False)


_ARROW_NOT_A_NUMBER = re.compile(r"column #(\d+): CSV conversion error to float: invalid value '(.*)'")


def _gct_error(path: Path, header: list[str], message: str) -> InputFileError:
    """pyarrow's parse error as one line; a non-numeric cell named by sample and gene, as for CSV."""
    match = _ARROW_NOT_A_NUMBER.search(message)
    if match is None:
        return InputFileError(f"{path}: malformed GCT ({message.splitlines()[0]})")
    column, cell = int(match[1]), match[2]
    table = pd.read_csv(path, sep="\t", skiprows=2, usecols=[0, column], dtype=str, keep_default_na=False)
    genes = table.iloc[:, 0][(table.iloc[:, 1] == cell).to_numpy()]
    if genes.empty:  # the cell as pyarrow quotes it differs from the text (e.g. escapes)
        return InputFileError(f"{path}: malformed GCT ({message.splitlines()[0]})")
    return InputFileError(
        f"{path}: non-numeric value {cell!r} at sample {header[column]}, gene {genes.iloc[0]}: "
        "expression values must be numbers"
    )


# CSV / TSV / Parquet -----------------------------------------------------------------------------


def _read_table(path: Path, kind: str) -> pd.DataFrame:
    try:
        if kind == "parquet":
            raw = pd.read_parquet(path)
            if not isinstance(raw.index, pd.RangeIndex):
                raw = raw.reset_index()
        else:
            raw = pd.read_csv(path, sep=_separator(path, kind), engine="pyarrow")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, ValueError, OSError) as err:
        raise InputFileError(f"{path}: cannot be read as {kind} ({str(err).splitlines()[0]})") from None
    if raw.shape[0] == 0 or raw.shape[1] < 2:
        raise InputFileError(f"{path}: no expression values ({raw.shape[0]} rows × {raw.shape[1]} columns)")
    return raw


def _separator(path: Path, kind: str) -> str:
    if kind == "csv":
        return ","
    with _open_text(path) as handle:
        first = handle.readline()
    return "\t" if first.count("\t") >= first.count(",") else ","


def _orient(
    raw: pd.DataFrame, orientation: Orientation, *, metadata_columns: Sequence[str], source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a raw table into (samples × genes values, samples × metadata columns)."""
    lower = {str(c).lower(): c for c in raw.columns}
    label_col = next((lower[c] for c in SAMPLE_COLUMNS if c in lower), raw.columns[0])
    labels = raw[label_col].astype(str)
    rest = raw.drop(columns=[label_col])
    if orientation == "auto":
        by_columns, by_rows = looks_like_genes(rest.columns), looks_like_genes(labels)
        if by_columns == 0 and by_rows == 0:
            raise InputFileError(
                f"{source}: no recognisable gene IDs in the header or the first column "
                f"(e.g. {', '.join(map(str, rest.columns[:3]))}); expected Ensembl IDs, rna_ENSG… or HGNC symbols"
            )
        orientation = "samples-rows" if by_columns >= by_rows else "samples-columns"
    named = METADATA_COLUMNS | {c.lower() for c in metadata_columns}
    meta = [c for c in rest.columns if str(c).lower() in named]
    if meta:
        role = "genes" if orientation == "samples-rows" else "samples"
        log.info("%s: columns %s read as metadata, not %s", source, ", ".join(map(str, meta)), role)
    values = _numeric(rest.drop(columns=meta), labels, orientation, source=source)
    if orientation == "samples-rows":
        index = pd.Index(labels, name="sample_id")
        frame = pd.DataFrame(values.to_numpy(dtype=np.float32), index=index, columns=[str(g) for g in values.columns])
        return frame, rest[meta].set_axis(index)
    index = pd.Index([str(c) for c in values.columns], name="sample_id")
    frame = pd.DataFrame(values.to_numpy(dtype=np.float32).T, index=index, columns=labels.tolist())
    return frame, pd.DataFrame(index=frame.index)


def _numeric(values: pd.DataFrame, labels: pd.Series, orientation: str, *, source: str) -> pd.DataFrame:
    """``values`` as numbers, or a one-line refusal naming the first non-numeric cell by sample and gene.

    Every column here holds values (metadata was taken out by name), so a text cell is damage, not an
    annotation, whatever the table's shape. Empty cells stay NaN, refused by :func:`check_values`.
    """
    for column in values.columns:
        if pd.api.types.is_numeric_dtype(values[column]):
            continue
        parsed = pd.to_numeric(values[column], errors="coerce")
        bad = np.flatnonzero((parsed.isna() & values[column].notna()).to_numpy())
        if len(bad):
            row = int(bad[0])
            by_column = orientation == "samples-columns"
            sample, gene = (column, labels.iloc[row]) if by_column else (labels.iloc[row], column)
            raise InputFileError(
                f"{source}: non-numeric value {values[column].iloc[row]!r} at sample {sample}, gene {gene}: "
                f"expression values must be numbers (if column {column} is metadata, not a "
                f"{'sample' if by_column else 'gene'}, list it in expression.metadata_columns)"
            )
        values[column] = parsed
    return values


# AnnData -----------------------------------------------------------------------------------------


def _read_h5ad(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    import anndata

    try:
        adata = anndata.read_h5ad(path)
    except Exception as err:  # h5py/anndata raise many types for damaged files
        raise InputFileError(f"{path}: cannot be read as AnnData ({str(err).splitlines()[0]})") from None
    x = adata.X
    values = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)
    index = pd.Index(adata.obs_names.astype(str), name="sample_id")
    frame = pd.DataFrame(values, index=index, columns=adata.var_names.astype(str).tolist(), copy=False)
    return frame, adata.obs.set_axis(index)


# Metadata ----------------------------------------------------------------------------------------


def read_metadata(path: str | Path) -> pd.DataFrame:
    """Sample metadata indexed by ``sample_id`` with ``donor_id`` and ``tissue`` (see :func:`normalize_metadata`)."""
    path = Path(path)
    _check_exists(path)
    kind = _kind(path)
    if kind == "h5ad":
        return normalize_metadata(_read_h5ad(path)[1], source=str(path))
    if kind == "gct":
        raise InputFileError(f"{path}: a GCT file holds no sample metadata; give a CSV/TSV table")
    return normalize_metadata(_read_table(path, kind), source=str(path))


def _find(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lower = {str(c).lower(): c for c in frame.columns}
    return next((lower[n] for n in names if n in lower), None)


def _optional_metadata(extra: pd.DataFrame, source: str) -> pd.DataFrame | None:
    if _find(extra, TISSUE_COLUMNS) is None and _find(extra, DONOR_COLUMNS) is None:
        return None
    return normalize_metadata(extra, source=source)


def normalize_metadata(frame: pd.DataFrame, *, source: str = "metadata", tissue: str | None = None) -> pd.DataFrame:
    """``sample_id`` index, ``donor_id`` and ``tissue`` columns, from the common column names.

    Sample: the index unless it is a plain range, else ``sample_id``/``SAMPID``/``wsi_file_name``…,
    else the first column.
    Tissue: ``tissue``/``SMTSD`` (GTEx detailed tissue)/``SMTS``/``label``…, else ``tissue`` (the
    argument) or ``"unknown"``. Donor: ``donor_id``/``donor``/``SUBJID``…, else the GTEx donor
    (first two parts of the sample ID), else the sample itself (each sample its own donor).
    A ``split`` column (train/val/test), when present, is kept.
    """
    table = frame.copy()
    if isinstance(table.index, pd.RangeIndex):
        sample_col = _find(table, SAMPLE_COLUMNS) or table.columns[0]
        table = table.set_index(sample_col)
    table.index = pd.Index(table.index.astype(str), name="sample_id")
    if table.index.has_duplicates:
        dup = table.index[table.index.duplicated()][0]
        raise InputFileError(f"{source}: sample {dup} appears more than once")
    tissue_col, donor_col = _find(table, TISSUE_COLUMNS), _find(table, DONOR_COLUMNS)
    if tissue_col is not None:
        tissues = table[tissue_col]
        if tissues.isna().any():
            raise InputFileError(f"{source}: {int(tissues.isna().sum())} samples have no {tissue_col} value")
        tissues = tissues.astype(str)
    else:
        tissues = pd.Series(tissue or "unknown", index=table.index)
    if donor_col is not None:
        donors = table[donor_col].astype(str)
    elif all(gtex.is_gtex_id(s) for s in table.index):
        donors = pd.Series([gtex.donor_id(s) for s in table.index], index=table.index)
    else:
        log.warning("%s: no donor column and not GTEx IDs; each sample is treated as its own donor", source)
        donors = pd.Series(table.index, index=table.index)
    out = pd.DataFrame({"donor_id": donors.to_numpy(), "tissue": tissues.to_numpy()}, index=table.index)
    if "split" in table.columns:  # fixed splits (e.g. by spatial section), honoured by prepare_expression
        out["split"] = table["split"].astype(str).to_numpy()
    return out
