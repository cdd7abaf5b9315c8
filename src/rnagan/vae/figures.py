"""The β-VAE's figures: training curves per epoch and the UMAP of real, reconstructed and generated profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rnagan.fileio import atomic_path
from rnagan.vae.latent import LoadedVAE, align_to_model, decode, mu_columns, sample_profiles


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    """Loss, reconstruction and KL per epoch, train vs validation, plus the learning rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.5))
    for ax, key in zip(axes[:3], ("loss", "recon", "kl"), strict=True):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], label="train")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], label="validation (z = μ)")
        ax.set(
            title={"loss": "β-VAE loss", "recon": "reconstruction MSE (z scale)", "kl": "KL per sample"}[key],
            xlabel="epoch",
        )
        ax.legend()
    axes[3].plot(epochs, [h["lr"] for h in history])
    axes[3].set(title="learning rate (end of epoch)", xlabel="epoch")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def umap_figure(
    loaded: LoadedVAE,
    latents: pd.DataFrame,
    matrix: pd.DataFrame,
    samples: pd.DataFrame,
    path: Path,
    *,
    split: str = "test",
    seed: int = 0,
) -> Path:
    """UMAP of real, reconstructed and generated profiles coloured by tissue (the paper's Figure 2).

    Generated profiles: as many prior + centroid draws per tissue as it has ``split`` samples.
    Profiles are reduced to 50 principal components before UMAP, which is the slow part otherwise.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import umap
    from sklearn.decomposition import PCA

    table = samples.set_index("sample_id") if "sample_id" in samples.columns else samples
    ids = table.index[table["split"] == split].intersection(matrix.index)
    real = align_to_model(loaded, matrix.loc[ids])
    recon = decode(loaded, latents.loc[ids, mu_columns(latents)].to_numpy(), ids)
    generated, gen_tissue = [], []
    for tissue, count in table.loc[ids, "tissue"].value_counts().sort_index().items():
        generated.append(sample_profiles(loaded, latents, samples, str(tissue), int(count), seed=seed))
        gen_tissue += [tissue] * int(count)
    groups = {
        "real": (real, table.loc[ids, "tissue"].to_numpy()),
        "reconstructed": (recon, table.loc[ids, "tissue"].to_numpy()),
        "generated (prior + centroid)": (pd.concat(generated), np.array(gen_tissue)),
    }
    stacked = np.vstack([g[0].to_numpy(np.float32) for g in groups.values()])
    pcs = PCA(n_components=min(50, *stacked.shape), random_state=seed).fit_transform(stacked)
    emb = umap.UMAP(n_neighbors=min(15, len(pcs) - 1), random_state=seed).fit_transform(pcs)

    tissues = sorted({str(t) for g in groups.values() for t in g[1]})
    colours = {t: plt.get_cmap("tab10")(i % 10) for i, t in enumerate(tissues)}
    fig, ax = plt.subplots(figsize=(7, 6))
    start = 0
    for (name, (frame, labels)), marker in zip(groups.items(), ("o", "x", "^"), strict=True):
        part = emb[start : start + len(frame)]
        start += len(frame)
        ax.scatter(part[:, 0], part[:, 1], c=[colours[str(t)] for t in labels], marker=marker, s=14, alpha=0.7)
        ax.scatter([], [], color="grey", marker=marker, label=name)  # legend: marker = kind
    for t in tissues:
        ax.scatter([], [], color=colours[t], marker="s", label=t)  # legend: colour = tissue
    ax.legend(fontsize=8, markerscale=1.2)
    ax.set(title=f"β-VAE profiles ({split} split): real, reconstructed, generated", xlabel="UMAP 1", ylabel="UMAP 2")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path
