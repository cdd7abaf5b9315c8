"""Summaries across folds and the paired test between arms.

Folds pair naturally (the same test tiles for every arm), so arms are compared by the per-fold
difference. The headline test is the paired t-test (``scipy.stats.ttest_rel``, two-sided): with 5
folds the Wilcoxon signed-rank test cannot go below p = 0.0625 (2 / 2⁵), so it could never reject at
0.05; it is reported beside the t-test as the distribution-free check. Both treat folds as independent,
which they are not (training sets overlap), so p-values are optimistic (Nadeau & Bengio 2003).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import ttest_rel, wilcoxon


def summarise(folds: Sequence[dict[str, Any]], metrics: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """Mean and sample sd (ddof 1) of each metric across folds; None where a fold had none."""
    out: dict[str, dict[str, float | None]] = {}
    for metric in metrics:
        values = [f[metric] for f in folds]
        if any(v is None for v in values):
            out[metric] = {"mean": None, "sd": None}
            continue
        array = np.asarray(values, dtype=float)
        out[metric] = {"mean": float(array.mean()), "sd": float(array.std(ddof=1)) if len(array) > 1 else 0.0}
    return out


def paired_test(a: Sequence[float], b: Sequence[float]) -> dict[str, float | None]:
    """Mean of a − b, the paired t-test's p and Wilcoxon's p (None when every difference is 0)."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(diff) < 2 or not np.any(diff):
        return {"mean_difference": float(diff.mean()) if len(diff) else None, "t_test_p": None, "wilcoxon_p": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant differences: t is infinite, p is 0
        t_p = float(ttest_rel(a, b).pvalue)
        w_p = float(wilcoxon(diff).pvalue)
    return {"mean_difference": float(diff.mean()), "t_test_p": t_p, "wilcoxon_p": w_p}


def compare(arms: dict[str, Any], baseline: str, metrics: Sequence[str]) -> dict[str, Any]:
    """Every other arm against ``baseline``, per label fraction and metric, fold by fold."""
    out: dict[str, Any] = {}
    for name, fractions in arms.items():
        if name == baseline:
            continue
        out[name] = {}
        for fraction, entry in fractions.items():
            base = arms[baseline][fraction]["folds"]
            out[name][fraction] = {
                m: paired_test([f[m] for f in entry["folds"]], [f[m] for f in base])
                for m in metrics
                if all(f[m] is not None for f in entry["folds"] + base)
            }
    return out


def spread(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean and sample sd (ddof 1) of per-seed values, and the values; None where a seed had none."""
    if not values or any(v is None for v in values):
        return {"mean": None, "sd": None, "values": list(values)}
    array = np.asarray(values, dtype=float)
    sd = float(array.std(ddof=1)) if len(array) > 1 else None
    return {"mean": float(array.mean()), "sd": sd, "values": array.tolist()}


def across_seeds(replicates: Sequence[dict[str, Any]], metrics: Sequence[str]) -> dict[str, Any]:
    """Each arm's fold mean per seed, summarised over seeds: {arm: {fraction: {metric: spread}}}."""
    first = replicates[0]
    return {
        arm: {
            fraction: {m: spread([r["arms"][arm][fraction][m]["mean"] for r in replicates]) for m in metrics}
            for fraction in by_fraction
        }
        for arm, by_fraction in first["arms"].items()
    }


def seed_differences(replicates: Sequence[dict[str, Any]], baseline: str, metric: str) -> dict[str, Any]:
    """Every other arm minus ``baseline``, fold means, seed by seed, per label fraction: {arm: {fraction: spread}}."""
    arms = replicates[0]["arms"]
    if baseline not in arms:
        return {}

    def mean(r: dict[str, Any], arm: str, fraction: str) -> float:
        return r["arms"][arm][fraction][metric]["mean"]

    return {
        arm: {f: spread([mean(r, arm, f) - mean(r, baseline, f) for r in replicates]) for f in by_fraction}
        for arm, by_fraction in arms.items()
        if arm != baseline
    }
