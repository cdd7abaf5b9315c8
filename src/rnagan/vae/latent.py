"""Using a trained β-VAE: encode cohorts, tissue centroids, synthetic profiles, shift, interpolation.

Everything works on z-scored profiles (the model's space; samples × genes frames) and on latent
tables (index ``sample_id``; ``mu_0..mu_{d-1}``, ``logvar_0..``). :func:`to_expression` undoes the
z-score with the scaler stored in the checkpoint::

    vae = load_vae("runs/gtex/vae/checkpoint")
    latents = encode_cohort(vae, matrix)                      # what the GAN reads
    lung = sample_profiles(vae, latents, samples, "lung", 100)  # prior draws + lung centroid
    moved = shift(vae, latents, samples, source="brain", target="lung")

Shift follows the paper's text, not the reference code (which added the centroid difference to the
pre-μ features and with the opposite sign): μ_sample + (c_target − c_source), then decoded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from rnagan.checkpoint import load_checkpoint
from rnagan.config import Config
from rnagan.errors import CheckpointError, InputFileError
from rnagan.runtime import evaluating
from rnagan.vae.model import BetaVAE

log = logging.getLogger(__name__)

GENES_FILE = "genes.txt"
SCALER_FILES = ("scaler.json", "scaler.safetensors")


@dataclass
class LoadedVAE:
    """A β-VAE checkpoint in memory: the model (eval mode), its genes in order, config and scaler."""

    model: BetaVAE
    genes: list[str]
    config: Config
    scaler: Any | None  # rnagan.expression.transform.ExpressionScaler, when the checkpoint has one
    meta: dict[str, Any]

    @property
    def latent_dim(self) -> int:
        return self.config.vae.latent_dim

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def load_vae(path: str | Path, *, device: str = "cpu") -> LoadedVAE:
    """Rebuild model, gene list and scaler from a checkpoint folder alone."""
    ckpt = load_checkpoint(path, map_location=device)
    if GENES_FILE not in ckpt.files:
        raise CheckpointError(f"{ckpt.path} is not a β-VAE checkpoint: {GENES_FILE} is missing")
    genes = ckpt.files[GENES_FILE].decode().split()
    model = BetaVAE(len(genes), ckpt.config.vae)
    try:
        model.load_state_dict(ckpt.subset("model"))
    except RuntimeError as err:
        raise CheckpointError(f"{ckpt.path}: weights do not match its config.yaml ({err})") from None
    scaler = None
    if all(name in ckpt.files for name in SCALER_FILES):
        from rnagan.expression.transform import ExpressionScaler  # late: only loading a scaler needs it

        scaler = ExpressionScaler.load(ckpt.path)
    return LoadedVAE(model.to(device).eval(), genes, ckpt.config, scaler, ckpt.meta)


def align_to_model(loaded: LoadedVAE, z_frame: pd.DataFrame, *, source: str = "profiles") -> pd.DataFrame:
    """Reorder a z-scored frame's columns to the model's genes by gene ID (never by position).

    IDs are matched as the expression pipeline does (versioned, unversioned, ``rna_`` and symbols
    accepted); genes the frame lacks get z = 0, the training mean. Too low a coverage raises.
    """
    if list(map(str, z_frame.columns)) == loaded.genes:
        return z_frame.astype(np.float32)
    from rnagan.expression.genes import GeneSpace

    aligned, report = GeneSpace.from_ids(loaded.genes).align(
        z_frame, min_coverage=loaded.config.expression.min_coverage, source=source
    )
    if report.n_missing:
        log.warning("%s: %s; missing genes set to z = 0 (training mean)", source, report.summary())
    aligned.columns = pd.Index(loaded.genes)
    return aligned.fillna(0.0)


def mu_columns(latents: pd.DataFrame) -> list[str]:
    cols = [c for c in latents.columns if str(c).startswith("mu_")]
    if not cols:
        raise InputFileError("latent table has no mu_* columns: write it with `rnagan vae encode`")
    return cols


def _run(fn: Any, x: np.ndarray, device: torch.device, batch_size: int = 512) -> list[np.ndarray]:
    """Apply ``fn`` batch-wise without gradients; returns each output as a stacked array."""
    outs: list[list[np.ndarray]] = []
    for start in range(0, len(x), batch_size):
        result = fn(torch.from_numpy(x[start : start + batch_size]).to(device))
        result = result if isinstance(result, tuple) else (result,)
        outs.append([r.float().cpu().numpy() for r in result])
    return [np.concatenate(parts) for parts in zip(*outs, strict=True)]


def encode_cohort(loaded: LoadedVAE, z_frame: pd.DataFrame) -> pd.DataFrame:
    """μ and log σ² of every sample: index as ``z_frame``, columns ``mu_0..``, ``logvar_0..`` (float32)."""
    x = align_to_model(loaded, z_frame).to_numpy(dtype=np.float32)
    with evaluating(loaded.model):
        mu, logvar = _run(loaded.model.encode, x, loaded.device)
    d = loaded.latent_dim
    columns = [f"mu_{i}" for i in range(d)] + [f"logvar_{i}" for i in range(d)]
    return pd.DataFrame(np.hstack([mu, logvar]), index=z_frame.index, columns=columns)


def decode(loaded: LoadedVAE, z: np.ndarray, index: pd.Index | list[str]) -> pd.DataFrame:
    """Latent vectors (n, latent_dim) → z-scored profiles (n, genes) in the model's gene order."""
    with evaluating(loaded.model):
        (x,) = _run(loaded.model.decode, np.asarray(z, dtype=np.float32), loaded.device)
    return pd.DataFrame(x, index=pd.Index(index, name="sample_id"), columns=loaded.genes)


