"""Normalisation (counts → CPM/TPM), log transforms and the z-score scaler fitted on training samples.

Order of operations: normalise over all input genes (library sizes need every gene), align to the
gene space, log-transform, z-score with statistics of the training split only. Genes missing from
a cohort (NaN after alignment) get z = 0, i.e. the training mean, never a raw 0.

The scaler's state is two files with fixed names (:data:`SCALER_FILES`), so a model checkpoint can
carry a copy and read it back with :meth:`ExpressionScaler.load`::

    scaler = ExpressionScaler(log_transform="log1p").fit(aligned.loc[train])
    z = scaler.transform(aligned)            # float32, columns = scaler.genes_
    scaler.save("expression/scaler")         # scaler.json + scaler.safetensors
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from rnagan.errors import GeneCoverageError, InputFileError
from rnagan.expression.genes import gtf_gene_names, resolve_ids
from rnagan.fileio import atomic_path, resolve_dir, write_json_atomic

log = logging.getLogger(__name__)

LogRule = Literal["log1p", "log2p1", "reference", "none"]
Normalization = Literal["none", "cpm", "tpm"]
LOG_RULES: tuple[str, ...] = ("log1p", "log2p1", "reference", "none")
SCALER_JSON = "scaler.json"
SCALER_TENSORS = "scaler.safetensors"
SCALER_FILES = (SCALER_JSON, SCALER_TENSORS)
FORMAT = "rnagan.ExpressionScaler"
_BLOCK_ROWS = 1024  # rows converted to float64 at a time: bounds the temporaries


# Functional core ---------------------------------------------------------------------------------


def log_transform(values: np.ndarray, rule: str) -> np.ndarray:
    """Apply a log rule (to a float array, in place) and return it.

    ``log1p``: ln(1+x); ``log2p1``: log2(1+x); ``reference``: the published code's rule, ln(x) for
    x > 0 and 0 otherwise (non-monotone on (0, 1), kept to reproduce the paper); ``none``: identity.
    """
    if rule == "log1p":
        np.log1p(values, out=values)
    elif rule == "log2p1":
        np.log1p(values, out=values)
        values /= np.log(2.0)
    elif rule == "reference":
        positive = values > 0
        np.log(values, out=values, where=positive)
        values[~positive & ~np.isnan(values)] = 0.0
    elif rule != "none":
        raise ValueError(f"unknown log rule {rule!r}: choose one of {', '.join(LOG_RULES)}")
    return values


def inverse_log(values: np.ndarray, rule: str) -> np.ndarray:
    """Undo :func:`log_transform` in place. ``reference`` maps back with exp, so its zeros become 1."""
    if rule == "log1p":
        np.expm1(values, out=values)
    elif rule == "log2p1":
        np.exp2(values, out=values)
        values -= 1.0
    elif rule == "reference":
        np.exp(values, out=values)
    elif rule != "none":
        raise ValueError(f"unknown log rule {rule!r}: choose one of {', '.join(LOG_RULES)}")
    return values


def normalize(frame: pd.DataFrame, method: str, *, gtf: str | Path | None = None) -> pd.DataFrame:
    """Raw counts → CPM or TPM (rnanorm) over every gene of ``frame``; ``none`` returns it unchanged.

    TPM divides by gene length (union of exons) from ``gtf``; columns whose gene the GTF lacks are
    dropped, with a warning, because TPM cannot be computed for them.
    """
    if method == "none":
        return frame
    from rnanorm import CPM, TPM  # scikit-learn transformers; imported only when used

    if method == "cpm":
        normalizer: Any = CPM()
    elif method == "tpm":
        if gtf is None:
            raise InputFileError("TPM needs gene lengths: give a GTF (--gtf) or use --normalization cpm")
        lengths = _gene_lengths(frame.columns, gtf)
        if lengths.isna().any():
            log.warning("TPM: %d of %d genes are not in %s; dropped", int(lengths.isna().sum()), len(lengths), gtf)
            frame = frame.loc[:, lengths.notna().to_numpy()]
            lengths = lengths.dropna()
        normalizer = TPM(gene_lengths=lengths)
    else:
        raise ValueError(f"unknown normalization {method!r}: choose none, cpm or tpm")
    out = normalizer.set_output(transform="pandas").fit_transform(frame)
    return out.astype(np.float32)


def _gene_lengths(columns: pd.Index, gtf: str | Path) -> pd.Series:
    """Union-exon length of each column's gene (NaN where the GTF lacks it), indexed by column."""
    from rnanorm.annotation import GTF

    gtf_gene_names(gtf)  # validates the file with a clear message before rnanorm parses it
    gtf_lengths = GTF(gtf).length
    by_id = pd.Series(gtf_lengths.to_numpy(), index=resolve_ids(gtf_lengths.index)[0])
    by_id = by_id[by_id.index.notna() & ~by_id.index.duplicated()]
    ids = resolve_ids(columns, gtf=gtf)[0]
    return pd.Series([by_id.get(i, np.nan) if i else np.nan for i in ids], index=columns, dtype=float)


