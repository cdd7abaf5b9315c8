"""Realism figures that do not depend on how many tiles were drawn: a two-sample test and diversity.

FID falls as n grows (it is biased), so two FIDs are comparable only at equal n. A classifier
two-sample test (C2ST, Lopez-Paz & Oquab 2017) asks a simpler question whose answer does not drift
with n: can a linear model on frozen features tell real tiles from generated ones? Its
cross-validated balanced accuracy is 0.5 when it cannot, and 1.0 when every tile gives itself away.

Diversity catches the failure FID averages over: a generator that draws one picture per class. For
each class, the mean pairwise feature distance between generated tiles is divided by the same
distance between real tiles of that class; 1.0 means as varied as real tissue, near 0 a single look.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def two_sample_test(real: np.ndarray, generated: np.ndarray, *, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Cross-validated balanced accuracy of a logistic regression telling ``real`` from ``generated`` rows.

    Strong regularisation (C = 0.01 on standardised features) keeps the test from memorising 2,048
    dimensions with a few hundred rows; the folds are stratified so both sets weigh the same.
    """
    x = np.vstack([real, generated]).astype(np.float32)  # the features' own precision: half float64's memory
    y = np.r_[np.zeros(len(real)), np.ones(len(generated))]
    folds = min(folds, len(real), len(generated))
    if folds < 2:
        raise ValueError(f"a two-sample test needs at least 2 rows per set, got {len(real)} and {len(generated)}")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = cross_val_score(model, x, y, cv=split, scoring="balanced_accuracy")
    return {
        "balanced_accuracy": float(scores.mean()),
        "sd": float(scores.std()),
        "folds": folds,
        "n_real": len(real),
        "n_generated": len(generated),
    }


def mean_pairwise_distance(features: np.ndarray, block: int = 1024) -> float:
    """Mean Euclidean distance over all pairs of distinct rows, ``block`` rows at a time (memory n × block)."""
    feats = np.asarray(features, dtype=np.float64)
    n = len(feats)
    if n < 2:
        return float("nan")
    squared = (feats**2).sum(1)
    total = 0.0
    for start in range(0, n, block):
        rows = slice(start, start + block)
        gram = squared[rows, None] + squared[None, :] - 2 * feats[rows] @ feats.T
        total += np.sqrt(np.maximum(gram, 0.0)).sum()
    return float(total / (n * (n - 1)))


def diversity(
    generated: np.ndarray, generated_labels: Sequence[str], real: np.ndarray, real_labels: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per class: mean pairwise distance of generated tiles, of real tiles, and their ratio."""
    gen_labels, real_labels = np.asarray(generated_labels), np.asarray(real_labels)
    out = {}
    for label in sorted(set(gen_labels) & set(real_labels)):
        gen = mean_pairwise_distance(generated[gen_labels == label])
        ref = mean_pairwise_distance(real[real_labels == label])
        out[str(label)] = {"generated": gen, "real": ref, "ratio": gen / ref if ref > 0 else float("nan")}
    return out
