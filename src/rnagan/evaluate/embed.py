"""UMAP of Inception features of real and generated tiles, coloured by tissue (the paper's Figs 3-4).

One embedding is fitted on all sets together, so real and generated points share coordinates;
each set gets its own panel, with the real tiles drawn in grey behind the generated ones.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import scipy.linalg
from matplotlib.figure import Figure  # no pyplot: no global state, no display backend


def pca_embedding(features: np.ndarray) -> np.ndarray:
    """(N, d) → (N, 2): the first two principal components (zero-padded below 2 points), from the top two
    eigenvectors of the d × d covariance: memory does not grow with N as a full SVD's does."""
    centred = np.asarray(features, dtype=np.float64) - np.mean(features, axis=0)
    d = centred.shape[1]
    k = min(2, len(centred), d)
    _, vectors = scipy.linalg.eigh(centred.T @ centred, subset_by_index=[d - k, d - 1])
    coords = centred @ vectors[:, ::-1]  # largest component first
    return np.pad(coords, ((0, 0), (0, 2 - k)))


def embedding(features: np.ndarray, *, method: str = "umap", neighbors: int = 15, seed: int = 0) -> np.ndarray:
    """(N, d) → (N, 2) by UMAP, or PCA when asked or when too few points for UMAP's spectral start."""
    if method == "pca" or len(features) < 10:
        return pca_embedding(features)
    import umap  # slow import and a numba compile on first use: only when an embedding is made

    reducer = umap.UMAP(n_neighbors=min(neighbors, len(features) - 1), random_state=seed, n_jobs=1)
    return reducer.fit_transform(features)


def drawn_sets(
    sets: Mapping[str, tuple[np.ndarray, Sequence[str]]], max_per_set: int | None, seed: int
) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Each set's rows (and tissues), a seeded draw of at most ``max_per_set`` in their order; all when None."""
    out = {}
    for name, (rows, tissues) in sets.items():
        keep = np.arange(len(rows))
        if max_per_set is not None and len(rows) > max_per_set:
            keep = np.sort(np.random.default_rng(seed).choice(len(rows), max_per_set, replace=False))
        out[name] = (rows[keep], [tissues[i] for i in keep])
    return out


def feature_map_figure(
    sets: Mapping[str, tuple[np.ndarray, Sequence[str]]],
    *,
    reference: str = "real",
    method: str = "umap",
    neighbors: int = 15,
    seed: int = 0,
    max_per_set: int | None = None,
) -> bytes:
    """PNG bytes: one panel per set; ``sets`` maps a name to (features (n, d), tissue per row), each drawn down
    to ``max_per_set`` rows (seeded) first: a scatter of more points reads no better, and the embedding's time
    and memory grow with them."""
    sets = drawn_sets(sets, max_per_set, seed)
    names = list(sets)
    stacked = np.concatenate([sets[name][0] for name in names])
    coords = embedding(stacked, method=method, neighbors=neighbors, seed=seed)
    bounds = np.cumsum([0] + [len(sets[name][0]) for name in names])
    tissues = sorted({t for name in names for t in sets[name][1]})
    colours = {t: matplotlib.colormaps["tab10"](i % 10) for i, t in enumerate(tissues)}
    fig = Figure(figsize=(3.2 * len(names), 3.4))
    axes = fig.subplots(1, len(names), squeeze=False, sharex=True, sharey=True)  # one coordinate frame
    reference_xy = (
        coords[bounds[names.index(reference)] : bounds[names.index(reference) + 1]] if reference in names else None
    )
    for ax, name, start, stop in zip(axes[0], names, bounds[:-1], bounds[1:], strict=True):
        xy, labels = coords[start:stop], np.asarray(sets[name][1])
        if reference_xy is not None and name != reference:
            ax.scatter(reference_xy[:, 0], reference_xy[:, 1], s=4, c="0.85", label=reference)
        for tissue in tissues:
            chosen = labels == tissue
            if chosen.any():
                ax.scatter(xy[chosen, 0], xy[chosen, 1], s=6, color=colours[tissue], label=tissue)
        ax.set_title(f"{name} (n={stop - start}, {method})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(fontsize=7, markerscale=2, loc="best")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