# The estimator -----------------------------------------------------------------------------------


class ExpressionScaler:
    """Log transform then z-score per gene, fitted on training samples (scikit-learn conventions).

    Parameters are keyword-only and only stored; learned attributes end in ``_``:
    ``genes_`` (column IDs, in order), ``mean_`` and ``scale_`` (float64, on the log scale;
    population std, 1 for near-constant genes; ``mean_`` is NaN for genes never observed, whose z is
    then always 0), ``n_samples_seen_``. ``normalization`` records how counts were normalised before
    the scaler, so later cohorts get the same treatment.
    """

    def __init__(self, *, log_transform: LogRule = "log1p", normalization: Normalization = "none") -> None:
        self.log_transform = log_transform
        self.normalization = normalization

    # fitting ---------------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame) -> ExpressionScaler:
        """Learn per-gene mean and std of the log values of ``X`` (samples × genes); NaN ignored."""
        if self.log_transform not in LOG_RULES:
            raise ValueError(f"unknown log rule {self.log_transform!r}: choose one of {', '.join(LOG_RULES)}")
        if len(X) == 0:
            raise InputFileError("cannot fit the scaler on 0 samples")
        values = X.to_numpy(copy=False)
        n_genes = values.shape[1]
        total, count = np.zeros(n_genes), np.zeros(n_genes)
        for block in self._log_blocks(values):
            seen = ~np.isnan(block)
            total += np.where(seen, block, 0.0).sum(axis=0)
            count += seen.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / count, np.nan)
        squares = np.zeros(n_genes)
        for block in self._log_blocks(values):
            deviation = block - mean
            squares += np.where(np.isnan(deviation), 0.0, deviation**2).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.sqrt(squares / count)
        # Differences below float32 resolution are rounding noise, not biology (cf. scikit-learn's
        # _handle_zeros_in_scale): such genes, and genes never observed, keep scale 1.
        tiny = 10 * np.finfo(np.float32).eps * np.maximum(1.0, np.abs(np.nan_to_num(mean)))
        scale[~(scale > tiny)] = 1.0
        self.genes_ = [str(c) for c in X.columns]
        self.mean_, self.scale_ = mean, scale
        self.n_samples_seen_ = len(X)
        self.n_features_in_ = n_genes
        return self

    def _log_blocks(self, values: np.ndarray) -> Iterator[np.ndarray]:
        for start in range(0, len(values), _BLOCK_ROWS):
            yield log_transform(values[start : start + _BLOCK_ROWS].astype(np.float64), self.log_transform)

    # applying --------------------------------------------------------------------------------------
    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """z-scores (float32) of ``X``, whose columns must be ``genes_`` in any order; NaN → 0."""
        values = self._columns_of(X).to_numpy(copy=False)
        out = np.empty(values.shape, dtype=np.float32)
        for i, block in enumerate(self._log_blocks(values)):
            z = (block - self.mean_) / self.scale_
            z[np.isnan(z)] = 0.0
            out[i * _BLOCK_ROWS : i * _BLOCK_ROWS + len(block)] = z
        return pd.DataFrame(out, index=X.index, columns=pd.Index(self.genes_), copy=False)

    def inverse_transform(self, Z: pd.DataFrame) -> pd.DataFrame:
        """Back from z-scores to the (normalised) input scale; NaN for genes never observed."""
        values = self._columns_of(Z).to_numpy(dtype=np.float64) * self.scale_ + self.mean_
        return pd.DataFrame(inverse_log(values, self.log_transform), index=Z.index, columns=pd.Index(self.genes_))

    def _columns_of(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` with columns in ``genes_`` order, matched by gene ID (never by position)."""
        if not hasattr(self, "genes_"):
            raise RuntimeError("this ExpressionScaler is not fitted yet: call fit() or ExpressionScaler.load()")
        columns = [str(c) for c in X.columns]
        if columns == self.genes_:
            return X
        lacking = [g for g in self.genes_ if g not in set(columns)]
        unknown = [c for c in columns if c not in set(self.genes_)]
        if lacking or unknown:
            raise GeneCoverageError(
                f"X has {len(columns):,} genes but the scaler expects its {len(self.genes_):,}: "
                f"{len(lacking):,} lacking (e.g. {lacking[:3]}), {len(unknown):,} unknown (e.g. {unknown[:3]}); "
                "align the table with GeneSpace.align first"
            )
        return X.set_axis(columns, axis=1)[self.genes_]

    # persistence -----------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write :data:`SCALER_JSON` and :data:`SCALER_TENSORS` into ``folder`` (each atomically)."""
        if not hasattr(self, "genes_"):
            raise RuntimeError("cannot save an unfitted ExpressionScaler")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / SCALER_TENSORS) as tmp:
            save_file({"mean": self.mean_.astype(np.float64), "scale": self.scale_.astype(np.float64)}, str(tmp))
        write_json_atomic(
            folder / SCALER_JSON,
            {
                "format": FORMAT,
                "format_version": 1,
                "log_transform": self.log_transform,
                "normalization": self.normalization,
                "n_samples_seen": self.n_samples_seen_,
                "n_genes": len(self.genes_),
                "genes": self.genes_,
            },
        )
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> ExpressionScaler:
        """Read a scaler saved by :meth:`save` (e.g. from a workspace or a VAE checkpoint folder)."""
        folder = resolve_dir(folder)
        for name in SCALER_FILES:
            if not (folder / name).is_file():
                raise InputFileError(f"{folder}: not an expression scaler ({name} is missing)")
        try:
            spec = json.loads((folder / SCALER_JSON).read_text())
            tensors = load_file(str(folder / SCALER_TENSORS))
        except (json.JSONDecodeError, SafetensorError, OSError) as err:
            raise InputFileError(f"{folder}: damaged scaler files ({err})") from None
        genes = spec.get("genes") if spec.get("format") == FORMAT else None
        if not isinstance(genes, list) or {"mean", "scale"} - tensors.keys():
            raise InputFileError(f"{folder / SCALER_JSON}: not an rnagan expression scaler")
        if not tensors["mean"].shape == tensors["scale"].shape == (len(genes),):
            raise InputFileError(f"{folder}: {SCALER_TENSORS} does not match the {len(genes):,} genes of {SCALER_JSON}")
        scaler = cls(log_transform=spec["log_transform"], normalization=spec["normalization"])
        scaler.genes_ = [str(g) for g in genes]
        scaler.mean_, scaler.scale_ = tensors["mean"], tensors["scale"]
        scaler.n_samples_seen_ = int(spec["n_samples_seen"])
        scaler.n_features_in_ = len(genes)
        return scaler

    def __repr__(self) -> str:
        return f"ExpressionScaler(log_transform={self.log_transform!r}, normalization={self.normalization!r})"