def reconstruct(loaded: LoadedVAE, z_frame: pd.DataFrame) -> pd.DataFrame:
    """decode(μ(x)): the deterministic reconstruction the test metrics use."""
    latents = encode_cohort(loaded, z_frame)
    return decode(loaded, latents[mu_columns(latents)].to_numpy(), z_frame.index)


def to_expression(loaded: LoadedVAE, z_frame: pd.DataFrame) -> pd.DataFrame:
    """Undo the z-score (and log) with the checkpoint's scaler."""
    if loaded.scaler is None:
        raise CheckpointError("this checkpoint holds no expression scaler; profiles stay z-scored (use --scale z)")
    return loaded.scaler.inverse_transform(z_frame)


# --- latent-space operations ------------------------------------------------------------------


def tissue_centroids(latents: pd.DataFrame, samples: pd.DataFrame, split: str | None = "train") -> pd.DataFrame:
    """Mean μ per tissue over ``split`` (None: all samples); index tissue, columns mu_*."""
    table = samples.set_index("sample_id") if "sample_id" in samples.columns else samples
    if split is not None:
        table = table[table["split"] == split]
    ids = table.index.intersection(latents.index)
    if not len(ids):
        raise InputFileError(f"no {split or 'any'}-split sample of the samples table has a latent vector")
    mu = latents.loc[ids, mu_columns(latents)]
    return mu.groupby(table.loc[ids, "tissue"].to_numpy()).mean().rename_axis("tissue")


def _centroid(centroids: pd.DataFrame, tissue: str) -> np.ndarray:
    if tissue not in centroids.index:
        raise InputFileError(f"unknown tissue {tissue!r}: choose one of {', '.join(map(str, centroids.index))}")
    return centroids.loc[tissue].to_numpy(dtype=np.float32)


def sample_profiles(
    loaded: LoadedVAE,
    latents: pd.DataFrame,
    samples: pd.DataFrame,
    tissue: str,
    n: int,
    *,
    mode: Literal["prior", "around"] = "prior",
    seed: int = 0,
    split: str | None = "train",
) -> pd.DataFrame:
    """Synthetic z-scored profiles of ``tissue``, index ``synthetic_<tissue>_<i>``.

    ``prior`` (the paper): z = c_tissue + ε, ε ~ N(0, I). ``around`` (gentler): z = c_tissue + s ⊙ ε with
    s the per-dimension spread of the tissue's μ over ``split``, so draws stay inside the cluster.
    """
    centroids = tissue_centroids(latents, samples, split)
    c = _centroid(centroids, tissue)
    eps = np.random.default_rng(seed).standard_normal((n, len(c))).astype(np.float32)
    if mode == "around":
        table = samples.set_index("sample_id") if "sample_id" in samples.columns else samples
        rows = table[(table["tissue"] == tissue) & ((table["split"] == split) if split else True)].index
        spread = latents.loc[rows.intersection(latents.index), mu_columns(latents)].std(ddof=0)
        eps *= spread.to_numpy(dtype=np.float32)
    elif mode != "prior":
        raise ValueError(f"mode must be 'prior' or 'around', got {mode!r}")
    return decode(loaded, c + eps, [f"synthetic_{tissue}_{i}" for i in range(n)])


def shifted_latents(latents: pd.DataFrame, centroids: pd.DataFrame, *, source: str, target: str) -> pd.DataFrame:
    """μ + (c_target − c_source) for every row of ``latents`` (mu_* columns only)."""
    delta = _centroid(centroids, target) - _centroid(centroids, source)
    mu = latents[mu_columns(latents)]
    return mu + delta


def shift(
    loaded: LoadedVAE,
    latents: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    source: str,
    target: str,
    sample_ids: list[str] | None = None,
    split: str | None = "train",
) -> pd.DataFrame:
    """Decoded profiles of samples moved from tissue ``source`` to ``target`` in μ space.

    ``sample_ids`` defaults to every test-split sample of ``source`` (all its samples if there is no
    test split). Centroids come from ``split``.
    """
    centroids = tissue_centroids(latents, samples, split)
    table = samples.set_index("sample_id") if "sample_id" in samples.columns else samples
    if sample_ids is None:
        chosen = table[table["tissue"] == source]
        if (chosen["split"] == "test").any():
            chosen = chosen[chosen["split"] == "test"]
        sample_ids = chosen.index.intersection(latents.index).tolist()
    unknown = [s for s in sample_ids if s not in latents.index]
    if unknown:
        raise InputFileError(f"{len(unknown)} sample(s) have no latent vector, e.g. {', '.join(unknown[:3])}")
    moved = shifted_latents(latents.loc[sample_ids], centroids, source=source, target=target)
    return decode(loaded, moved.to_numpy(), [f"{s}:{source}->{target}" for s in sample_ids])


def interpolate(loaded: LoadedVAE, latents: pd.DataFrame, a: str, b: str, *, steps: int = 5) -> pd.DataFrame:
    """Profiles decoded along the straight line from μ_a to μ_b, ``steps`` ≥ 2 points, both ends included."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    for sid in (a, b):
        if sid not in latents.index:
            raise InputFileError(f"sample {sid!r} has no latent vector")
    cols = mu_columns(latents)
    mu_a, mu_b = latents.loc[a, cols].to_numpy(np.float32), latents.loc[b, cols].to_numpy(np.float32)
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return decode(loaded, (1 - t) * mu_a + t * mu_b, [f"{a}->{b}@{v:.3f}" for v in t[:, 0]])


# --- evaluation ---------------------------------------------------------------------------------


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def _log_expression(scaler: Any, z_frame: pd.DataFrame) -> pd.DataFrame:
    """z-scores back to the log-expression scale: mean_ + scale_ · z (the log is not undone)."""
    genes = list(scaler.genes_)
    z = z_frame[genes].to_numpy(dtype=np.float64)
    return pd.DataFrame(z * np.asarray(scaler.scale_) + np.asarray(scaler.mean_), index=z_frame.index, columns=genes)


def _mape(x_log: np.ndarray, recon_log: np.ndarray, min_abs: float) -> tuple[float, float]:
    keep = np.abs(x_log) >= min_abs
    if not keep.any():
        return float("nan"), 0.0
    return float(100 * np.mean(np.abs(recon_log[keep] - x_log[keep]) / np.abs(x_log[keep]))), float(keep.mean())


def reconstruction_metrics(
    x: pd.DataFrame,
    recon: pd.DataFrame,
    tissues: pd.Series,
    *,
    scaler: Any | None,
    min_abs: float,
    train_mean: pd.Series,
) -> dict[str, Any]:
    """RMSE on the z scale and MAPE on the log scale, overall and per tissue (docs/vae.md defines both).

    ``rmse_train_mean`` is the RMSE of always predicting the training mean profile: the bar to beat.
    MAPE needs the scaler (to leave the z scale) and skips targets with |log expression| < ``min_abs``.
    """
    xv, rv = x.to_numpy(np.float64), recon[x.columns].to_numpy(np.float64)
    baseline = np.broadcast_to(train_mean[x.columns].to_numpy(np.float64), xv.shape)
    log_x = log_r = None
    if scaler is not None:
        log_x, log_r = _log_expression(scaler, x).to_numpy(), _log_expression(scaler, recon).to_numpy()

    def block(rows: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": int(rows.sum()),
            "rmse": _rmse(xv[rows], rv[rows]),
            "rmse_train_mean": _rmse(xv[rows], baseline[rows]),
            "mape": None,
        }
        if log_x is not None:
            out["mape"], out["mape_fraction_used"] = _mape(log_x[rows], log_r[rows], min_abs)
        return out

    labels = tissues.loc[x.index].to_numpy()
    result = block(np.ones(len(x), dtype=bool))
    result["per_tissue"] = {str(t): block(labels == t) for t in sorted(set(labels))}
    result["definitions"] = "docs/vae.md#metrics"
    return result


def silhouette(latents: pd.DataFrame, tissues: pd.Series) -> float | None:
    """Silhouette of tissues in μ space (Euclidean); None when it is undefined (one tissue, too few samples)."""
    from sklearn.metrics import silhouette_score

    labels = tissues.loc[latents.index].to_numpy()
    n_labels = len(set(labels))
    if n_labels < 2 or n_labels >= len(labels):
        return None
    return float(silhouette_score(latents[mu_columns(latents)].to_numpy(), labels))
